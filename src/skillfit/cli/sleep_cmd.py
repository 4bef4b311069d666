"""`skillfit sleep`: learn a skill from the agent sessions people already ran."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from skillfit.cli.errors import clear_errors
from skillfit.cli.root import app
from skillfit.cli.train_output import step_line


def _progress(event: dict[str, Any]) -> None:
    if event.get("event") == "step_end" and isinstance(event.get("record"), dict):
        typer.echo(step_line(event["record"]), err=True)


@app.command("sleep")
def sleep_command(
    skill: Annotated[
        Path,
        typer.Option("--skill", "-s", help="The live skill: a SKILL.md, its folder or a file."),
    ],
    source: Annotated[
        str, typer.Option("--from", help="claude-code, codex or jsonl ({prompt, reply, outcome}).")
    ] = "claude-code",
    sessions: Annotated[
        Path | None,
        typer.Option(
            "--sessions",
            help="Where the sessions are (default ~/.claude/projects or ~/.codex/sessions; a "
            "file or folder for jsonl).",
        ),
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="Sessions started since: 12h, 3d, 2w or a date.")
    ] = "3d",
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Models, gate and budgets to train with."),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option("--judge", help="Judge model for rubric items (default: the optimizer)."),
    ] = None,
    stage: Annotated[
        Path | None,
        typer.Option("--stage", help="Staging folder (default .skillfit/sleep/<skill>-<time>)."),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Write the candidate over the live skill (undo copy kept)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Harvest agent sessions that used the skill, mine checkable items from them, train on
    them, and stage the candidate SKILL.md, its diff, the evidence and a report. The live
    skill changes only with --apply, which keeps the previous version for undo."""
    from skillfit.sleep import sleep

    with clear_errors():
        result = sleep(
            skill,
            source=source,
            sessions=sessions,
            since=since,
            config=config,
            stage_dir=stage,
            judge=judge,
            apply=apply,
            progress=None if as_json else _progress,
        )
    s = result.summary()
    if as_json:
        typer.echo(json.dumps(s, indent=2))
        return
    out = Console()
    out.print(
        f"{s['sessions_using_skill']} of {s['sessions']} sessions used the skill; "
        f"{s['items']} items mined ({s['rule_items']} rule, {s['rubric_items']} rubric), "
        f"{s['skipped_requests']} requests without a check left out; "
        f"{s['adopted']} candidate(s) adopted.",
        highlight=False,
        soft_wrap=True,
    )
    out.print(f"staged in {result.stage_dir}: SKILL.md, skill.diff, evidence/, report.md",
              highlight=False, soft_wrap=True)  # fmt: skip
    if result.audit is not None:
        from skillfit.app.audit import audit_lines

        for line in audit_lines(result.audit, where=str(result.stage_dir / "run" / "audit.json")):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
    if result.applied:
        out.print(f"applied to {result.live}; undo: cp {result.previous} {result.live}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    elif result.changed:
        out.print("not applied: review skill.diff, then rerun with --apply", highlight=False)
    else:
        out.print("nothing adopted: the live skill stays as it is", highlight=False)
