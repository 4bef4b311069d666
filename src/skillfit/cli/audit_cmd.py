"""`skillfit audit`: what a run's trained skill and meta-skill carry that they should not.

Exit codes: 0 clean; 1 problems found; 2 bad input (not a run directory, a task that cannot be
rebuilt; one line, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from skillfit.cli.errors import EXIT_USER, clear_errors, say, user_errors
from skillfit.cli.root import app

EXIT_PROBLEMS = 1


def _runs(folder: Path) -> list[Path]:
    """The run directories `folder` stands for: itself, or the runs in it (a `--seeds`
    folder's seed-<s>/, a compare directory's <strategy>-s<seed>/)."""
    from skillfit.record import is_run_dir

    if is_run_dir(folder):
        return [folder]
    return [p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and is_run_dir(p)]


@app.command("audit")
def audit_command(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="A run directory, or a folder of runs (`--seeds` output, a compare directory)."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the audit as JSON.")] = False,
) -> None:
    """Read a run's trained skill (best_skill.md) and latest meta-skill for item text of any
    split, scorer feedback, copies of the optimizer's prompt, quoted text foreign to the task,
    talk of grading the answer and repeated lines; marked worked examples of training items
    are named as deliberate. Works on runs of any version (the task is rebuilt from the run's
    config.json); writes nothing. Exits 1 when it finds problems, 0 when clean, 2 on bad
    input."""
    from skillfit.app.audit import BEST_SKILL, audit_lines, audit_run_dir

    if not run_dir.is_dir():
        say(f"{run_dir} is not a folder: give a run directory (the --out of `skillfit train`)")
        raise typer.Exit(EXIT_USER)
    runs = _runs(run_dir)
    if not runs:
        say(
            f"{run_dir} is not a run directory: it holds no config.json or runtime_state.json, "
            "and no run in it (give the --out of `skillfit train`, e.g. outputs/quickstart)"
        )
        raise typer.Exit(EXIT_USER)
    unfinished = [r for r in runs if not (r / BEST_SKILL).is_file()]
    if unfinished:
        say(f"{unfinished[0]} holds no {BEST_SKILL} yet: nothing to audit")
        raise typer.Exit(EXIT_USER)
    audits: list[tuple[Path, Any]] = []
    with clear_errors():
        from skillfit.core.errors import TrainError

        for run in runs:
            try:
                audits.append((run, audit_run_dir(run)))
            except user_errors() + (OSError, ValueError) as exc:
                # Which run could not be read, when a folder holds several.
                raise TrainError(f"{run}: {exc}") from None
    if as_json:
        rows = [{"run_dir": str(run), **a.model_dump(mode="json")} for run, a in audits]
        single = runs == [run_dir]
        typer.echo(json.dumps(rows[0] if single else {"runs": rows}, indent=2))
    else:
        console = Console()
        for run, audit in audits:
            for line in audit_lines(audit, label=str(run), where=None, limit=None):
                console.print(line, highlight=False, markup=False, soft_wrap=True)
            if audit.deliberate_examples:
                console.print(
                    "  worked examples of training items (deliberate): "
                    + ", ".join(audit.deliberate_examples),
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
    if any(a.problems for _, a in audits):
        raise typer.Exit(EXIT_PROBLEMS)
