"""What the pages show, computed from the typed run record (`skillfit.record`): the runs
table's rows, a run's live status and its validation curve. The lineage (units, versions,
diffs, the rollouts behind an edit) is in `lineage`, re-exported here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from skillfit.dashboard.charts import CurvePoint
from skillfit.dashboard.lineage import jsonl_rows
from skillfit.models.redact import redact
from skillfit.record import RunRecord, load_run

# ---- the runs table ---------------------------------------------------------------------


@dataclass
class RunRow:
    name: str
    task: str
    target: str
    optimizer: str
    strategy: str
    status: str
    status_reason: str
    phase: str
    steps_done: int
    steps_total: int
    adopted: int
    best_val: float | None
    test_acc: float | None
    test_low: float | None
    test_high: float | None
    test_n: int
    tokens: int
    cache_hits: int
    seconds: float
    last_activity: float | None
    damaged: dict[str, str]


def tokens_of(rec: RunRecord) -> int:
    """Every token the run paid for so far: the run's totals once it is done, else the sum
    over finished steps and the test evaluation."""
    if rec.tokens:
        return sum(u.tokens for u in rec.tokens.values())
    total = sum(u.tokens for s in rec.steps for u in s.tokens.values())
    if rec.test is not None:
        total += sum(u.tokens for u in rec.test.tokens.values())
    return total


def cache_hits_of(rec: RunRecord) -> int:
    """Calls answered from the response cache (paid by an earlier run, free in this one)."""
    if rec.tokens:
        return sum(u.cache_hits for u in rec.tokens.values())
    return sum(u.cache_hits for s in rec.steps for u in s.tokens.values())


def run_row(name: str, rec: RunRecord) -> RunRow:
    best = rec.test.arms.get("best") if rec.test is not None else None
    return RunRow(
        name=name,
        task=rec.meta.task,
        target=redact(rec.meta.target),
        optimizer=redact(rec.meta.optimizer),
        strategy=rec.meta.strategy,
        status=rec.status,
        status_reason=redact(rec.status_reason),
        phase=live_phase(rec) if rec.status in ("running", "archived", "damaged") else rec.phase,
        steps_done=rec.global_step,
        steps_total=rec.total_steps,
        adopted=len(rec.adopted_steps),
        best_val=rec.best_score,
        test_acc=best.accuracy if best is not None else None,
        test_low=best.ci_low if best is not None else None,
        test_high=best.ci_high if best is not None else None,
        test_n=best.n_items if best is not None else 0,
        tokens=tokens_of(rec),
        cache_hits=cache_hits_of(rec),
        seconds=wall_seconds(rec),
        last_activity=rec.last_activity,
        damaged=dict(rec.damaged),
    )


def load(path: Path) -> RunRecord:
    return load_run(path)


# ---- a run: live status and curve -------------------------------------------------------


def wall_seconds(rec: RunRecord, now: float | None = None) -> float:
    """Seconds of work so far: the record's figure, or from the first event to now while the
    run is going."""
    if rec.status == "running" and rec.events:
        return max(rec.seconds, (now or time.time()) - rec.events[0].ts)
    return rec.seconds


def live_phase(rec: RunRecord) -> str:
    """What the run is doing now, from its latest event (the record's event stream)."""
    if rec.status == "done":
        return f"finished ({rec.stopped or 'done'})"
    if rec.status == "archived":
        return "archived: its config and skill were kept"
    if rec.status == "damaged":
        return rec.status_reason
    for e in reversed(rec.events):
        d = e.data
        if e.event == "step_start":
            return f"step {d.get('step')}: rollouts"
        if e.event == "rollouts":
            return f"step {d.get('step')}: optimizer reflecting"
        if e.event == "gate":
            return f"step {d.get('step')}: gate decided"
        if e.event == "step_end":
            unit = d.get("record") or {}
            if unit.get("kind") == "slow_update":
                return f"epoch {unit.get('epoch')}: slow update done"
            return f"step {unit.get('step')} done"
        if e.event == "slow_update_start":
            return f"epoch {d.get('epoch')}: slow update"
        if e.event == "meta_skill":
            return f"epoch {d.get('epoch')}: meta-skill notes"
        if e.event == "test_eval":
            return f"test: {d.get('arm')} skill"
        if e.event == "run_start":
            return "starting"
        if e.event == "run_failed":
            error = str(d.get("error", ""))
            return "interrupted" if error.startswith("interrupted") else "stopped by an error"
    return rec.phase or "–"


def unrecorded_errors(rec: RunRecord) -> tuple[int, int, list[str]]:
    """Rollouts of units the run started but never recorded (a unit whose rollouts failed past
    `train.max_infra_error_rate` stops the run before it is recorded): how many failed, of
    how many, and which units."""
    root = Path(rec.meta.run_dir)
    done = {
        (s.kind == "slow_update", s.epoch if s.kind == "slow_update" else s.step) for s in rec.steps
    }
    failed = total = 0
    where: list[str] = []
    for slow, pattern in (
        (False, "steps/step_*/rollouts.jsonl"),
        (True, "slow_update/epoch_*/rollouts.jsonl"),
    ):
        for path in sorted(root.glob(pattern)):
            number = path.parent.name.rpartition("_")[2]
            if not number.isdigit() or (slow, int(number)) in done:
                continue
            rows = jsonl_rows(path)
            errors = sum(1 for r in rows if r.get("error"))
            failed, total = failed + errors, total + len(rows)
            if errors:
                label = f"epoch {int(number)} update" if slow else f"step {int(number)}"
                where.append(f"{errors} of {len(rows)} in {label}")
    return failed, total, where


def curve(rec: RunRecord) -> tuple[list[CurvePoint], float | None]:
    points: list[CurvePoint] = []
    start: float | None = None
    incumbent: float | None = None
    for s in rec.steps:
        g = s.gate
        cand = g.candidate_mean if g is not None else None
        if g is not None and start is None and incumbent is None:
            start = g.current_mean
        if g is not None:
            incumbent = g.candidate_mean if s.adopted else g.current_mean
        where = "epoch-end update" if s.kind == "slow_update" else f"step {s.step}"
        label = f"{where}: " + (
            f"candidate {cand:.3f} vs current {g.current_mean:.3f}: "
            + ("adopted" if s.adopted else "rejected")
            if g is not None and cand is not None and g.current_mean is not None
            else (s.note or "no gate")
        )
        x = s.step + (0.5 if s.kind == "slow_update" else 0.0)
        points.append(
            CurvePoint(
                x=x,
                incumbent=incumbent,
                candidate=cand,
                adopted=s.adopted,
                kind=s.kind,
                train=s.train_score,
                label=label,
            )
        )
    return points, start


# The lineage lives in its own module; the pages reach it through this one.
from skillfit.dashboard.lineage import (  # noqa: E402
    Reading,
    TrajRow,
    Unit,
    Version,
    behind_edit,
    skill_refs,
    skill_text,
    unit_dir,
    units,
    versions,
)

__all__ = [
    "Reading",
    "RunRow",
    "TrajRow",
    "Unit",
    "Version",
    "behind_edit",
    "curve",
    "live_phase",
    "load",
    "run_row",
    "skill_refs",
    "skill_text",
    "unit_dir",
    "units",
    "versions",
    "wall_seconds",
]
