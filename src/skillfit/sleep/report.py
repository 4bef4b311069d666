"""`report.md` of a sleep cycle: what was read, what was mined, what training decided."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.0f}%"


def _check_line(check: dict[str, Any]) -> str:
    kind = check.get("kind")
    if kind == "rubric":
        said = "; ".join(str(c)[:80] for c in check.get("corrections", [])) or "an accepted reply"
        return f"rubric from the user's words: {said}"
    names = ", ".join(f"`{m}`" for m in check.get("mentions", []))
    return f"{kind}: names {names}"


def report_markdown(result: Any, root: Path, since: datetime) -> str:
    """The staged report (a `SleepResult`)."""
    s = result.summary()
    lines = [
        f"# skillfit sleep: {result.live}",
        "",
        f"Sessions under `{root}` since {since:%Y-%m-%d %H:%M %Z}: {s['files']} files, "
        f"{s['sessions']} sessions, {s['sessions_using_skill']} used the skill "
        "(the others were skipped). Everything read was redacted before use.",
        "",
        f"Items mined: {s['items']} ({s['rule_items']} checked by a rule from the transcript, "
        f"{s['rubric_items']} by the judge with a rubric from the user's corrections); "
        f"{s['skipped_requests']} requests had no check and were left out "
        "(`evidence/skipped.jsonl`).",
        "",
        "| item | split | session (file:line) | request | check |",
        "|---|---|---|---|---|",
    ]
    for item in result.items:
        ref = item["from"]
        request = " ".join(str(item.get("request", "")).split())[:70].replace("|", "\\|")
        lines.append(
            f"| {item['id']} | {item['split']} | {ref['source']} {ref['session']} "
            f"({Path(ref['file']).name}:{ref['line']}) | {request} | "
            f"{_check_line(item['check']).replace('|', '/')} |"
        )
    lines += ["", "## Training", ""]
    if not result.verdicts:
        lines.append("No step finished.")
    for v in result.verdicts:
        gate = v.get("gate") or {}
        verdict = "adopted" if v.get("adopted") else "rejected"
        lines.append(
            f"- {v['kind']} {v['step']}: {verdict}; val {_pct(v.get('val_current'))} → "
            f"{_pct(v.get('val_candidate'))}"
            + (f", p = {gate['p_value']:.3g}" if gate.get("p_value") is not None else "")
            + (f" ({gate.get('reason')})" if gate.get("reason") else "")
        )
    lines += ["", "## Result", ""]
    if not result.changed:
        lines.append("The candidate is the live skill: nothing was adopted, nothing to apply.")
    elif result.applied:
        lines.append(f"Applied to `{result.live}`. Undo: `cp {result.previous} {result.live}`.")
    else:
        lines.append(
            f"Staged, not applied: review `skill.diff`, then run the same command with "
            f"`--apply`, or `cp {result.stage_dir / 'SKILL.md'} {result.live}`."
        )
    if result.audit is not None:
        from skillfit.app.audit import audit_lines

        lines += ["", *audit_lines(result.audit, where="`run/audit.json`", limit=None)]
    lines += [
        "",
        "Files: `SKILL.md` (candidate), `skill.diff`, `evidence/` (sessions.jsonl, items.jsonl, "
        "skipped.jsonl, verdicts.json), `run/` (the training run; `skillfit report` reads it).",
    ]
    return "\n".join(lines) + "\n"
