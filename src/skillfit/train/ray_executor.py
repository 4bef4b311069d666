"""`runtime.executor: ray`: rollouts as remote tasks on a Ray cluster (`pip install
'skillfit[ray]'`). Imported only when a run asks for Ray, so Ray stays optional.

For a batch of jobs the driver first replays each one against the run's response cache (see
skillfit.train.remote): a rollout the cache answers in full stays here. The rest go to the
cluster in chunks of `runtime.ray.chunk_size`, each remote task reserving
`runtime.ray.num_cpus` (and GPUs, memory, custom resources) and rebuilding the task and target
from the run's `RolloutSpec`. Results come back keyed by the job's index; the driver keeps
each once, stores its new replies in the cache and accounts its calls in the ledger, so the
cache keys, the accounting and the order of results are those of a local run. A task whose
worker dies is rerun by Ray (`runtime.ray.max_retries`); only the run that returns counts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from skillfit.core.errors import InfraFailure
from skillfit.models import Ledger
from skillfit.models.cache import ReplyStore
from skillfit.tasks.base import Trajectory
from skillfit.train.remote import (
    ItemCalls,
    ItemResult,
    RolloutSpec,
    replay_events,
    run_chunk,
    unit_for,
)
from skillfit.train.rollout import RolloutJob, thread_map

# Settings a worker must share with the driver for the same replies and cache keys (how the
# embedded model decodes); never a key. Forwarded to the workers when set here.
_SHARED_ENV = (
    "SKILLFIT_LOCAL_DECODING",
    "SKILLFIT_LOCAL_SLOTS",
    "SKILLFIT_LOCAL_UBATCH",
    "SKILLFIT_MAX_IN_FLIGHT",
)


class RayExecutor:
    name = "ray"

    def __init__(
        self,
        spec: RolloutSpec,
        settings: Any,  # RayConfig
        *,
        cache: ReplyStore | None = None,
        ledger: Ledger | None = None,
        concurrency: int = 1,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.cache = cache
        self.ledger = ledger
        self.concurrency = max(1, int(concurrency))
        self._remote: Any = None
        self._spec_ref: Any = None
        self._started = False  # whether this executor started Ray (and so stops it)

    # ---- the cluster ----------------------------------------------------------------------

    def _connect(self) -> Any:
        import ray

        if self._remote is not None:
            return ray
        if not ray.is_initialized():
            address = self.settings.address or os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, log_to_driver=False)
            else:  # a Ray of this run's own, reachable from this machine only
                ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
            self._started = True
        options: dict[str, Any] = {
            "num_cpus": float(self.settings.num_cpus),
            "num_gpus": float(self.settings.num_gpus),
            "max_retries": int(self.settings.max_retries),
            # A task's own exception is a bug or a task error: it propagates, never reruns.
            "retry_exceptions": False,
        }
        if self.settings.memory:
            options["memory"] = int(self.settings.memory)
        if self.settings.resources:
            options["resources"] = dict(self.settings.resources)
        shared = {k: os.environ[k] for k in _SHARED_ENV if os.environ.get(k)}
        if shared:
            options["runtime_env"] = {"env_vars": shared}
        self._remote = ray.remote(run_chunk).options(**options)
        self._spec_ref = ray.put(self.spec)
        return ray

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
        self._remote = self._spec_ref = None

    # ---- a batch ----------------------------------------------------------------------------

    def run(self, jobs: Sequence[RolloutJob]) -> list[Trajectory]:
        jobs = list(jobs)
        results: list[Trajectory | None] = [None] * len(jobs)
        pending: list[tuple[int, RolloutJob, dict[str, dict[str, Any]]]] = []
        if self.cache is not None and jobs:
            replay = unit_for(self.spec, replay=True)
            cache = self.cache

            def look(index: int) -> tuple[ItemCalls, Trajectory]:
                calls = ItemCalls(source=cache)
                return calls, replay.run(jobs[index], calls)

            for index, (calls, traj) in enumerate(
                thread_map(self.concurrency)(look, range(len(jobs)))
            ):
                if calls.missed:
                    pending.append((index, jobs[index], calls.hits))
                else:
                    self._land(ItemResult(index, traj, calls.made, calls.events), results)
        else:
            pending = [(i, job, {}) for i, job in enumerate(jobs)]
        if pending:
            self._dispatch(pending, results)
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # never: every job is landed or the batch raised
            raise RuntimeError(f"ray executor: no result for jobs {missing}")
        return [r for r in results if r is not None]

    def _dispatch(
        self,
        pending: list[tuple[int, RolloutJob, dict[str, dict[str, Any]]]],
        results: list[Trajectory | None],
    ) -> None:
        ray = self._connect()
        size = max(1, int(self.settings.chunk_size))
        waiting = [
            self._remote.remote(self._spec_ref, pending[k : k + size])
            for k in range(0, len(pending), size)
        ]
        try:
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    for res in _get(ray, ref):
                        self._land(res, results)
        finally:
            for ref in waiting:  # a batch that raised: stop what is still queued
                ray.cancel(ref, force=False)

    def _land(self, res: ItemResult, results: list[Trajectory | None]) -> None:
        """Keep one job's result: once, whatever retries ran it."""
        if results[res.index] is not None:
            return
        results[res.index] = res.trajectory
        if self.cache is not None:
            for key, model, value in res.made:
                self.cache.put(key, model, value)
        if self.ledger is not None:
            replay_events(self.ledger, res.events)


def _get(ray: Any, ref: Any) -> list[ItemResult]:
    """A task's results; a cluster failure (a worker dead past its retries, a lost node) is an
    InfraFailure, which stops the run resumably."""
    from ray import exceptions as rx

    try:
        return list(ray.get(ref))
    except rx.RayTaskError:  # the task's own exception (also an instance of its class)
        raise
    except rx.RayError as exc:
        raise InfraFailure(
            f"the Ray cluster lost a rollout task ({type(exc).__name__}: {exc}). Nothing of "
            "this unit was recorded: check the cluster, then run the same command again to "
            "resume from the last finished step."
        ) from None


__all__ = ["RayExecutor"]
