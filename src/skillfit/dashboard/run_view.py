"""The parts of a run's page computed from its record: the live part (status, progress,
figures, curve, steps) and the test results."""

from __future__ import annotations

from typing import Any

from skillfit.dashboard import view_model as vm
from skillfit.dashboard.charts import Bar, interval_bars, validation_curve
from skillfit.record import RunRecord


def live_view(name: str, rec: RunRecord, status: str, reason: str, stop: Any) -> dict[str, Any]:
    """What the live part of a run's page shows (refreshed in place while the run goes)."""
    points, start = vm.curve(rec)
    done = rec.global_step
    total = rec.total_steps or 0
    step_secs = [s.seconds for s in rec.steps if s.kind == "step" and s.seconds]
    eta = None
    if status == "running" and step_secs and total and done < total:
        eta = sum(step_secs) / len(step_secs) * (total - done)
    tokens_by_role: dict[str, int] = {}
    for s in rec.steps:
        for role, u in s.tokens.items():
            tokens_by_role[role] = tokens_by_role.get(role, 0) + u.tokens
    if rec.tokens:
        tokens_by_role = {role: u.tokens for role, u in rec.tokens.items()}
    cost = sum(u.cost for s in rec.steps for u in s.tokens.values())
    if rec.tokens:
        cost = sum(u.cost for u in rec.tokens.values())
    infra = sum(s.n_infra_errors + (s.gate.n_excluded if s.gate else 0) for s in rec.steps)
    if rec.test is not None:
        infra += sum(a.n_errors for a in rec.test.arms.values())
    lost, _, lost_where = vm.unrecorded_errors(rec)
    return {
        "cost": cost,
        "infra_errors": infra + lost,
        "infra_unrecorded": lost_where,
        "name": name,
        "status": status,
        "status_reason": reason,
        "phase": vm.live_phase(rec),
        "done": done,
        "total": total,
        "pct": int(100 * done / total) if total else (100 if status == "done" else 0),
        "epoch": rec.epoch,
        "tokens": vm.tokens_of(rec),
        "cache_hits": vm.cache_hits_of(rec),
        "tokens_by_role": tokens_by_role,
        "seconds": vm.wall_seconds(rec),
        "eta": eta,
        "best_val": rec.best_score,
        "best_version": rec.best_version,
        "adopted": len(rec.adopted_steps),
        "gated": sum(1 for s in rec.steps if s.gate is not None),
        "chart": validation_curve(points, start=start),
        "steps": rec.steps,
        "units": len(rec.steps),
        "best_skill": rec.best_skill,
        "last_activity": rec.last_activity,
        "refreshing": status == "running",
        "damaged": rec.damaged,
        "stop": stop,
    }


def test_view(rec: RunRecord) -> dict[str, Any] | None:
    """The test results table and chart of a run, if it has any."""
    if rec.test is None or not rec.test.arms:
        return None
    labels = {"none": "no skill", "initial": "initial skill", "best": "trained (best)"}
    arms: list[dict[str, Any]] = [
        {"key": key, "label": labels.get(key, key), "arm": arm}
        for key, arm in rec.test.arms.items()
    ]
    bars = [
        Bar(labels.get(key, key), arm.accuracy, arm.ci_low, arm.ci_high)
        for key, arm in rec.test.arms.items()
    ]
    return {
        "arms": arms,
        "comparisons": rec.test.comparisons,
        "chart": interval_bars(bars, title="test accuracy"),
    }
