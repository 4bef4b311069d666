"""`skillfit train` and `skillfit eval`: their options, and the calls they make with them
(what they print is cli.train_output)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from skillfit.cli.errors import EXIT_INFRA, EXIT_USER, clear_errors, err, say
from skillfit.cli.root import app
from skillfit.cli.train_output import (
    LiveView,
    cost_text,
    emit_jsonl,
    print_summary,
    step_line,
    timeout_hint,
    wall_time,
)


@app.command("train")
def train_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="Run config (YAML).")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config value, e.g. --set train.epochs=2."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Run directory (default: <run.out_dir>/<run.name>)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Insist on resuming (same config resumes anyway).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Start fresh even if the run directory holds a run: the old one is moved "
            "aside to <dir>.replaced-<timestamp>.",
        ),
    ] = False,
    harness: Annotated[
        str | None,
        typer.Option(
            "--harness",
            help="How the target acts: chat, agent, codex or claude-code (sets target.harness).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON event per line.")] = False,
    no_check: Annotated[
        bool,
        typer.Option(
            "--no-check",
            help="Skip the target check: before a fresh run, 16-24 target calls on 8 validation "
            "items tell whether the target reacts to its skill at all (run.target_check).",
        ),
    ] = False,
    budget_calls: Annotated[
        int | None,
        typer.Option(
            "--budget-calls",
            min=1,
            help="Model calls training may make (train.budget_calls): every role, cache hits "
            "included, the test evaluation not. The run stops at the next step boundary, tests "
            "and exports its best skill; a larger budget resumes it.",
        ),
    ] = None,
    budget_tokens: Annotated[
        int | None,
        typer.Option(
            "--budget-tokens",
            min=1,
            help="Prompt + completion tokens training may spend (train.budget_tokens), counted "
            "as --budget-calls counts calls.",
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds",
            help="Train once per seed (train.seed, +1, ...) into <out>/seed-<s>/ on the same "
            "splits, and report each seed, the spread and a pooled paired interval.",
        ),
    ] = None,
) -> None:
    """Train a skill document: rollout → reflect → edit → gate, epoch after epoch."""
    from skillfit.api import train

    set_ = [*(set_ or []), *([f"target.harness={harness}"] if harness else [])]
    set_ += ["run.target_check=false"] if no_check else []
    set_ += [f"train.budget_calls={budget_calls}"] if budget_calls else []
    set_ += [f"train.budget_tokens={budget_tokens}"] if budget_tokens else []
    if seeds is not None:
        if seeds < 1:
            say(f"--seeds must be 1 or more, not {seeds}")
            raise typer.Exit(EXIT_USER)
        _train_seeds(config, set_, out, seeds, resume=resume, force=force, quiet=quiet, jsonl=jsonl)
        return
    started = time.monotonic()

    console = Console()
    progress: Callable[[dict[str, Any]], None] | None = None
    view: LiveView | None = None
    if jsonl:
        progress = emit_jsonl
    elif not quiet:
        view = LiveView(console)
        progress = view
    kwargs: dict[str, Any] = dict(
        overrides=set_ or [],
        out_dir=out,
        resume=resume or None,
        force=force,
        progress=progress,
        on_target_check=_on_target_check(console, view, quiet=quiet, jsonl=jsonl),
    )
    with clear_errors():
        if view is not None:
            with view.live:
                result = train(config, **kwargs)
        else:
            result = train(config, **kwargs)
    if jsonl:
        emit_jsonl({"event": "summary", **result.summary, "run_dir": str(result.run_dir)})
        return
    if result.moved_aside is not None:
        console.print(f"Moved the previous run aside to {result.moved_aside}")
    print_summary(console, result, time.monotonic() - started)


def _on_target_check(
    console: Console, view: LiveView | None, *, quiet: bool, jsonl: bool
) -> Callable[[Any], bool]:
    """How `skillfit train` answers the target check (see app.target_check.decide): on a
    terminal it asks before training a target that does not react; otherwise it warns."""
    from skillfit.app.target_check import decide

    interactive = sys.stdin.isatty() and console.is_terminal and not jsonl

    def on_check(result: Any) -> bool:
        if view is not None:
            view.live.stop()  # a question under the live display would be overdrawn
        try:
            return decide(
                result,
                interactive=interactive,
                ask=lambda question: typer.confirm(question, default=False),
                say=None
                if quiet or jsonl
                else lambda text: console.print(text, highlight=False, markup=False),
                warn=lambda text: err.print(f"warning: {text}", highlight=False, markup=False),
            )
        finally:
            if view is not None:
                view.live.start()

    return on_check


def _train_seeds(
    config: Path,
    set_: list[str],
    out: Path | None,
    seeds: int,
    *,
    resume: bool,
    force: bool,
    quiet: bool,
    jsonl: bool,
) -> None:
    from skillfit.app.seeds import seeds_audit_lines, to_markdown, train_seeds

    console = Console()
    started = time.monotonic()

    def progress(event: dict[str, Any]) -> None:
        if jsonl:
            emit_jsonl(event)
        elif event["event"] == "seed_start" and not quiet:
            console.print(f"seed {event['seed']} ({event['of']} seeds in all)", highlight=False)
        elif event["event"] == "step_end" and not quiet:
            console.print("  " + step_line(event["record"]), highlight=False, markup=False)

    with clear_errors():
        result = train_seeds(
            config,
            seeds,
            overrides=set_,
            out_dir=out,
            progress=progress,
            resume=resume or None,
            force=force,
        )
    if jsonl:
        emit_jsonl({"event": "seeds_summary", **result.to_dict(), "out_dir": str(result.out_dir)})
        return
    console.print(
        f"{seeds} seeds in {result.out_dir} (seeds.json); {wall_time(time.monotonic() - started)}",
        highlight=False,
    )
    console.print(to_markdown(result), highlight=False, markup=False, soft_wrap=True)
    for line in seeds_audit_lines(result):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("eval")
def eval_command(
    skill: Annotated[
        Path,
        typer.Option(
            "--skill",
            "-s",
            help="Skill: a markdown file, a skill directory (SKILL.md), a skills folder "
            "holding one, or a run directory (its best skill).",
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Run config naming the task (default: the config of the run the skill lies in).",
        ),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Task name (overrides the config's).")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test, val, train or all.")] = "test",
    target: Annotated[
        str | None, typer.Option("--target", help="Target model (default: the config's).")
    ] = None,
    harness: Annotated[
        str | None,
        typer.Option(
            "--harness",
            help="chat, agent, codex or claude-code (default: the config's target.harness).",
        ),
    ] = None,
    samples: Annotated[int | None, typer.Option("--samples", help="Samples per item.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Measure a skill's accuracy (with a 95% Wilson interval) on a split of the task, for any
    target model and harness."""
    from skillfit.api import eval_config, evaluate, on_run_task
    from skillfit.train.config import MAX_SAMPLES

    if split not in ("test", "val", "train", "all"):
        err.print(f"[red]error:[/] --split must be test, val, train or all, not {split!r}")
        raise typer.Exit(2)
    if samples is not None and not 1 <= samples <= MAX_SAMPLES:
        err.print(f"[red]error:[/] --samples must be between 1 and {MAX_SAMPLES}, not {samples}")
        raise typer.Exit(2)
    with clear_errors():
        cfg = eval_config(skill, config, set_ or [], task_name=task, harness=harness)
        result = evaluate(
            skill,
            cfg,
            run_config=config is None and on_run_task(set_ or [], task),
            split=split,  # type: ignore[arg-type]
            target=target,
            samples=samples,
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        if hint := timeout_hint(result.timed_out, cfg.target.cli_timeout, result.scored):
            err.print(hint, highlight=False, markup=False, soft_wrap=True)
    if result.scored == 0 and result.n_errors:
        say(
            f"nothing was scored: all {result.n_errors} rollouts failed for infrastructure "
            "reasons (is the model server up, is the key right?)"
        )
        raise typer.Exit(EXIT_INFRA)
    if as_json:
        return
    Console().print(
        f"{skill} on {cfg.task.name} {split} ({result.n_items} items × {result.samples} "
        f"samples), target {target or cfg.target.model}, harness {cfg.target.harness}: "
        f"accuracy {result.line()}"
        + (f", {result.timed_out} timed out (scored 0)" if result.timed_out else "")
        + (f", {result.n_errors} infra errors excluded" if result.n_errors else "")
        + cost_text(result),
        highlight=False,
        soft_wrap=True,
    )
    if hint := timeout_hint(result.timed_out, cfg.target.cli_timeout, result.scored):
        err.print(hint, highlight=False, markup=False, soft_wrap=True)
