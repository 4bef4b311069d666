"""`skillfit compare` and `skillfit report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from skillfit.cli.errors import clear_errors, err
from skillfit.cli.root import app


@app.command("compare")
def compare_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="The run config (YAML).")],
    strategies: Annotated[
        str,
        typer.Option(
            "--strategies",
            help="Comma-separated: skillfit, gepa, oneshot, textgrad, ungated, none, initial.",
        ),
    ] = "skillfit,gepa,oneshot,none,initial",
    seeds: Annotated[int, typer.Option("--seeds", help="Training seeds per strategy.")] = 1,
    target_calls: Annotated[
        int | None,
        typer.Option(
            "--target-calls",
            help="Training target calls per run (default: what skillfit spends, run first).",
        ),
    ] = None,
    budget_calls: Annotated[
        int | None,
        typer.Option(
            "--budget-calls",
            min=1,
            help="Model calls each run's training may make (every role, cache hits included; "
            "train.budget_calls), the same for every strategy.",
        ),
    ] = None,
    budget_tokens: Annotated[
        int | None,
        typer.Option(
            "--budget-tokens",
            min=1,
            help="Prompt + completion tokens each run's training may spend "
            "(train.budget_tokens), the same for every strategy.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The compare directory (default outputs/compare-<task>)."),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value (repeatable).")
    ] = None,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Also write report.html.")
    ] = True,
) -> None:
    """Run several optimization strategies on the same task, models, splits, cache and budget
    of target calls; writes compare.md, compare.csv, compare.json and compare.png."""
    from skillfit.app.compare import HEADERS, compare, table_rows

    if seeds < 1:
        err.print("[red]error:[/] --seeds must be at least 1")
        raise typer.Exit(2)

    def progress(event: dict[str, Any]) -> None:
        if event["event"] == "compare_start":
            budget = event.get("budget")
            err.print(
                f"[bold]{event['strategy']}[/] (seed {event['seed']}"
                + (f", budget {budget} target calls" if budget else "")
                + ") …"
            )
        elif event["event"] == "compare_end":
            err.print(f"  done in {event['wall']:.0f} s")

    with clear_errors():
        result = compare(
            config,
            strategies.split(","),
            seeds=seeds,
            overrides=set_ or [],
            out_dir=out,
            target_calls=target_calls,
            budget_calls=budget_calls,
            budget_tokens=budget_tokens,
            progress=progress,
        )
        if report:
            from skillfit.report import write_compare_report

            write_compare_report(result.out_dir)
    table = Table(title=f"Compare on {result.meta['task']}", title_justify="left")
    for header in HEADERS:
        table.add_column(header, justify="left" if header == "strategy" else "right")
    for row in table_rows(result.rows):
        table.add_row(*row)
    Console().print(table)
    err.print(f"written: {result.out_dir}/compare.{{md,csv,json,png}}")


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, or a compare directory.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="The HTML file (default: RUN_DIR/report.html).")
    ] = None,
) -> None:
    """A self-contained HTML report of a run (validation score per step with adopted and
    rejected candidates, edit budget, tokens, skill size, the diff of every adopted edit,
    example trajectories) or of a compare directory."""
    from skillfit.record import is_run_dir
    from skillfit.report import write_compare_report, write_run_report

    if not run_dir.is_dir():
        err.print(f"[red]error:[/] {run_dir} is not a folder")
        raise typer.Exit(2)
    with clear_errors():
        if (run_dir / "compare.json").exists():
            path = write_compare_report(run_dir, out)
        elif is_run_dir(run_dir):
            path = write_run_report(run_dir, out)
        else:
            err.print(f"[red]error:[/] {run_dir} holds neither a run nor a comparison")
            raise typer.Exit(2)
    typer.echo(str(path))
