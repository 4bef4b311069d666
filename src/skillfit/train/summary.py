"""summary.json: what a run did, from its state and history (and the token totals)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skillfit.models.redact import redact
from skillfit.skill import Skill
from skillfit.train.state import RunState, StepRecord


def summarize(cfg: Any, state: RunState) -> dict[str, Any]:
    steps = [r for r in state.history if r.kind == "step"]
    tokens: dict[str, dict[str, float]] = {}
    for r in state.history:
        add_tokens(tokens, r.tokens)
    if state.test:
        add_tokens(tokens, state.test.get("tokens", {}))
    test = None
    if state.test:
        test = {k: v for k, v in state.test.items() if k not in ("tokens",)}
        for arm in ("none", "initial", "best"):
            if isinstance(test.get(arm), dict):
                test[arm] = {k: v for k, v in test[arm].items() if k != "per_item"}
    return {
        "run": getattr(cfg.run, "name", ""),
        "task": getattr(cfg.task, "name", ""),
        "target": redact(str(getattr(cfg.target, "model", ""))),
        "optimizer": redact(str(getattr(cfg.optimizer, "model", ""))),
        "phase": state.phase,
        "stopped": state.stopped,
        "epochs_done": state.epoch,
        "steps": state.global_step,
        "adoptions": sum(1 for r in state.history if r.adopted),
        "edits_proposed": sum(r.proposed for r in state.history),
        "edits_applied": sum(r.applied for r in state.history),
        "best_version": state.best_version,
        "best_val_score": state.best_score,
        "best_skill_tokens": Skill.parse(state.best_skill).n_tokens(),
        "train_scores": [r.train_score for r in steps],
        # Rollouts excluded for infrastructure errors (train batches, gates, test arms): a run
        # never hides how much of it went unscored.
        "infra_errors": sum(r.n_infra_errors + _gate_excluded(r) for r in state.history)
        + sum(int((test or {}).get(arm, {}).get("n_errors", 0)) for arm in _ARMS if test),
        # Rollouts whose agent CLI was stopped at its wall-clock limit (train batches, gates,
        # test arms), scored 0: the target failed them. Their tokens are a lower bound.
        "timed_out": timed_out(tokens),
        "cli_timeout": getattr(cfg.target, "cli_timeout", None),
        "val_outcomes_moved": outcomes_moved(state.history),
        "test": test,
        "tokens": tokens,
        "seconds": round(
            sum(r.seconds for r in state.history) + float((state.test or {}).get("seconds", 0.0)), 3
        ),
    }


_ARMS = ("none", "initial", "best")


def outcomes_moved(history: Sequence[StepRecord]) -> dict[str, int]:
    """Over the run's updates (one gate each: with `gate.candidates` > 1, the adopted
    candidate's or else the whole update's): validation items compared on both sides, and
    those whose outcome the candidate changed (won or lost). Few moved means the target hardly
    reacts to its skill, whatever the optimizer writes: training has no room on that target."""
    moved = compared = 0
    for r in history:
        gate = r.gate
        if gate is None or gate.wins is None or gate.losses is None:
            continue  # a gate recorded before these counts were kept
        moved += gate.wins + gate.losses
        compared += gate.n_compared or 0
    return {"moved": moved, "compared": compared}


def timed_out(tokens: Mapping[str, Mapping[str, float]]) -> int:
    """Agent-CLI runs stopped at the wall-clock limit, over every role of a token table."""
    return sum(int(stats.get("timed_out", 0)) for stats in tokens.values())


def _gate_excluded(record: StepRecord) -> int:
    return record.gate.n_excluded if record.gate is not None else 0


def token_delta(before: Any, after: Any) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for role, stats in (after or {}).items():
        prev = (before or {}).get(role, {})
        delta = {k: v - prev.get(k, 0) for k, v in stats.items() if isinstance(v, int | float)}
        if any(delta.values()):
            out[role] = {k: round(v, 6) if isinstance(v, float) else v for k, v in delta.items()}
    return out


def add_tokens(total: dict[str, dict[str, float]], part: Mapping[str, Mapping[str, float]]) -> None:
    # Counts stay integers (round() of an int is that int); seconds and cost are rounded.
    for role, stats in part.items():
        acc = total.setdefault(role, {})
        for k, v in stats.items():
            acc[k] = round(acc.get(k, 0) + v, 6)
