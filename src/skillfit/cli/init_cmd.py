"""`skillfit init [DIR]`: a starter project for your own task.

Writes `skillfit.yaml` (a run config for the `file` task), an example data file (or points the
config at yours with `--data`), a starting skill and a README with the commands to evaluate and
train. The data is read back before anything is written, so a bad file is refused at once.

The splits come from the data's column `split` when it has one whose every value names a split
(`--split COLUMN` names another, `--split none` draws them by seed even then); else they are
drawn by seed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from skillfit.cli.root import app

CONFIG_NAME = "skillfit.yaml"
SPLIT_COLUMN = "split"  # the column read as the splits unless --split says otherwise

EXAMPLE_ROWS = [
    ("Australia", "Canberra"),
    ("Canada", "Ottawa"),
    ("Turkey", "Ankara"),
    ("Switzerland", "Bern"),
    ("New Zealand", "Wellington"),
    ("Morocco", "Rabat"),
    ("Nigeria", "Abuja"),
    ("Vietnam", "Hanoi"),
    ("Pakistan", "Islamabad"),
    ("Kazakhstan", "Astana"),
    ("Myanmar", "Naypyidaw"),
    ("Tanzania", "Dodoma"),
    ("Bolivia", "Sucre"),
    ("South Africa", "Pretoria"),
    ("Sri Lanka", "Sri Jayawardenepura Kotte"),
    ("Ivory Coast", "Yamoussoukro"),
    ("Malta", "Valletta"),
    ("Slovenia", "Ljubljana"),
    ("Mongolia", "Ulaanbaatar"),
    ("Ecuador", "Quito"),
    ("Norway", "Oslo"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Egypt", "Cairo"),
    ("Japan", "Tokyo"),
    ("Portugal", "Lisbon"),
    ("Chile", "Santiago"),
    ("Hungary", "Budapest"),
    ("Ireland", "Dublin"),
    ("Thailand", "Bangkok"),
    ("Ghana", "Accra"),
    ("Finland", "Helsinki"),
    ("Belarus", "Minsk"),
    ("Latvia", "Riga"),
    ("Uruguay", "Montevideo"),
    ("Nepal", "Kathmandu"),
]

EXAMPLE_SKILL = """# Capital cities

## Answer format
Give the capital's usual English name alone on the answer line: `Answer: <city>`.
"""

GENERIC_SKILL = """# My task

## Answer format
End with one line `Answer: <your answer>` holding only the answer, with no extra words.
"""

CONFIG_TEMPLATE = """# skillfit run config for your own task (docs/your-own-task.md).
# Paths in task.options are relative to this file. Change the scorer to fit your answers:
#   exact | numeric (tolerance: 0.01) | choice | regex | contains | json_field
#   {{kind: python, function: grader.py:grade}}
#   {{kind: judge, model: "openai:gpt-5.4-mini", rubric_file: rubric.md, samples: 3}}
task:
  name: file
  options:
    path: {path}
    input: {input}
    target: {target}
{split_line}    initial_skill: skill.md
    scorer: {scorer}
    seed: 0

target:
  model: {model}
  max_tokens: 256

optimizer:
  model: {optimizer}

train:
  epochs: 1
  batch_size: 8
  minibatch_size: 4

run:
  name: {name}
  out_dir: outputs
"""

README_TEMPLATE = """# {name}: a skillfit project

`skillfit.yaml` trains a skill (`skill.md` is where it starts) for the target model on the
rows of `{path}` (column `{input}` is asked, column `{target}` is the reference answer, scored
with `{scorer}`). {splits_from}.

Run these from this folder.

How well does the starting skill do on the validation split?

```bash
skillfit eval --config skillfit.yaml --skill skill.md --split val
```

Train (one epoch; the run resumes if interrupted), then measure the trained skill on the
held-out test split:

```bash
skillfit train --config skillfit.yaml
skillfit eval --config skillfit.yaml --skill outputs/{name}/best_skill.md
```

The trained skill is `outputs/{name}/best_skill.md` (and an Agent Skills folder beside it).
To grade with an LLM judge, set the scorer to `{{kind: judge, model: ..., rubric: ...}}` and
check it against replies you labelled yourself:
`skillfit judge check --config skillfit.yaml --labels labels.jsonl`.
"""


def _yaml_scalar(text: str) -> str:
    """`text` as a YAML value: plain when YAML reads it back as itself, else quoted (a column
    named `null`, `yes` or `a: b` would otherwise be read as something else)."""
    import yaml

    try:
        plain = yaml.safe_load(text) == text
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)


def _split_column(data: Path, choice: str) -> tuple[str | None, str | None]:
    """The column the splits come from (None: drawn by seed), and a note when the data has a
    column `split` left aside because a value of it names no split. Raises TaskDataError for a
    file the task could not read either."""
    if choice == "none":
        return None, None
    if choice != "auto":
        return choice, None  # the task checks the column as it reads it
    from skillfit.tasks.userfile.reader import (
        detect_format,
        read_rows,
        scan_split_column,
        where_in_file,
    )

    fmt = detect_format(data)
    has_values, bad = scan_split_column(read_rows(data, fmt), SPLIT_COLUMN)
    if not has_values:
        return None, None
    if bad is None:
        return SPLIT_COLUMN, None
    value = str(bad.fields[SPLIT_COLUMN]).strip()
    return None, (
        f"the column `{SPLIT_COLUMN}` is not read as the splits "
        f"({where_in_file(data, fmt, bad.line)} says {value!r}, not train, val or test)"
    )


EMBEDDED_SMALL = "local:qwen2.5-coder-0.5b"
EMBEDDED_LARGER = "local:qwen2.5-coder-1.5b"


def default_optimizer(target: str) -> str:
    """The larger embedded model optimizes for the embedded 0.5B when its weights are
    installed: the 0.5B as its own optimizer pastes its prompt's scaffolding into the skill."""
    if target != EMBEDDED_SMALL:
        return target
    from skillfit.models.local.catalog import CATALOG
    from skillfit.models.local.weights import installed

    larger = CATALOG[EMBEDDED_LARGER.removeprefix("local:")]
    return EMBEDDED_LARGER if installed(larger) else target


def _slug(text: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return "-".join(p for p in slug.split("-") if p) or "my-task"


@app.command("init")
def init_command(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")] = Path("."),
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Your data file (.jsonl .json .csv .tsv .parquet)."),
    ] = None,
    input_col: Annotated[
        str, typer.Option("--input", help="The column the target model is asked.")
    ] = "question",
    target_col: Annotated[
        str, typer.Option("--target", help="The column holding the reference answer.")
    ] = "answer",
    scorer: Annotated[
        str,
        typer.Option("--scorer", help="exact, numeric, choice, regex, contains or json_field."),
    ] = "exact",
    model: Annotated[
        str, typer.Option("--model", help="Target model (default: the embedded 0.5B model).")
    ] = "local:qwen2.5-coder-0.5b",
    optimizer: Annotated[
        str | None,
        typer.Option(
            "--optimizer",
            help="Optimizer model (default: the embedded 1.5B model when installed and the "
            "target is the embedded 0.5B, else the target).",
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="The column whose rows say train, val or test; auto: the column `split` "
            "when the data has one; none: draw the splits by seed.",
        ),
    ] = "auto",
    name: Annotated[str | None, typer.Option("--name", help="Run name.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a starter project: a config, an example data file (or yours, with --data), a
    starting skill and a README with the commands to evaluate and train."""
    from skillfit.tasks.base import TaskDataError
    from skillfit.tasks.registry import get_task

    def fail(message: str) -> None:
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2)

    directory = directory.expanduser()
    if directory.exists() and not directory.is_dir():
        fail(f"{directory} is a file; give a folder")
    split = split.strip()
    if not split:
        fail("--split needs a column name, auto or none")
    if data is None and split not in ("auto", "none"):
        fail(f"--split {split} names a column of your data: give the file with --data")
    files: dict[str, str] = {}
    split_col: str | None = None
    note: str | None = None
    if data is None:
        data_rel = "data.csv"
        lines = [f"{input_col},{target_col}"]
        lines += [f"What is the capital of {c}?,{a}" for c, a in EXAMPLE_ROWS]
        files[data_rel] = "\n".join(lines) + "\n"
        files["skill.md"] = EXAMPLE_SKILL
        run_name = name or "capitals"
    else:
        if not data.is_file():
            fail(f"{data}: data file not found")
        # Read by its absolute path: the project folder, which paths in the config are relative
        # to, may not exist yet, and nothing is written before the data is found good.
        data = data.absolute()
        try:
            split_col, note = _split_column(data, split)
        except TaskDataError as exc:
            fail(str(exc))
        target_dir = directory.resolve()
        data_rel = Path(os.path.relpath(data.resolve(), target_dir)).as_posix()
        files["skill.md"] = GENERIC_SKILL
        run_name = name or _slug(data.stem)
    settings = {
        "path": data_rel,
        "input": input_col,
        "target": target_col,
        "split_line": f"    split: {_yaml_scalar(split_col)}\n" if split_col else "",
        "scorer": scorer,
        "model": model,
        "optimizer": optimizer or default_optimizer(model),
        "name": run_name,
    }
    # Every value the user chose is written so that YAML reads it back as given.
    quoted = {k: v if k == "split_line" else _yaml_scalar(v) for k, v in settings.items()}
    files[CONFIG_NAME] = CONFIG_TEMPLATE.format(**quoted)
    clashes = [f for f in files if (directory / f).exists()]
    if clashes and not force:
        fail(f"{', '.join(str(directory / f) for f in clashes)} exist; use --force to overwrite")

    # A column found by its name alone may not be meant as the splits: say how to leave it.
    hint = "; or --split none to draw the splits by seed" if split == "auto" else ""
    # Read the data back through the task before writing anything: a bad file fails here.
    if data is None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / data_rel).write_text(files[data_rel], encoding="utf-8")
    try:
        task = get_task(
            "file",
            path=str(data) if data is not None else data_rel,
            input=input_col,
            target=target_col,
            split=split_col,
            scorer=scorer,
            base_dir=str(directory.resolve()),
        )
    except TaskDataError as exc:
        about_split = split_col is not None and repr(split_col) in str(exc)
        fail(f"{exc}{hint if about_split else ''}")
        return
    splits = task.splits()
    sizes = ", ".join(f"{s} {len(splits[s])}" for s in ("train", "val", "test"))
    if split_col and not splits["test"]:
        # The task can train without test rows, but the README's last step measures on them.
        fail(
            f"{data}: column {split_col!r} names no test rows ({sizes}); mark some rows test{hint}"
        )
    origin = f"from the column `{split_col}`" if split_col else "drawn from the file by seed"
    splits_from = f"The splits {'come' if split_col else 'are'} {origin}: {sizes}"
    files["README.md"] = README_TEMPLATE.format(**settings, splits_from=splits_from)
    if (directory / "README.md").exists() and not force:
        files.pop("README.md")
    directory.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (directory / rel).write_text(text, encoding="utf-8")
    typer.echo(f"wrote {', '.join(sorted(files))} in {directory}")
    typer.echo(f"data: {data_rel} ({origin}: {sizes})")
    if note:
        typer.echo(f"note: {note}")
    typer.echo(f"models: target {settings['model']}, optimizer {settings['optimizer']}")
    if settings["optimizer"] == EMBEDDED_SMALL:
        typer.echo(
            "note: the embedded 0.5B optimizes its own skill; the larger embedded model writes "
            "better edits: pip install 'skillfit[local-1-5b]', then rerun init with --force "
            f"or set optimizer.model: {EMBEDDED_LARGER}"
        )
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    typer.echo(f"next: {where}skillfit train --config {CONFIG_NAME}")
