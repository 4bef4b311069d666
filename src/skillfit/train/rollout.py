"""Forward pass: the target model runs items with a skill, concurrently, keeping whole
trajectories. Infrastructure failures stay marked as such and never count as wrong answers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from skillfit.harness import Harness, bind_harness, harness_name
from skillfit.models.base import ChatModel, InfraError
from skillfit.models.redact import redact
from skillfit.tasks.base import Item, LoopTask, Task, Trajectory

T = TypeVar("T")
R = TypeVar("R")

MapFn = Callable[[Callable[[T], R], Iterable[T]], list[R]]


def thread_map(concurrency: int) -> Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]]:
    """An order-preserving parallel map over a fresh pool of `concurrency` threads."""

    def map_fn(fn: Callable[[Any], Any], xs: Iterable[Any]) -> list[Any]:
        xs = list(xs)
        if concurrency <= 1 or len(xs) <= 1:
            return [fn(x) for x in xs]
        with ThreadPoolExecutor(max_workers=min(concurrency, len(xs))) as pool:
            return list(pool.map(fn, xs))

    return map_fn


@dataclasses.dataclass(frozen=True)
class RolloutJob:
    """One rollout: `skill` on `item`, sample index `sample` (plain, picklable data that an
    executor may run in another process)."""

    skill: str
    item: Item
    sample: int = 0


def rollout_one(
    task: Task,
    model: ChatModel,
    skill: str,
    item: Item,
    sample: int,
    *,
    harness: str | Harness | None = None,
) -> Trajectory:
    """One rollout; an InfraError that escapes the task becomes an errored trajectory.

    The single call site of training, the gate and evaluation. The harness is `harness` when
    given, else the one `task` is bound to (`skillfit.harness.bind_harness`: the app binds the
    run's `target.harness`), else the task's default one; a task with its own loop rolls out
    itself."""
    start = time.perf_counter()
    if harness is not None or not isinstance(task, LoopTask):
        # A task that gives environments is run by a harness: `harness`, else its own default.
        task = bind_harness(task, harness if harness is not None else harness_name(task))
    assert isinstance(task, LoopTask)
    try:
        return task.rollout(model, skill, item, sample=sample)
    except InfraError as exc:
        return Trajectory(
            item_id=item.id,
            messages=[],
            error=redact(f"{type(exc).__name__}: {exc}"),
            seconds=time.perf_counter() - start,
            sample=sample,
        )


def trajectory_record(traj: Trajectory, item: Item | None = None) -> dict[str, Any]:
    """A JSON-ready row for rollouts.jsonl (an error's text redacted: a provider may echo the
    request's headers or URL in it)."""
    row = dataclasses.asdict(traj)
    if row.get("error"):
        row["error"] = redact(str(row["error"]))
    row["ok"] = traj.ok
    if item is not None:
        row["input"] = item.input
        row["target"] = item.target
    return row


def mean_hard(trajs: Sequence[Trajectory]) -> float | None:
    """Mean hard score over trajectories that finished; None when none did."""
    scores = [t.score.hard for t in trajs if t.ok and t.score is not None]
    return sum(scores) / len(scores) if scores else None
