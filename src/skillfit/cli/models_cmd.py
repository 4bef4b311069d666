"""`skillfit models`: which models exist, and does one of them answer on this machine?"""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from skillfit.cli.root import app
from skillfit.models import DEFAULT_MODEL, SkillfitModelError, get_model, list_local_models
from skillfit.models.registry import SPEC_FORMS, parse_spec

models_app = typer.Typer(
    help="List the available models, or check that one answers.",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(models_app, name="models")

CHECK_PROMPT = "In one short sentence: what is a unit test?"


def _human(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


@models_app.callback()
def list_models(ctx: typer.Context) -> None:
    """List the named local models (installed or not) and the other model string forms."""
    if ctx.invoked_subcommand is not None:
        return
    from skillfit.models.local.weights import installed

    console = Console()
    table = Table(title="Embedded local models (run on this CPU, no network)")
    table.add_column("model", no_wrap=True)
    table.add_column("installed")
    table.add_column("size", no_wrap=True)
    table.add_column("about / weights come from / how to install")
    for info in list_local_models():
        ok = installed(info)
        table.add_row(
            f"local:{info.name}",
            "[green]yes[/]" if ok else "[yellow]no[/]",
            _human(info.size),
            f"{info.description}\n[dim]{info.source() if ok else info.install}[/]",
        )
    console.print(table)
    console.print("Model strings:")
    for form in SPEC_FORMS:
        console.print(f"  {form}", markup=False)
    console.print(f"Check one: skillfit models check [MODEL]   (default {DEFAULT_MODEL})")


@models_app.command("check")
def check(
    model: str = typer.Argument(DEFAULT_MODEL, help="A model string or a local model name."),
    prompt: str = typer.Option(CHECK_PROMPT, help="The prompt to send."),
    max_tokens: int = typer.Option(48, help="Answer length cap."),
) -> None:
    """Send one prompt and print the answer, load time and speed."""
    console = Console()
    spec = model if ":" in model else f"local:{model}"
    try:
        parsed = parse_spec(spec)
        if parsed.provider == "local":
            _check_local(console, parsed.model, prompt, max_tokens)
        else:
            _check_remote(console, spec, prompt, max_tokens)
    except SkillfitModelError as exc:
        console.print(Text("error: ", style="red") + Text(str(exc)), highlight=False)
        raise typer.Exit(1) from None


def _check_local(console: Console, name: str, prompt: str, max_tokens: int) -> None:
    from skillfit.models.local.probe import probe
    from skillfit.models.local.provider import local_model

    with console.status(f"preparing local:{name} ..."):
        t = time.perf_counter()
        model = local_model(name)
        weights_s = time.perf_counter() - t
        model.server.start()
    with console.status("answering ..."):
        p = probe(model.server, [{"role": "user", "content": prompt}], max_tokens=max_tokens)
    console.print(f"[bold]{model.name}[/] answered: {p.text.strip()}")
    table = Table(show_header=False)
    table.add_row("weights ready", f"{weights_s:.2f} s")
    table.add_row("load time", f"{model.server.load_seconds or 0:.2f} s")
    table.add_row("prompt", f"{p.prompt_tokens} tokens, {p.prompt_per_second:.1f} tok/s")
    table.add_row(
        "generation", f"{p.completion_tokens} tokens, {p.generation_per_second:.1f} tok/s"
    )
    table.add_row("server", f"{model.base_url} (127.0.0.1 only)")
    if model.server.log_path:
        table.add_row("server log", str(model.server.log_path))
    console.print(table)


def _check_remote(console: Console, spec: str, prompt: str, max_tokens: int) -> None:
    chat = get_model(spec)
    with console.status(f"asking {spec} ..."):
        reply = chat.complete([{"role": "user", "content": prompt}], max_tokens=max_tokens)
    console.print(f"[bold]{spec}[/] answered: {reply.text.strip()}")
    u = reply.usage
    console.print(
        f"latency {reply.latency:.2f} s; {u.prompt_tokens} prompt tokens, "
        f"{u.completion_tokens} completion tokens"
        + (f" ({u.completion_tokens / reply.latency:.1f} tok/s overall)" if reply.latency else "")
    )
