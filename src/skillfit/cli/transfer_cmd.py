"""`skillfit transfer`: a trained skill across target models and harnesses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skillfit.cli.root import app
from skillfit.cli.train_cmd import _clear_errors, err


@app.command("transfer")
def transfer_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (train's --out).")],
    targets: Annotated[
        str | None,
        typer.Option("--targets", help="Comma-separated target models (default: the run's)."),
    ] = None,
    harnesses: Annotated[
        str | None,
        typer.Option(
            "--harnesses",
            help="Comma-separated harnesses: chat, agent, codex, claude-code (default: the run's).",
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test, val, train or all.")] = "test",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where the tables go (default: RUN_DIR/transfer)."),
    ] = None,
    samples: Annotated[int | None, typer.Option("--samples", help="Samples per item.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value (repeatable).")
    ] = None,
) -> None:
    """Evaluate a run's best skill on every target × harness: no skill vs skill (95% Wilson
    intervals), the paired difference with its interval, tokens and time; writes markdown,
    CSV and JSON."""
    from skillfit.api import transfer
    from skillfit.train.transfer import HEADERS, Cell, table_rows

    if split not in ("test", "val", "train", "all"):
        err.print(f"[red]error:[/] --split must be test, val, train or all, not {split!r}")
        raise typer.Exit(2)

    def progress(cell: Cell) -> None:
        err.print(
            f"{cell.target} × {cell.harness}: no skill {cell.none.result.line()}, "
            f"skill {cell.skill.result.line()}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    with _clear_errors():
        result = transfer(
            run_dir,
            targets=targets,
            harnesses=harnesses,
            split=split,  # type: ignore[arg-type]
            out_dir=out,
            samples=samples,
            overrides=set_ or [],
            progress=progress,
        )
    meta = result.meta
    table = Table(
        title=f"Transfer of {result.skill_path} ({meta['task']}, {meta['split']}, "
        f"{meta['n_items']} items × {meta['samples']})",
        title_justify="left",
    )
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("target", "harness") else "right")
    for row in table_rows(result.cells):
        table.add_row(*row)
    console = Console()
    console.print(table)
    files = ", ".join(str(p) for p in result.files.values())
    console.print(f"Wrote {files}", highlight=False, soft_wrap=True)
