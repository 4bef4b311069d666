"""Measuring a skill: accuracy over items × samples with a Wilson interval, and paired
comparisons of two skills on the same items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skillfit.core.stats import paired_difference, wilson_interval
from skillfit.harness import Harness, bind_harness
from skillfit.models.base import ChatModel
from skillfit.tasks.base import Item, Task, Trajectory
from skillfit.train.rollout import RolloutJob, rollout_one, thread_map, trajectory_record

if TYPE_CHECKING:
    from skillfit.train.executor import Executor


@dataclass
class EvalResult:
    """How one skill did on a list of items. Infra errors are excluded from every figure."""

    name: str
    n_items: int
    samples: int
    correct: int  # solved (item, sample) rollouts
    scored: int  # (item, sample) rollouts that finished
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    n_errors: int
    per_item: dict[str, list[int | None]] = field(default_factory=dict)  # hard score per sample
    confidence: float = 0.95
    # Form apart from substance: scored rollouts whose reply had the task's answer format, and
    # how many of those were right (None when the task does not say what is formatted).
    formatted: int | None = None
    correct_formatted: int | None = None
    # What the evaluation cost, when it was measured (`skillfit.evaluate`): tokens summed over
    # every rollout (prompt, completion, cached) and seconds of wall clock.
    tokens: dict[str, int] | None = None
    seconds: float | None = None
    # Scored rollouts whose agent was stopped at the harness's wall-clock limit (scored 0: the
    # target failed; an agent CLI's `target.cli_timeout` raises the limit).
    timed_out: int = 0

    @property
    def format_rate(self) -> float | None:
        return self.formatted / self.scored if self.formatted is not None and self.scored else None

    @property
    def formatted_accuracy(self) -> float | None:
        if not self.formatted or self.correct_formatted is None:
            return None
        return self.correct_formatted / self.formatted

    def item_means(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for item_id, scores in self.per_item.items():
            ok = [s for s in scores if s is not None]
            out[item_id] = sum(ok) / len(ok) if ok else None
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_items": self.n_items,
            "samples": self.samples,
            "correct": self.correct,
            "scored": self.scored,
            "accuracy": self.accuracy,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "n_errors": self.n_errors,
            "timed_out": self.timed_out,
            "formatted": self.formatted,
            "correct_formatted": self.correct_formatted,
            "format_rate": self.format_rate,
            "formatted_accuracy": self.formatted_accuracy,
            "per_item": self.per_item,
            # Only when measured, so stored results (golden files, transfer.json) keep their form.
            **({"tokens": self.tokens} if self.tokens is not None else {}),
            **({"seconds": round(self.seconds, 3)} if self.seconds is not None else {}),
        }

    def line(self) -> str:
        """`0.433 [0.31, 0.56] (26/60)` for summaries."""
        if self.accuracy is None:
            return "n/a (no rollout finished)"
        return (
            f"{self.accuracy:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}] "
            f"({self.correct}/{self.scored})"
        )


def evaluate_skill(
    task: Task,
    model: ChatModel,
    skill: str,
    items: Sequence[Item],
    *,
    samples: int = 1,
    concurrency: int = 1,
    name: str = "skill",
    confidence: float = 0.95,
    harness: str | Harness | None = None,
    executor: Executor | None = None,
) -> tuple[EvalResult, list[Trajectory]]:
    """Run every item `samples` times (sample indices 0..samples-1) with `skill`, under
    `harness` when given (else the harness `task` is bound to); through `executor` when given
    (a run's: it holds the task and model), else on `concurrency` threads here."""
    samples = max(1, samples)
    jobs = [(item, s) for item in items for s in range(samples)]
    if executor is not None:
        if harness is not None:
            raise ValueError("evaluate_skill: an executor runs its own task's harness")
        trajs = executor.run([RolloutJob(skill, item, s) for item, s in jobs])
    else:
        if harness is not None:
            task = bind_harness(task, harness)
        trajs = thread_map(concurrency)(
            lambda job: rollout_one(task, model, skill, job[0], job[1]), jobs
        )
    per_item: dict[str, list[int | None]] = {item.id: [] for item in items}
    for (item, _), traj in zip(jobs, trajs, strict=True):
        per_item[item.id].append(traj.score.hard if traj.ok and traj.score else None)
    flat = [s for scores in per_item.values() for s in scores]
    scored = [s for s in flat if s is not None]
    correct = sum(scored)
    low: float | None = None
    high: float | None = None
    acc: float | None = None
    if scored:
        low, high = wilson_interval(correct, len(scored), confidence)
        acc = correct / len(scored)
    marked = [t.score for t in trajs if t.ok and t.score is not None]
    formatted = correct_formatted = None
    if marked and all(sc.formatted is not None for sc in marked):
        formatted = sum(1 for sc in marked if sc.formatted)
        correct_formatted = sum(sc.hard for sc in marked if sc.formatted)
    result = EvalResult(
        name=name,
        n_items=len(items),
        samples=samples,
        correct=correct,
        scored=len(scored),
        accuracy=acc,
        ci_low=low,
        ci_high=high,
        n_errors=len(flat) - len(scored),
        per_item=per_item,
        confidence=confidence,
        formatted=formatted,
        correct_formatted=correct_formatted,
        timed_out=sum(1 for t in trajs if t.ok and t.timed_out),
    )
    return result, trajs


def compare(a: EvalResult, b: EvalResult, confidence: float = 0.95) -> dict[str, Any]:
    """Paired difference a − b over items both measured (per-item mean over samples)."""
    ma, mb = a.item_means(), b.item_means()
    ids = [i for i in ma if ma[i] is not None and mb.get(i) is not None]
    xs = [float(ma[i]) for i in ids]  # type: ignore[arg-type]
    ys = [float(mb[i]) for i in ids]  # type: ignore[arg-type]
    out: dict[str, Any] = {"a": a.name, "b": b.name, "n": len(ids), "confidence": confidence}
    if not ids:
        out.update(mean_diff=None, ci_low=None, ci_high=None, p_value=None)
        return out
    paired = paired_difference(xs, ys, confidence)
    out.update(
        mean_diff=paired.mean_diff,
        ci_low=paired.ci_low,
        ci_high=paired.ci_high,
        p_value=paired.p_value,
        wins=paired.wins,
        losses=paired.losses,
        ties=paired.ties,
    )
    return out


def trajectory_rows(items: Sequence[Item], samples: int, trajs: Sequence[Trajectory]) -> list[Any]:
    jobs = [item for item in items for _ in range(max(1, samples))]
    return [trajectory_record(t, it) for it, t in zip(jobs, trajs, strict=True)]
