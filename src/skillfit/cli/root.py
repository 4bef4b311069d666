"""The `skillfit` Typer app and its global options; each command module adds its commands to
`app` (skillfit.cli imports them all)."""

from __future__ import annotations

import typer

from skillfit import __version__

app = typer.Typer(
    name="skillfit",
    help=(
        "Train an AI agent's skill document (SKILL.md) the way one trains a network, "
        "with the model's weights frozen.\n\n"
        "Start with `skillfit models check` (is the embedded model working?), "
        "then `skillfit train --config configs/quickstart.yaml`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"skillfit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    imports: list[str] = typer.Option(  # noqa: B008 -- typer declares options by default value
        [],
        "--import",
        help="Import a module (a name, or a .py file) that registers your own tasks; repeatable.",
    ),
) -> None:
    """skillfit command line."""
    if imports:
        from skillfit.tasks.base import TaskDataError
        from skillfit.tasks.plugins import import_task_modules

        try:
            import_task_modules(imports, base_dir=".")
        except TaskDataError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
