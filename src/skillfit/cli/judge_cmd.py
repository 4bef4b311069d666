"""`skillfit judge check`: how often the task's judge agrees with replies a person labelled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from skillfit.cli.root import app

judge_app = typer.Typer(help="The LLM judge of a file task: check it against your labels.")
app.add_typer(judge_app, name="judge")


def kappa_reading(kappa: float | None) -> str:
    """Landis and Koch's reading of a kappa value."""
    if kappa is None:
        return "undefined (the judge and the labels each gave one verdict to everything)"
    if kappa < 0.2:
        return "slight agreement beyond chance: do not train on this judge"
    if kappa < 0.4:
        return "fair agreement: do not trust this judge yet (sharpen the rubric)"
    if kappa < 0.6:
        return "moderate agreement: usable with care; sharpen the rubric"
    if kappa < 0.8:
        return "substantial agreement"
    return "almost perfect agreement"


@judge_app.command("check")
def judge_check(
    config: Annotated[Path, typer.Option("--config", "-c", help="Run config of a file task.")],
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            help="Labelled replies (.jsonl, .csv...): fields reply, label (pass/fail) and input "
            "(+ target) or id (an item of the task's data).",
        ),
    ],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value (repeatable).")
    ] = None,
    min_kappa: Annotated[
        float | None,
        typer.Option("--min-kappa", help="Exit with code 1 when kappa is below this."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Grade labelled replies with the task's scorer (its LLM judge) and report agreement with
    the labels: accuracy, Cohen's kappa, the confusion counts and the disagreements."""
    from skillfit.app import build
    from skillfit.cli.errors import clear_errors
    from skillfit.models import Ledger
    from skillfit.tasks.userfile.judge import agreement, grade_labelled, read_labels

    with clear_errors():
        cfg = build.load(config, set_ or [])
        task = build.build_task(cfg)
        ledger = Ledger()
        build.bind_task_models(task, build._cache(cfg), ledger)
        items = [it for split in task.splits().values() for it in split]
        rows = read_labels(labels, items)
        scorer: Any = getattr(task, "score", None)
        if scorer is None:
            raise typer.BadParameter(f"task {task.name} has no scorer to check")
        results = grade_labelled(scorer, rows, concurrency=int(cfg.train.concurrency))
        result = agreement(rows, results)
    kind = getattr(getattr(task, "scorer", None), "kind", "")
    if as_json:
        typer.echo(json.dumps({"scorer": kind, **result.to_dict()}, indent=2))
    else:
        console = Console()
        if kind and kind != "judge":
            console.print(f"note: the task's scorer is {kind}, not an LLM judge", highlight=False)
        kappa = "–" if result.kappa is None else f"{result.kappa:.3f}"
        console.print(
            f"judge vs labels on {result.n} replies: accuracy {result.accuracy:.3f}, "
            f"Cohen's kappa {kappa} ({kappa_reading(result.kappa)})",
            highlight=False,
        )
        table = Table(title="judge × label", title_justify="left")
        table.add_column("")
        table.add_column("label pass", justify="right")
        table.add_column("label fail", justify="right")
        table.add_row("judge pass", str(result.both_pass), str(result.judge_only))
        table.add_row("judge fail", str(result.label_only), str(result.both_fail))
        console.print(table)
        for d in result.disagreements[:10]:
            console.print(
                Text(
                    f"line {d['line']} ({d['id']}): labelled {d['label']}, judged {d['judge']}: "
                    f"{d['feedback']}"
                ),
                soft_wrap=True,
            )
        if len(result.disagreements) > 10:
            console.print(f"... and {len(result.disagreements) - 10} more (--json lists all)")
    if min_kappa is not None and (result.kappa is None or result.kappa < min_kappa):
        typer.echo(f"kappa below --min-kappa {min_kappa}", err=True)
        raise typer.Exit(1)
