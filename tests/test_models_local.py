"""The embedded local provider: bad files fail clearly, and (marked real_model) the real 0.5B
model answers, follows a schema, and shares one server per model."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from pydantic import BaseModel

from skillfit.models import ChatModel, Ledger, ResponseCache, WeightsError, get_model, wrap


def test_truncated_gguf_is_a_weights_error_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKILLFIT_CACHE_DIR", str(tmp_path))  # the server log goes here
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    model = get_model(f"local:{broken}")  # the server starts lazily: nothing loaded yet
    with pytest.raises(WeightsError, match="could not be loaded"):
        model.complete([{"role": "user", "content": "hi"}], max_tokens=2)


class Sum(BaseModel):
    total: int


@pytest.mark.real_model
def test_real_model_answers_a_chat(local_model: ChatModel) -> None:
    reply = local_model.complete(
        [{"role": "user", "content": "What is the capital of France? One word."}], max_tokens=8
    )
    assert "paris" in reply.text.lower()
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert not reply.cached


@pytest.mark.real_model
def test_real_model_schema_constrained_output(local_model: ChatModel) -> None:
    reply = local_model.complete(
        [{"role": "user", "content": "Add 2 and 3. Reply as JSON with the field total."}],
        max_tokens=24,
        response_format=Sum,
    )
    assert isinstance(reply.parsed, Sum)


@pytest.mark.real_model
def test_real_model_cache_hit_makes_no_call(local_model: ChatModel, tmp_path: Path) -> None:
    ledger = Ledger()
    model = wrap(local_model, role="t", cache=ResponseCache(tmp_path / "c.sqlite"), ledger=ledger)
    msgs = [{"role": "user", "content": "Say OK."}]
    first = model.complete(msgs, max_tokens=4)
    second = model.complete(msgs, max_tokens=4)
    assert second.cached and second.text == first.text
    assert ledger.snapshot()["t"]["calls"] == 1 and ledger.snapshot()["t"]["cache_hits"] == 1


@pytest.mark.real_model
def test_one_loopback_server_per_model(local_model: ChatModel) -> None:
    other = get_model("local:qwen2.5-coder-0.5b", role="optimizer")
    base_url = local_model.base_url  # type: ignore[attr-defined]
    assert other.base_url == base_url  # type: ignore[attr-defined]
    assert base_url.startswith("http://127.0.0.1:")
    # External agent CLIs speak the Anthropic Messages API to the same server.
    response = httpx2.post(
        base_url + "/v1/messages",
        json={
            "model": "local",
            "max_tokens": 4,
            "messages": [{"role": "user", "content": "Say OK."}],
        },
        timeout=120,
    )
    assert response.status_code == 200 and response.json()["content"]
