"""`skillfit transfer`: a trained skill across target models and harnesses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skillfit.cli.errors import clear_errors, err
from skillfit.cli.root import app


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
    from skillfit.train.transfer import Cell, table_rows

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

    with clear_errors():
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
    console = Console()
    print_grid(
        console,
        f"Transfer of {result.skill_path} ({meta['task']}, {meta['split']}, "
        f"{meta['n_items']} items × {meta['samples']})",
        table_rows(result.cells),
    )
    files = ", ".join(str(p) for p in result.files.values())
    console.print(f"Wrote {files}", highlight=False, soft_wrap=True)


def print_grid(console: Console, title: str, rows: list[tuple[str, ...]]) -> None:
    """The transfer grid for the terminal: a table where it fits, else one block per cell, so
    no value is cut (target names often differ only at their end: -0.5b / -1.5b)."""
    from skillfit.train.transfer import HEADERS

    columns = list(zip(HEADERS, *rows, strict=True))
    # The narrowest table that breaks cells only between words (a target name never): the
    # longest word of each column, plus a border and a space on each side per column.
    needed = 1 + sum(
        3
        + max(
            len(c) if column[0] == "target" else max(map(len, c.split()), default=0) for c in column
        )
        for column in columns
    )
    if needed <= console.width:
        table = Table(title=title, title_justify="left")
        for header in HEADERS:
            left = header in ("target", "harness")
            table.add_column(
                header, justify="left" if left else "right", no_wrap=header == "target"
            )
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    console.print(title, highlight=False, soft_wrap=True)
    for target, harness, *values in rows:
        console.print(f"\n{target} · {harness}", highlight=False, soft_wrap=True)
        for header, value in zip(HEADERS[2:], values, strict=True):
            console.print(f"  {header}: {value}", highlight=False, soft_wrap=True)
