"""Issue 23: a model call has a total deadline and a cap on its reply's size, and keys a server
echoes in a reply are masked before the reply is stored. Loopback fault server only."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from faultserver import DRIP_S, FaultServer

from skillfit.models import InfraError, Ledger, ResponseCache, RetryPolicy, wrap
from skillfit.models.anthropic_provider import AnthropicChatModel
from skillfit.models.limits import has_limits, limited_http_client, reply_cap
from skillfit.models.openai_compat import OpenAIChatModel
from skillfit.models.registry import _build, parse_spec

ONCE = RetryPolicy(attempts=1, base_delay=0.0, max_delay=0.0)
MSGS = [{"role": "user", "content": "What is 2 plus 2?"}]
MARGIN = 1.5  # seconds past the deadline a loaded machine may take to notice it
# A fake key, assembled so the source holds nothing shaped like a real one.
ENV_KEY = "sk-" + "limitsenv0123456789abcdef"
URL_KEY = "Zq8limits-url-secret-77"


def openai_model(url: str, timeout: float, key: str = "sk-test-0000") -> OpenAIChatModel:
    client = openai.OpenAI(
        api_key=key, base_url=f"{url}/v1", max_retries=0, http_client=limited_http_client(openai)
    )
    return OpenAIChatModel("openai:fake", "fake", client, timeout=timeout)


@pytest.mark.parametrize("fault", ["drip", "drip_headers"])
def test_a_dripping_server_fails_by_the_deadline(fault: str) -> None:
    """Before: one byte every 0.3 s held a call with timeout=3 for 85 s."""
    with FaultServer(lambda n, body: fault) as server:
        started = time.perf_counter()
        with pytest.raises(InfraError, match="timed out"):
            wrap(openai_model(server.url, 3.0), policy=ONCE).complete(MSGS)
        took = time.perf_counter() - started
    assert 3.0 - DRIP_S <= took <= 3.0 + MARGIN, took


def test_the_anthropic_client_has_the_deadline_too() -> None:
    with FaultServer(lambda n, body: "drip_headers") as server:
        client = anthropic.Anthropic(
            api_key="sk-ant-test-0000",
            base_url=server.url,
            max_retries=0,
            http_client=limited_http_client(anthropic),
        )
        started = time.perf_counter()
        with pytest.raises(InfraError, match="timed out"):
            wrap(
                AnthropicChatModel("anthropic:fake", "fake", client, timeout=2.0), policy=ONCE
            ).complete(MSGS)
        assert time.perf_counter() - started <= 2.0 + MARGIN


def test_a_slow_answer_inside_the_deadline_is_read() -> None:
    # a body of ~300 bytes dripped at 0.3 s would take 90 s; a short one arrives in time
    with FaultServer(lambda n, body: ("ok", "4")) as server:
        assert wrap(openai_model(server.url, 3.0), policy=ONCE).complete(MSGS).text == "4"


def test_a_huge_reply_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    """Before: 10 MB per call (usage "3 tokens", max_tokens 256) was stored as is."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    ledger = Ledger()
    policy = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
    with FaultServer(lambda n, body: "huge") as server:
        model = wrap(openai_model(server.url, 60.0), policy=policy, cache=cache, ledger=ledger)
        with pytest.raises(InfraError, match=f"larger than {reply_cap(256)} bytes"):
            model.complete(MSGS, max_tokens=256)
    assert len(server.requests) == 1  # refused, not retried: the server would send it again
    assert len(cache) == 0 and ledger.snapshot()["default"]["errors"] == 1


def test_the_cap_grows_with_max_tokens() -> None:
    assert reply_cap(1) == reply_cap(256) == 2**20
    assert reply_cap(32_768) == 256 * 32_768


def test_keys_echoed_in_a_reply_are_masked_before_it_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    echo = f"4. (Your keys: {ENV_KEY} and {URL_KEY}; client key sk-client-key-12345678.)"
    cache = ResponseCache(tmp_path / "c.sqlite")
    with FaultServer(lambda n, body: ("ok", echo)) as server:
        url = server.url.replace("http://", f"http://user:{URL_KEY}@")
        model = wrap(
            openai_model(url, 60.0, key="sk-client-key-12345678"), policy=ONCE, cache=cache
        )
        reply = model.complete(MSGS)
    for secret in (ENV_KEY, URL_KEY, "sk-client-key-12345678"):
        assert secret not in reply.text
    assert reply.text.startswith("4. (Your keys: ***")
    stored = (tmp_path / "c.sqlite").read_bytes()
    assert ENV_KEY.encode() not in stored and URL_KEY.encode() not in stored


def test_models_built_from_a_spec_have_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # mounts for a proxy: limited too
    clients: list[Any] = []
    for spec in ("openai:fake@http://127.0.0.1:9/v1", "anthropic:claude-x"):
        model, _, _ = _build(parse_spec(spec))
        clients.append(model.client)  # type: ignore[attr-defined]
    assert all(has_limits(c) for c in clients)
    assert all(
        any(
            "LimitedBackend" in type(t._pool._network_backend).__name__
            for t in c._client._mounts.values()
            if t
        )
        for c in clients
    )
