"""What `skillfit train` and `skillfit eval` print: the live view of a run, one line per step,
JSON events, the run's summary with its test table, and the hints for a run that learned
nothing or whose rollouts hit the time limit."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from skillfit.cli.errors import err


def fmt(x: Any, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


class LiveView:
    """The live display: one line per finished step above a status panel."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.monotonic()
        self.status: dict[str, Any] = {"phase": "starting"}
        self.tokens = 0
        self.steps_done_here = 0
        self.live = Live(self.render(), console=console, refresh_per_second=4, transient=True)

    def render(self) -> Table:
        s = self.status
        elapsed = time.monotonic() - self.started
        table = Table.grid(padding=(0, 2))
        total, done = s.get("total_steps"), s.get("global_step", 0)
        eta = "–"
        if total and self.steps_done_here and done < total:
            eta = f"{elapsed / self.steps_done_here * (total - done):.0f}s"
        table.add_row(
            Text(f"epoch {s.get('epoch', 0) + 1}", style="bold"),
            f"step {done}/{total or '?'}",
            f"budget {s.get('budget', '–')}",
            f"train {fmt(s.get('train_score'), 2)}",
            f"val {fmt(s.get('val_current'), 2)} → {fmt(s.get('val_candidate'), 2)}",
            f"best {fmt(s.get('best_score'), 2)} (v{s.get('best_version', 1)})",
            f"tokens {self.tokens:,}",
            f"{elapsed:.0f}s elapsed, ETA {eta}",
        )
        table.add_row(Text(str(s.get("phase", "")), style="dim"))
        return table

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if "state" in event:
            self.status.update(event["state"])
        if "total_steps" in event:
            self.status["total_steps"] = event["total_steps"]
        if kind == "step_start":
            self.status.update(budget=event["budget"], phase=f"step {event['step']}: rollouts")
        elif kind == "rollouts":
            self.status.update(train_score=event["train_score"], phase="reflecting")
        elif kind == "gate":
            self.status.update(val_current=event["current"], val_candidate=event["candidate"])
        elif kind == "step_end":
            rec = event["record"]
            self.tokens += sum(
                int(v.get("prompt_tokens", 0)) + int(v.get("completion_tokens", 0))
                for v in rec.get("tokens", {}).values()
            )
            if rec["kind"] == "step":
                self.steps_done_here += 1
            self.console.print(step_line(rec), highlight=False, markup=False)
            self.status["phase"] = "next step"
        elif kind == "slow_update_start":
            self.status["phase"] = f"epoch {event['epoch']}: slow update"
        elif kind == "meta_skill":
            self.status["phase"] = f"epoch {event['epoch']}: meta-skill {event['result']}"
        elif kind == "test_eval":
            self.status["phase"] = f"test evaluation: {event['arm']} skill"
        self.live.update(self.render())


def step_line(rec: dict[str, Any]) -> str:
    label = "slow update" if rec["kind"] == "slow_update" else f"step {rec['step']:>3}"
    gate = rec.get("gate")
    verdict = rec.get("note") or "no gate"
    if gate:
        verdict = f"val {fmt(gate['current_mean'], 2)} → {fmt(gate['candidate_mean'], 2)} " + (
            "[adopted]" if rec["adopted"] else "[rejected]"
        )
    # Agent-CLI rollouts (train batch and gate) stopped at the wall-clock limit.
    stopped = sum(int(s.get("timed_out", 0)) for s in (rec.get("tokens") or {}).values())
    return (
        f"{label} · epoch {rec['epoch']} · budget {rec['budget']} · "
        f"train {fmt(rec['train_score'], 2)} · edits {rec['proposed']} proposed, "
        f"{rec['guard_rejected']} guarded out, {rec['applied']} applied · {verdict} · "
        + (f"{stopped} timed out · " if stopped else "")
        + f"{rec['seconds']:.1f}s"
    )


def emit_jsonl(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"time": round(time.time(), 3), **event}, default=str) + "\n")
    sys.stdout.flush()


def final_table(test: dict[str, Any] | None) -> Group | Text:
    if not test:
        return Text("No test evaluation (eval.test is off).")
    table = Table(title="Test accuracy", title_justify="left")
    table.add_column("skill")
    table.add_column("accuracy", justify="right")
    table.add_column("95% interval", justify="right")
    table.add_column("correct", justify="right")
    # Form apart from substance: a skill that only fixes the answer format raises the first
    # column, not the second.
    table.add_column("valid format", justify="right")
    table.add_column("accuracy among valid", justify="right")
    for arm, label in (("none", "no skill"), ("initial", "initial"), ("best", "trained")):
        r = test.get(arm) or {}
        table.add_row(
            label,
            fmt(r.get("accuracy")),
            f"[{fmt(r.get('ci_low'))}, {fmt(r.get('ci_high'))}]",
            f"{r.get('correct', 0)}/{r.get('scored', 0)}",
            fmt(r.get("format_rate")),
            fmt(r.get("formatted_accuracy")),
        )
    diffs = Table(title="Paired difference (trained − other, per item)", title_justify="left")
    for col in ("vs", "mean diff", "95% interval", "p-value", "items"):
        diffs.add_column(col, justify="right" if col != "vs" else "left")
    for key, label in (("best_vs_none", "no skill"), ("best_vs_initial", "initial")):
        d = test.get(key) or {}
        diffs.add_row(
            label,
            "–" if d.get("mean_diff") is None else f"{d['mean_diff']:+.3f}",
            f"[{fmt(d.get('ci_low'))}, {fmt(d.get('ci_high'))}]",
            fmt(d.get("p_value")),
            str(d.get("n", 0)),
        )
    return Group(table, diffs)


def print_summary(console: Console, result: Any, seconds: float) -> None:
    """The lines `skillfit train` ends with: the run, its test table, audit and hints."""
    s = result.summary
    console.print(
        f"Run {result.run_dir}: {s['steps']} steps, {s['adoptions']} adopted, "
        f"stopped by {s['stopped'] or '–'}; best skill v{s['best_version']} "
        f"(val {fmt(s['best_val_score'])}) → {result.run_dir / 'best_skill.md'}; "
        f"{wall_time(seconds)}",
        highlight=False,
    )
    if (s.get("budget") or {}).get("message"):
        console.print(s["budget"]["message"], highlight=False, markup=False)
    if s.get("phases"):
        from skillfit.train.phases import phase_line

        console.print(f"Phases: {phase_line(s['phases'])}", highlight=False, markup=False)
    console.print(final_table(result.test))
    for line in run_audit_lines(result):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if hint := unreactive_hint(s):
        console.print(hint, highlight=False)
    if s.get("infra_errors"):
        err.print(
            f"[yellow]warning:[/] {s['infra_errors']} rollouts failed for infrastructure reasons "
            "and were excluded from every figure (see history.json and test_eval/)",
            highlight=False,
        )
    if hint := timeout_hint(int(s.get("timed_out") or 0), s.get("cli_timeout")):
        err.print(hint, highlight=False, markup=False, soft_wrap=True)


def run_audit_lines(result: Any) -> list[str]:
    """What the run's audit (audit.json, see skillfit.app.audit) found: warnings only."""
    from skillfit.app.audit import audit_lines

    if result.audit is None:
        return [f"audit: could not run ({result.audit_error})"]
    return audit_lines(result.audit, where=str(result.run_dir / "audit.json"))


def wall_time(seconds: float) -> str:
    return f"wall time {seconds / 60:.1f} min" if seconds >= 60 else f"wall time {seconds:.0f} s"


# Below this share of validation outcomes changed by all candidates together, no candidate
# could have been adopted on merit: the skill barely reaches the target's answers.
UNREACTIVE_SHARE = 0.1


def unreactive_hint(summary: Mapping[str, Any]) -> str | None:
    """A note for a run that adopted nothing because its candidates hardly changed the target's
    answers (see train.summary.outcomes_moved), or None."""
    moved = summary.get("val_outcomes_moved") or {}
    compared = int(moved.get("compared") or 0)
    if summary.get("adoptions") or compared < 20:
        return None
    share = int(moved.get("moved") or 0) / compared
    if share >= UNREACTIVE_SHARE:
        return None
    return (
        f"Nothing was adopted, and the candidates changed the outcome of only "
        f"{moved.get('moved', 0)} of {compared} validation items compared ({100 * share:.0f}%): "
        "this target hardly reacts to what its skill says. A larger target model gives "
        "training room; `skillfit eval --skill FILE --split val` tells whether a skill you "
        "write by hand moves it."
    )


def cost_text(result: Any) -> str:
    """`; 12,345 tokens (12,000 prompt, 345 completion), 1m 03s` for an evaluation's line.
    With rollouts whose usage is known only in part (an agent CLI stopped at its limit), the
    tokens are `at least` what was reported, or `unknown` when nothing was."""
    from skillfit.train.transfer import duration_text

    tokens, seconds = getattr(result, "tokens", None), getattr(result, "seconds", None)
    parts = []
    incomplete = int((tokens or {}).get("incomplete") or 0)
    runs = f"{incomplete} run{'s' if incomplete != 1 else ''}"
    if tokens and incomplete and not tokens["total"]:
        parts.append(f"tokens unknown ({runs} stopped at the time limit reported no usage)")
    elif tokens:
        parts.append(
            ("at least " if incomplete else "")
            + f"{tokens['total']:,} tokens ({tokens['prompt']:,} prompt, "
            f"{tokens['completion']:,} completion"
            + (
                f"; {runs} stopped at the time limit, usage known only in part)"
                if incomplete
                else ")"
            )
        )
    if seconds is not None:
        parts.append(duration_text(seconds))
    return "; " + ", ".join(parts) if parts else ""


def timeout_hint(timed_out: int, limit: float | None, of: int | None = None) -> str | None:
    """One line when rollouts hit an agent CLI's wall-clock limit, naming the setting that
    raises it, or None."""
    from skillfit.harness.cli_agent import DEFAULT_TIMEOUT

    if not timed_out:
        return None
    seconds = DEFAULT_TIMEOUT if limit is None else float(limit)
    count = f"{timed_out} of {of}" if of is not None else str(timed_out)
    return (
        f"{count} rollout{'s' if timed_out != 1 else ''} hit the agent CLI's wall-clock limit "
        f"({seconds:g} s) and scored 0: the agent had not finished, which is not a wrong "
        f"answer. If the target needs longer, raise the limit: --set "
        f"target.cli_timeout={2 * seconds:g} (target.cli_timeout in the config). Their "
        "tokens count only what the CLI had reported when it was stopped."
    )
