"""`skillfit check`: a changed skill against the one it replaces, for CI and pre-commit hooks.

Exit codes: 0 the new skill is not significantly worse; 1 it is; 2 bad input (one line, no
traceback); 3 the model calls failed (nothing could be scored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from skillfit.cli.errors import EXIT_INFRA, clear_errors, say
from skillfit.cli.root import app

if TYPE_CHECKING:
    from skillfit.app.check import CheckResult

EXIT_WORSE = 1
_MAX_IDS = 20


def _ids(ids: list[str]) -> str:
    if not ids:
        return "none"
    shown = ", ".join(ids[:_MAX_IDS])
    return shown + (f", … ({len(ids) - _MAX_IDS} more)" if len(ids) > _MAX_IDS else "")


def report_lines(r: CheckResult) -> list[str]:
    """The human-readable report of a check."""
    from skillfit.train.transfer import duration_text

    d = r.diff or {}
    lines = [
        f"check: {r.task} {r.split} ({r.new.n_items} items × {r.new.samples} "
        f"sample{'' if r.new.samples == 1 else 's'}), target "
        f"{r.target}, harness {r.harness}",
        f"  new  {r.new.line()}  {r.new_label}",
        f"  old  {r.old.line()}  {r.old_label}",
    ]
    if d.get("mean_diff") is None:
        lines.append("  new − old: no item scored by both skills")
    else:
        p = "–" if r.p_worse is None else f"{r.p_worse:.3g}"
        lines.append(
            f"  new − old  {d['mean_diff']:+.3f} [95% CI {d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
            f", p = {p} (one-sided, new worse), over {d['n']} items"
        )
    lines.append(f"  fixed ({len(r.fixed)}): {_ids(r.fixed)}")
    lines.append(f"  broken ({len(r.broken)}): {_ids(r.broken)}")
    tokens = sum(
        int(s.get("prompt_tokens", 0)) + int(s.get("completion_tokens", 0))
        for s in r.calls.values()
    )
    lines.append(
        f"  model calls: {r.paid_calls} paid ({tokens:,} tokens), {r.replayed_calls} replayed "
        f"from the response cache; {duration_text(r.seconds)}"
    )
    if r.identical:
        lines.append("  the two skills have the same body")
    tol = f"−{r.tolerance:g}" if r.tolerance else "0"
    if r.worse:
        lines.append(f"WORSE: the new skill's interval lies entirely below {tol} (exit 1)")
    else:
        lines.append(f"OK: the new skill is not significantly worse (interval not below {tol})")
    return lines


@app.command("check")
def check_command(
    skill: Annotated[
        Path,
        typer.Option("--skill", "-s", help="The new skill: a markdown file or a skill folder."),
    ],
    against: Annotated[
        str,
        typer.Option(
            "--against",
            "-a",
            help="The old skill: a file, a folder, or a git revision (the same path at that "
            "revision; REV:path for another path).",
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config naming the task, target and harness."),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Task name (overrides the config's).")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="val or test.")] = "test",
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
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            help="Loss allowed, as a share of items (0.05 = 5 points): exit 1 only when the "
            "difference's 95% interval lies entirely below −tolerance.",
        ),
    ] = 0.0,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score a changed skill against the old one on the same items: both accuracies, the
    paired difference with its 95% interval and p, the items fixed and broken. Exits 1 when
    the new skill is significantly worse, 0 otherwise, 2 on bad input."""
    from skillfit.app.check import check

    with clear_errors():
        result = check(
            skill,
            against,
            config,
            split=split,
            target=target,
            harness=harness,
            task_name=task,
            overrides=set_ or [],
            samples=samples,
            tolerance=tolerance,
        )
    if result.new.scored == 0 or result.old.scored == 0:
        say(
            "nothing was scored: the rollouts failed for infrastructure reasons (is the model "
            "server up, is the key right?)"
        )
        raise typer.Exit(EXIT_INFRA)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        Console().print("\n".join(report_lines(result)), highlight=False, soft_wrap=True)
    if result.worse:
        raise typer.Exit(EXIT_WORSE)
