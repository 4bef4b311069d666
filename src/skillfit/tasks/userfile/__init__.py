"""`file`: a user's own task from a data file, with a scorer chosen in the config.

    task:
      name: file
      options:
        path: data.jsonl          # .jsonl .json .csv .tsv .parquet; relative to the config file
        input: question           # the column the target model is asked
        target: answer            # the reference answer (null: none, for a rubric-only judge)
        id: id                    # optional: ids from a column (else from the line numbers)
        split: split              # optional: train / val / test from a column (else drawn by seed)
        initial_skill: skill.md   # optional: the starting skill (a file, or text)
        scorer: exact             # exact numeric choice regex contains json_field python judge
        name: capitals            # optional: the task's name (default: the file's stem), which
                                  # names the trained skill
        n_train: 20               # optional sizes; seed: 0

Without a split column the splits are drawn by `seed` (test first, so the test set of a seed
does not move when n_train changes), 40 / 20 / 60 by default, scaled down for a smaller file.
With one, the rows keep the split they name (`n_*` then keep the first n of each split).
Either way an input may occur once in the file, so no input is in two splits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from skillfit.tasks.base import SPLIT_NAMES, Item, SplitName, TaskDataError
from skillfit.tasks.common import (
    SingleTurnTask,
    TaskOptionError,
    check_count,
    check_positive,
    check_seed,
    check_temperature,
    resolve_sizes,
    split_items,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.userfile.reader import (
    FieldMap,
    detect_format,
    parse_rows,
    read_data_file,
    splits_by_column,
    to_items,
    where_in_file,
)
from skillfit.tasks.userfile.scorers import Scorer, build_scorer

__all__ = ["FileTask", "make_file_task", "resolve_path"]


def resolve_path(value: str | Path, base_dir: str | Path | None) -> Path:
    """`value` as a path: absolute, or relative to `base_dir` (the config file's folder), or
    to the working directory when there is no config file."""
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


class FileTask(SingleTurnTask):
    """A single-turn task whose items come from a data file and whose scorer the config chose.
    Its judge, when it has one, is built through `bind_models` (the run's cache and token
    accounting)."""

    def __init__(
        self, *, scorer: Scorer, data_sha256: str, data_path: Path | None = None, **kwargs: Any
    ) -> None:
        super().__init__(score=scorer, **kwargs)
        self.scorer = scorer
        self.data_sha256 = data_sha256
        self.data_path = data_path  # named when a resumed run finds the file changed

    def bind_models(self, factory: Any) -> None:
        bind = getattr(self.scorer, "bind_models", None)
        if callable(bind):
            bind(factory)

    def split_manifest(self) -> dict[str, Any]:
        manifest = super().split_manifest()
        manifest["task"] = "file"
        manifest["data_sha256"] = self.data_sha256
        manifest["scorer"] = self.scorer.describe()
        return manifest


def _read_initial_skill(value: str | None, base_dir: str | Path | None) -> str:
    if value is None or not str(value).strip():
        return ""
    if "\n" in value:
        return value
    from skillfit.skill import read_skill  # the skill layer sits below tasks

    path = resolve_path(value, base_dir)
    if not path.exists():
        raise TaskOptionError(f"file: initial_skill {path} not found")
    return read_skill(path).text


def _field(name: str, value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TaskOptionError(f"file: option {name} must name a column, got {value!r}")
    return value.strip()


@register_task(
    "file",
    description="Your own data file (JSONL, CSV, Parquet) with the scorer you choose "
    "(option path=...; see docs/your-own-task.md)",
)
def make_file_task(
    *,
    path: str | None = None,
    input: str = "input",
    target: str | None = "target",
    id: str | None = None,
    split: str | None = None,
    format: str | None = None,
    delimiter: str | None = None,
    scorer: Any = "exact",
    initial_skill: str | None = None,
    instructions: str | None = None,
    name: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_tokens: int = 512,
    temperature: float = 0.0,
    base_dir: str | None = None,
) -> FileTask:
    """A task from the data file at `path` (see the module docstring for the options)."""
    if path is None or not str(path).strip():
        raise TaskOptionError("file: option path (the data file) is required")
    recorded = {
        "path": path,
        "input": input,
        "target": target,
        "id": id,
        "split": split,
        "format": format,
        "delimiter": delimiter,
        "scorer": scorer,
        "initial_skill": initial_skill,
        "instructions": instructions,
        "name": name,
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "seed": seed,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "base_dir": base_dir,
    }
    seed = check_seed("file", seed)
    max_tokens = check_positive("file", "max_tokens", max_tokens)
    temperature = check_temperature("file", temperature)
    base = Path(base_dir) if base_dir else None
    the_scorer = build_scorer(scorer, base_dir=base)
    fields = FieldMap(
        input=_field("input", input, required=True) or "input",
        target=_field("target", target, required=False),
        id=_field("id", id, required=False),
        split=_field("split", split, required=False),
    )
    if fields.target is None and the_scorer.needs_target:
        raise TaskOptionError(
            f"file: the {the_scorer.kind} scorer compares with a target: set option target "
            "to the column holding the reference answers"
        )
    if fields.target is None and not getattr(the_scorer, "has_rubric", True):
        raise TaskOptionError(
            "file: a judge with no reference answers (target: null) needs a rubric or rubric_file"
        )
    data = resolve_path(path, base)
    fmt = detect_format(data, format)
    raw = read_data_file(data)  # read once: the digest is of the very bytes the items came from
    rows = parse_rows(data, raw, fmt, delimiter=delimiter)
    mapped = to_items(data, fmt, rows, fields)
    if fields.target is not None:
        for m in mapped:
            problem = the_scorer.target_problem(m.item.target)
            if problem:
                raise TaskDataError(
                    f"{where_in_file(data, fmt, m.line)}: field {fields.target!r}: {problem} "
                    f"(scorer {the_scorer.kind})"
                )
    sizes_given = [
        check_count("file", f"n_{s}", v)
        for s, v in zip(SPLIT_NAMES, (n_train, n_val, n_test), strict=True)
    ]
    if fields.split is not None:
        splits = splits_by_column(mapped)
        unnamed = [s for s in ("train", "val") if not splits[s]]
        if unnamed:
            # n_train / n_val can only shrink a split: the rows themselves must name it.
            counts = ", ".join(f"{s} {len(splits[s])}" for s in SPLIT_NAMES)
            raise TaskDataError(
                f"{data}: column {fields.split!r} names no {' and no '.join(unnamed)} rows "
                f"({counts}); mark some rows {' and some '.join(unnamed)}"
            )
        for split_name, n in zip(SPLIT_NAMES, sizes_given, strict=True):
            if n is None:
                continue
            if n > len(splits[split_name]):
                raise TaskOptionError(
                    f"file: n_{split_name}={n} but {data} has {len(splits[split_name])} "
                    f"{split_name} rows"
                )
            splits[split_name] = splits[split_name][:n]
    else:
        items: list[Item] = [m.item for m in mapped]
        sizes = resolve_sizes("file", len(items), n_train, n_val, n_test)
        splits = split_items(items, sizes, seed, salt="file")
    empty = [s for s in ("train", "val") if not splits[s]]
    if empty:
        raise TaskDataError(
            f"{data}: the {' and '.join(empty)} split would be empty ({len(mapped)} rows); "
            "add rows or set n_train / n_val"
        )
    digest = hashlib.sha256(raw).hexdigest()
    task_splits: dict[SplitName, list[Item]] = dict(splits)
    return FileTask(
        name=name or data.stem,  # the run's skill is named after it ("questions")
        splits=task_splits,
        scorer=the_scorer,
        data_sha256=digest,
        data_path=data,
        instructions=instructions or the_scorer.instructions,
        initial_skill=_read_initial_skill(initial_skill, base),
        options=recorded,
        seed=seed,
        max_tokens=max_tokens,
        temperature=temperature,
    )
