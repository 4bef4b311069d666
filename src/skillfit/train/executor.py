"""Where rollouts run: the seam between what a run asks for (a skill rolled out on items) and
the machinery that runs them (`runtime.executor`).

    executor.run([RolloutJob(skill, item, sample), ...]) -> trajectories, in the jobs' order

`local` (the default) runs them on a thread pool of `train.concurrency` in this process.
`ray` (skillfit.train.ray_executor, `pip install 'skillfit[ray]'`) sends them to a Ray cluster
as remote tasks that rebuild the task and the target from plain specs
(skillfit.train.remote); the driver alone writes the run directory and the response cache.
A step's rollouts, the gate's evaluations and the test evaluation all go through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from skillfit.core.errors import TrainError
from skillfit.models.base import ChatModel
from skillfit.tasks.base import Item, Task, Trajectory
from skillfit.train.rollout import RolloutJob, rollout_one, thread_map


class Executor(Protocol):
    """Runs rollouts; results come back in the order of the jobs."""

    @property
    def name(self) -> str: ...

    def run(self, jobs: Sequence[RolloutJob]) -> list[Trajectory]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Rollouts on a fresh pool of `concurrency` threads, with the run's own (cached,
    accounted) target model: what every run did before executors existed."""

    name = "local"

    def __init__(self, task: Task, model: ChatModel, concurrency: int = 1) -> None:
        self.task = task
        self.model = model
        self.concurrency = max(1, int(concurrency))

    def run(self, jobs: Sequence[RolloutJob]) -> list[Trajectory]:
        task, model = self.task, self.model
        return thread_map(self.concurrency)(
            lambda job: rollout_one(task, model, job.skill, job.item, job.sample), jobs
        )

    def close(self) -> None:
        pass


def run_rollouts(
    executor: Executor, skill: str, items: Sequence[Item], sample: int = 0
) -> list[Trajectory]:
    """Every item once with `skill`; results in item order."""
    return executor.run([RolloutJob(skill, item, sample) for item in items])


def make_executor(
    runtime: Any,
    *,
    task: Task,
    model: ChatModel,
    concurrency: int,
    spec: Any = None,
    cache: Any = None,
    ledger: Any = None,
) -> Executor:
    """The executor `runtime` (a RuntimeConfig) names. Ray needs `spec` (a
    skillfit.train.remote.RolloutSpec: how a worker rebuilds the task and the target), and gets
    the run's response cache and ledger, which only the driver writes."""
    kind = getattr(runtime, "executor", "local")
    if kind == "local":
        return LocalExecutor(task, model, concurrency)
    if kind == "ray":
        if spec is None:
            raise TrainError("runtime.executor=ray needs the run's rollout spec")
        try:
            import ray  # noqa: F401
        except ImportError:
            raise TrainError(
                "runtime.executor=ray needs Ray: pip install 'skillfit[ray]'"
            ) from None
        from skillfit.train.ray_executor import RayExecutor

        return RayExecutor(spec, runtime.ray, cache=cache, ledger=ledger, concurrency=concurrency)
    raise TrainError(f"unknown runtime.executor {kind!r}: use local or ray")


__all__ = ["Executor", "LocalExecutor", "RolloutJob", "make_executor", "run_rollouts"]
