"""Issue 10, items 3 and 6: every transport or decoding failure of a model server is an
infrastructure error (retried, then `InfraError`), never an exception of another kind and never
a wrong answer; an empty reply is an infrastructure error and is never cached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from faultserver import FAULTS, FaultServer
from waits import HANG_S

from skillfit.models import InfraError, Ledger, ResponseCache, RetryPolicy, wrap
from skillfit.models.openai_compat import OpenAIChatModel

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
MSGS = [{"role": "user", "content": "What is 2 plus 2?"}]
# Faults a working request can hit; echo_401 is a refusal, not a fault to retry.
RETRIED = [f for f in FAULTS if f != "echo_401"]


# A hung request ends only by the client's own timeout, so that one is short; every other
# request gets a bound that only a hang reaches, so a slow machine never times out an answer.
HUNG_S = 1.0


def model_at(url: str, *, timeout: float = HANG_S, **kw: Any) -> Any:
    return wrap(_inner(url, timeout), policy=FAST, **kw)


def _inner(url: str, timeout: float) -> OpenAIChatModel:
    client = openai.OpenAI(api_key="sk-test-0000", base_url=f"{url}/v1", max_retries=0)
    return OpenAIChatModel("openai:fake", "fake", client, timeout=timeout)


@pytest.mark.parametrize("fault", RETRIED)
def test_a_fault_then_a_good_answer_is_retried(fault: str) -> None:
    inner: list[OpenAIChatModel] = []

    def plan(n: int, body: dict[str, Any]) -> Any:
        if n == 0:
            # The faulty request already runs on its short timeout; the retry may take its time.
            inner[0].timeout = HANG_S
            return fault
        return ("ok", "4")

    with FaultServer(plan) as server:
        inner.append(_inner(server.url, HUNG_S if fault == "hang" else HANG_S))
        reply = wrap(inner[0], policy=FAST).complete(MSGS)
    assert reply.text == "4"
    assert server.served == [fault, "ok"]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_persistent_fault_is_an_infra_error(fault: str) -> None:
    ledger = Ledger()
    timeout = HUNG_S if fault == "hang" else HANG_S
    with FaultServer(lambda n, body: fault) as server, pytest.raises(InfraError):
        model_at(server.url, timeout=timeout, ledger=ledger, role="target").complete(MSGS)
    attempts = 1 if fault == "echo_401" else FAST.attempts
    assert len(server.requests) == attempts
    assert ledger.snapshot()["target"]["errors"] == 1


@pytest.mark.parametrize("fault", ["null_content", "blank_content", "empty_choices"])
def test_an_empty_reply_is_never_cached(fault: str, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    with (
        FaultServer(lambda n, body: fault) as server,
        pytest.raises(InfraError, match="empty reply|no choices"),
    ):
        model_at(server.url, cache=cache).complete(MSGS)
    assert len(cache) == 0
    # Once the server answers, the answer is used (and only then stored).
    with FaultServer(lambda n, body: ("ok", "4")) as server:
        assert model_at(server.url, cache=cache).complete(MSGS).text == "4"
    assert len(cache) == 1


def test_an_empty_record_from_an_older_cache_is_not_served(tmp_path: Path) -> None:
    from skillfit.models.cache import CachedModel, cache_key

    cache = ResponseCache(tmp_path / "c.sqlite")
    key = cache_key(
        "openai:fake", MSGS, max_tokens=512, temperature=0.0, response_format=None, sample=0
    )
    record = {"text": "", "usage": {}, "latency": 0, "model": "x", "finish_reason": "stop"}
    cache._connect().execute(
        "INSERT INTO replies (key, model, value, created) VALUES (?, 'x', ?, 0)",
        (key, __import__("json").dumps(record)),
    )
    assert cache.get(key) is None
    with FaultServer(lambda n, body: ("ok", "4")) as server:
        model = model_at(server.url)
        assert CachedModel(model, cache).complete(MSGS).text == "4"
