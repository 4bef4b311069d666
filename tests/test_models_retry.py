"""Retries and limits: transient failures are retried with backoff, then become InfraError;
schema failures are retried, then SchemaValidationError; a wrong answer is never retried."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from pydantic import BaseModel
from waits import HANG_S

from skillfit.models import (
    InfraError,
    Reply,
    RetryPolicy,
    SchemaValidationError,
    ScriptedModel,
    wrap,
)
from skillfit.models.base import Message
from skillfit.models.retry import RetryingModel, TransientError
from skillfit.models.scripted import Request

MSGS: list[Message] = [{"role": "user", "content": "hi"}]
FAST = RetryPolicy(attempts=4, schema_attempts=3, base_delay=0.0, max_delay=0.0)


class Answer(BaseModel):
    value: int


def _flaky(failures: int, error: Exception) -> ScriptedModel:
    state = {"n": 0}

    def fn(r: Request) -> str:
        state["n"] += 1
        if state["n"] <= failures:
            raise error
        return "ok"

    return ScriptedModel(fn, name="scripted:flaky")


def test_transient_failures_are_retried_until_success() -> None:
    inner = _flaky(2, TransientError("HTTP 503"))
    reply = wrap(inner, policy=FAST).complete(MSGS)
    assert reply.text == "ok" and len(inner.calls) == 3


def test_persistent_transient_failure_becomes_infra_error() -> None:
    inner = _flaky(99, TransientError("timed out"))
    with pytest.raises(InfraError, match="giving up after 4 attempts") as info:
        wrap(inner, policy=FAST).complete(MSGS)
    assert not isinstance(info.value, TransientError)
    assert len(inner.calls) == 4


def test_non_transient_error_is_not_retried() -> None:
    inner = _flaky(99, InfraError("HTTP 400: bad request"))
    with pytest.raises(InfraError, match="400"):
        wrap(inner, policy=FAST).complete(MSGS)
    assert len(inner.calls) == 1


def test_schema_failure_is_retried_then_raised() -> None:
    inner = ScriptedModel(lambda r: "not json at all", name="scripted:bad")
    with pytest.raises(SchemaValidationError):
        wrap(inner, policy=FAST).complete(MSGS, response_format=Answer)
    assert len(inner.calls) == 3


def test_schema_failure_then_valid_reply() -> None:
    replies = iter(["{broken", '{"value": 7}'])
    inner = ScriptedModel(lambda r: next(replies), name="scripted:fix")
    reply = wrap(inner, policy=FAST).complete(MSGS, response_format=Answer)
    assert reply.parsed == Answer(value=7)


def test_backoff_grows_and_respects_retry_after() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    for attempt in range(1, 6):
        assert 0 <= policy.delay(attempt) <= min(30.0, 2 ** (attempt - 1))
    assert policy.delay(1, retry_after=5.0) >= 5.0
    assert policy.delay(1, retry_after=500.0) <= 30.0


def test_sleeps_between_attempts() -> None:
    slept: list[float] = []
    model = RetryingModel(
        _flaky(3, TransientError("429", retry_after=2.0)),
        policy=RetryPolicy(attempts=5, base_delay=0.1, max_delay=10),
        sleep=slept.append,
    )
    assert model.complete(MSGS).text == "ok"
    assert len(slept) == 3 and all(s >= 2.0 for s in slept)


class _Concurrency:
    """A model that records how many calls overlap."""

    name = "scripted:slow"

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self._lock = threading.Condition()

    def complete(self, messages: Sequence[Message], **kwargs: object) -> Reply:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self._lock.notify_all()
            # Calls overlap because each waits for a second one, not for a while: with a
            # limit of 2 the peak is 2 however the threads are scheduled.
            assert self._lock.wait_for(lambda: self.peak >= 2, timeout=HANG_S)
            self.active -= 1
        return Reply(text="done")


def test_semaphore_limits_requests_in_flight() -> None:
    inner = _Concurrency()
    model = wrap(inner, semaphore=threading.BoundedSemaphore(2))  # type: ignore[arg-type]
    threads = [threading.Thread(target=model.complete, args=(MSGS,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.peak == 2
