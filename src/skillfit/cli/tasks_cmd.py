"""`skillfit tasks`: list the registered tasks; `skillfit tasks show NAME`: one task in detail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from skillfit.cli.root import app
from skillfit.tasks import SPLIT_NAMES, TaskDataError, get_task, list_tasks
from skillfit.tasks.registry import option_names

tasks_app = typer.Typer(
    help="The bundled and registered tasks.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(tasks_app, name="tasks")


def _console() -> Console:
    return Console(soft_wrap=False)


@tasks_app.callback()
def tasks_list(ctx: typer.Context) -> None:
    """List every registered task with its item count."""
    if ctx.invoked_subcommand is not None:
        return
    table = Table(title="skillfit tasks", show_lines=False)
    table.add_column("task", style="bold")
    table.add_column("items", justify="right")
    table.add_column("description")
    for info in list_tasks():
        count = "—" if info.n_items is None else str(info.n_items)  # generated or not bundled
        table.add_row(info.name, count, info.description)
    console = _console()
    console.print(table)
    console.print("Details of one task: skillfit tasks show NAME [--option key=value ...]")


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"expected key=value, got {text!r}")
    try:
        value: Any = json.loads(raw)  # numbers, lists, objects, true/false
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


@tasks_app.command("show")
def tasks_show(
    name: str = typer.Argument(..., help="Task name, e.g. bbh/web_of_lies or gsm8k."),
    option: list[str] = typer.Option(  # noqa: B008 -- typer declares options by default value
        [], "--option", "-o", help="A task option as key=value (JSON values), repeatable."
    ),
) -> None:
    """Show a task's options, split sizes, initial skill and one example item."""
    console = _console()
    try:
        options = dict(_parse_option(o) for o in option)
        task = get_task(name, **options)
        valid = option_names(name)
    except TaskDataError as exc:
        console.print(Text("error: ", style="red") + Text(str(exc)))
        raise typer.Exit(code=2) from exc
    console.print(f"[bold]{task.name}[/bold]")
    console.print(f"options: {', '.join(valid) or '(none)'}")
    manifest = getattr(task, "split_manifest", None)
    if callable(manifest):
        used = manifest().get("options", {})
        console.print(f"in effect: {json.dumps(used, default=str)}")
    splits = task.splits()
    console.print("split sizes: " + ", ".join(f"{s} {len(splits.get(s, ()))}" for s in SPLIT_NAMES))
    # Text, not markup: task data and skills contain brackets rich would read as style tags.
    console.print(Panel(Text(task.initial_skill or "(empty)"), title="initial skill", expand=False))
    example = next((items[0] for s in SPLIT_NAMES if (items := splits.get(s))), None)
    if example is None:
        console.print("(no items)")
        return
    body = Text(example.input) + Text("\n\ntarget: ", style="bold") + Text(str(example.target))
    console.print(Panel(body, title=f"example item {example.id}", expand=False))


@tasks_app.command("materialize")
def tasks_materialize(
    name: str = typer.Argument(..., help="Paper benchmark, e.g. searchqa or officeqa."),
    raw: Path = typer.Option(..., "--raw", help="Folder holding the benchmark's raw release."),  # noqa: B008
    out: Path = typer.Option(..., "--out", help="Split directory to write."),  # noqa: B008
    manifest: Path | None = typer.Option(  # noqa: B008
        None, "--manifest", help="Split manifest folder (default: the copy shipped with skillfit)."
    ),
) -> None:
    """Build a SkillOpt-paper split directory from the raw release and the paper's manifest."""
    from skillfit.tasks.paper import materialize

    console = _console()
    try:
        result = materialize(name, raw, out, manifest)
    except TaskDataError as exc:
        console.print(Text("error: ", style="red") + Text(str(exc)), soft_wrap=True)
        raise typer.Exit(code=2) from exc
    sizes = ", ".join(f"{s} {n}" for s, n in result.counts.items())
    # soft_wrap: paths are printed whole so they can be copied.
    console.print(f"wrote {result.out_dir} ({sizes})", soft_wrap=True)
    console.print(
        f"use it with: skillfit tasks show {name} -o split_dir={result.out_dir}", soft_wrap=True
    )
