"""Rollouts rebuilt from plain specs, for an executor that runs them in another process (a Ray
worker), and the record of every model call they make.

A `RolloutSpec` is all a worker gets: the task by name and options, the harness by name, the
target by its model string. It never holds a key: API models read theirs from the worker's
environment. A worker builds what the spec names once per process (`unit_for`: an embedded
`local:` model starts one server per worker process) and runs each job with an `ItemCalls`:
the replies the driver's response cache already holds for it (`hits`), and what the rollout
did with the models — the new replies (`made`) and one event per call, cache hit or error
(`events`). The driver stores `made` in its cache and replays `events` into its ledger, so the
cache and the accounting are what a local run leaves.

The same unit built with `replay=True` runs on the driver against the run's cache alone
(`Unreachable` stands in for the provider): a rollout the cache answers in full never leaves
the driver; one that misses goes to a worker with the hits it met on the way.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillfit.harness import bind_harness, prepare_run
from skillfit.models import Ledger
from skillfit.models.base import ChatModel, InfraError, Message, Reply, ResponseFormat, Usage
from skillfit.models.cache import ReplyStore
from skillfit.models.registry import get_provider
from skillfit.models.stack import wrap
from skillfit.models.wrapper import ModelWrapper
from skillfit.skill import SkillDir
from skillfit.tasks import Task, get_task
from skillfit.tasks.base import Trajectory
from skillfit.tasks.plugins import import_task_modules
from skillfit.train.rollout import RolloutJob, rollout_one


@dataclass(frozen=True)
class TaskSpec:
    """A task as `get_task(name, **options)` builds it, after importing `modules` (the user's
    task modules, relative to `base_dir`)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    modules: str | tuple[str, ...] | None = None
    base_dir: str | None = None

    def build(self) -> Task:
        modules = list(self.modules) if isinstance(self.modules, tuple) else self.modules
        import_task_modules(modules, self.base_dir)
        return get_task(self.name, **dict(self.options))


@dataclass(frozen=True)
class RolloutSpec:
    """What a worker rebuilds a run's rollouts from: plain data, no key, no live object."""

    task: TaskSpec
    harness: str
    target: str  # the target's model string
    skill_dir: SkillDir | None = None  # what an agent-CLI harness installs with each skill
    timeout: float | None = None  # an agent-CLI harness's wall-clock limit (target.cli_timeout)

    def digest(self) -> str:
        return hashlib.sha256(pickle.dumps(self)).hexdigest()


# ---- the record of a rollout's model calls ----------------------------------------------------


def _usable(value: Mapping[str, Any] | None) -> bool:
    return isinstance(value, Mapping) and bool(str(value.get("text") or "").strip())


@dataclass
class ItemCalls:
    """One rollout's replies and calls. A `ReplyStore` for the cache layer of its models:
    `hits` are served first, then `source` (the driver's own cache, when replaying there);
    what a model answers anew goes to `made`."""

    hits: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: ReplyStore | None = None
    made: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # ("call", role, model, usage, seconds, key, timed_out) | ("hit", role, key, usage)
    # | ("error", role, seconds)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    missed: bool = False  # replay only: a call the driver's cache could not answer
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            if key in self.hits:
                return self.hits[key]
        value = self.source.get(key) if self.source is not None else None
        if value is not None:
            with self.lock:
                self.hits[key] = value
        return value

    def put(self, key: str, model: str, value: dict[str, Any]) -> None:
        if not _usable(value):
            return  # an empty reply is never stored, here as in the cache
        with self.lock:
            self.made.append((key, model, value))
            self.hits[key] = value

    def event(self, *event: Any) -> None:
        with self.lock:
            self.events.append(event)


class CallLog(Ledger):
    """A ledger that keeps each call as an event of the current rollout's `ItemCalls`
    (`calls()`: the fixed record of a target, or the current thread's for a task's judge)."""

    def __init__(self, calls: Callable[[], ItemCalls]) -> None:
        super().__init__()
        self._calls = calls

    @property
    def wants_keys(self) -> bool:
        return True

    def record(
        self,
        role: str,
        model: str,
        reply: Reply,
        seconds: float | None = None,
        *,
        key: str | None = None,
        timed_out: bool = False,
    ) -> None:
        took = reply.latency if seconds is None else seconds
        self._calls().event("call", role, model, reply.usage, took, key, timed_out)

    def record_hit(self, role: str, key: str | None = None, reply: Reply | None = None) -> None:
        # The hit's usage travels too: the driver counts a hit's tokens against a token budget.
        self._calls().event("hit", role, key, reply.usage if reply is not None else None)

    def record_error(self, role: str, seconds: float = 0.0) -> None:
        self._calls().event("error", role, seconds)


def replay_events(ledger: Ledger, events: Sequence[tuple[Any, ...]]) -> None:
    """Account a rollout's calls in the driver's ledger, as a local run would have."""
    for event in events:
        kind, role = event[0], event[1]
        if kind == "hit":
            usage = event[3] if len(event) > 3 else None
            hit = Reply(text="", usage=usage) if isinstance(usage, Usage) else None
            ledger.record_hit(role, key=event[2], reply=hit)
        elif kind == "error":
            ledger.record_error(role, float(event[2]))
        else:
            _, _, model, usage, seconds, key, *rest = event
            reply = Reply(text="", usage=usage if isinstance(usage, Usage) else Usage())
            ledger.record(role, model, reply, float(seconds), key=key, timed_out=any(rest))


class CacheMiss(InfraError):
    """Replay on the driver met a call its cache cannot answer: the rollout goes to a worker."""


class Unreachable(ModelWrapper):
    """A provider's name and cache namespace, and no calls: each one marks the rollout missed."""

    def __init__(self, inner: ChatModel, calls: Callable[[], ItemCalls]) -> None:
        super().__init__(inner)
        self._calls = calls

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        response_format: ResponseFormat | None = None,
        sample: int = 0,
    ) -> Reply:
        self._calls().missed = True
        raise CacheMiss("not in the run's response cache")


# ---- a worker's unit: what the spec names, built once per process ----------------------------


class Unit:
    """The task (bound to its harness) and target provider a spec names, in this process."""

    def __init__(self, spec: RolloutSpec, *, replay: bool) -> None:
        self.replay = replay
        self._current = threading.local()  # the ItemCalls of the rollout this thread runs
        task = spec.task.build()
        bind = getattr(task, "bind_models", None)
        if callable(bind):  # a task's own models (an LLM judge) are called from the rollout
            bind(lambda model_spec, role: self._model(model_spec, role, self._thread_calls))
        self.task = bind_harness(task, spec.harness, skill_dir=spec.skill_dir, timeout=spec.timeout)
        self.target_spec = spec.target
        self._providers: dict[str, tuple[ChatModel, threading.BoundedSemaphore | None]] = {}
        self._lock = threading.Lock()
        self._prepared = False

    def _thread_calls(self) -> ItemCalls:
        calls: ItemCalls | None = getattr(self._current, "calls", None)
        if calls is None:
            raise RuntimeError("a task's model was called outside of a rollout")
        return calls

    def _provider(self, spec: str) -> tuple[ChatModel, threading.BoundedSemaphore | None]:
        with self._lock:
            if spec not in self._providers:
                self._providers[spec] = get_provider(spec)
            return self._providers[spec]

    def _model(self, spec: str, role: str, calls: Callable[[], ItemCalls]) -> ChatModel:
        provider, semaphore = self._provider(spec)
        log = CallLog(calls)
        if self.replay:
            # No retries: nothing is called, a miss is final.
            from skillfit.models.accounting import AccountedModel
            from skillfit.models.cache import CachedModel

            routed = _Routed(calls)
            inner: ChatModel = AccountedModel(Unreachable(provider, calls), log, role=role)
            return CachedModel(
                inner, routed, on_hit=lambda reply, key: log.record_hit(role, key=key, reply=reply)
            )
        return wrap(provider, role=role, cache=_Routed(calls), ledger=log, semaphore=semaphore)

    def run(self, job: RolloutJob, calls: ItemCalls) -> Trajectory:
        model = self._model(self.target_spec, "target", lambda: calls)
        with self._lock:
            if not self._prepared and not self.replay:
                prepare_run(self.task, model)
                self._prepared = True
        self._current.calls = calls
        try:
            return rollout_one(self.task, model, job.skill, job.item, job.sample)
        finally:
            self._current.calls = None


class _Routed:
    """The ReplyStore of one rollout's models: its ItemCalls."""

    def __init__(self, calls: Callable[[], ItemCalls]) -> None:
        self._calls = calls

    def get(self, key: str) -> dict[str, Any] | None:
        return self._calls().get(key)

    def put(self, key: str, model: str, value: dict[str, Any]) -> None:
        self._calls().put(key, model, value)


_units: dict[tuple[str, bool], Unit] = {}
_units_lock = threading.Lock()


def unit_for(spec: RolloutSpec, *, replay: bool = False) -> Unit:
    """This process's unit for `spec` (built on first use, then kept)."""
    key = (spec.digest(), replay)
    with _units_lock:
        if key not in _units:
            _units[key] = Unit(spec, replay=replay)
        return _units[key]


@dataclass
class ItemResult:
    """What a worker sends back for one job: its index in the driver's list, the trajectory,
    the new replies for the cache and the call events for the ledger."""

    index: int
    trajectory: Trajectory
    made: list[tuple[str, str, dict[str, Any]]]
    events: list[tuple[Any, ...]]


def run_chunk(
    spec: RolloutSpec, chunk: Sequence[tuple[int, RolloutJob, dict[str, dict[str, Any]]]]
) -> list[ItemResult]:
    """A remote task: run each (index, job, hits) of `chunk` in turn in this process."""
    unit = unit_for(spec)
    out = []
    for index, job, hits in chunk:
        calls = ItemCalls(hits=dict(hits))
        traj = unit.run(job, calls)
        out.append(ItemResult(index, traj, calls.made, calls.events))
    return out


__all__ = [
    "CallLog",
    "ItemCalls",
    "ItemResult",
    "RolloutSpec",
    "TaskSpec",
    "replay_events",
    "run_chunk",
    "unit_for",
]
