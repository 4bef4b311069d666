"""OpenAI-compatible and Anthropic providers against loopback fake servers (127.0.0.1 only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from models_fakes import anthropic_message, chat_completion, error_body, fake_server
from pydantic import BaseModel
from waits import HANG_S

from skillfit.models import (
    InfraError,
    Ledger,
    ModelSpecError,
    Price,
    ResponseCache,
    RetryPolicy,
    SchemaValidationError,
    get_model,
    wrap,
)
from skillfit.models.anthropic_provider import AnthropicChatModel
from skillfit.models.openai_compat import OpenAIChatModel
from skillfit.models.retry import TransientError

FAST = RetryPolicy(attempts=3, schema_attempts=2, base_delay=0.0, max_delay=0.0)
MSGS = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]


class Verdict(BaseModel):
    label: str
    confidence: float


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("skillfit.models.credentials._loaded", True)


def _openai(url: str, *, timeout: float = HANG_S) -> OpenAIChatModel:
    client = openai.OpenAI(api_key="k", base_url=url + "/v1", max_retries=0)
    return OpenAIChatModel("openai:fake", "fake", client, timeout=timeout)


def test_openai_compatible_chat_via_registry() -> None:
    with fake_server(lambda path, body: (200, chat_completion("hello", cached=4))) as (url, seen):
        model = get_model(f"openai:fake-model@{url}/v1", retry=FAST)
        reply = model.complete(MSGS, max_tokens=7, temperature=0.2, sample=3)
    assert reply.text == "hello"
    assert reply.usage.prompt_tokens == 11 and reply.usage.cached_tokens == 4
    request = seen[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["model"] == "fake-model" and request["max_tokens"] == 7
    assert request["temperature"] == 0.2 and request["seed"] == 3
    assert request["messages"] == MSGS


def test_openai_json_schema_response_format() -> None:
    answer = json.dumps({"label": "yes", "confidence": 0.9})
    with fake_server(lambda path, body: (200, chat_completion(answer))) as (url, seen):
        reply = wrap(_openai(url), policy=FAST).complete(MSGS, response_format=Verdict)
    assert reply.parsed == Verdict(label="yes", confidence=0.9)
    fmt = seen[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Verdict"
    assert fmt["json_schema"]["schema"]["properties"]["label"]["type"] == "string"


def test_openai_invalid_structured_reply_is_retried_then_raised() -> None:
    with (
        fake_server(lambda path, body: (200, chat_completion('{"label": 3}'))) as (url, seen),
        pytest.raises(SchemaValidationError),
    ):
        wrap(_openai(url), policy=FAST).complete(MSGS, response_format=Verdict)
    assert len(seen) == 2


def test_dict_schema_checked_with_jsonschema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    with (
        fake_server(lambda path, body: (200, chat_completion('{"n": "seven"}'))) as (url, _),
        pytest.raises(SchemaValidationError, match="not of type 'integer'"),
    ):
        wrap(_openai(url), policy=FAST).complete(MSGS, response_format=schema)


def test_5xx_then_success_is_retried() -> None:
    answers: list[Any] = [(500, error_body()), (503, error_body()), (200, chat_completion("ok"))]
    with fake_server(lambda path, body: answers.pop(0)) as (url, seen):
        reply = wrap(_openai(url), policy=FAST).complete(MSGS)
    assert reply.text == "ok" and len(seen) == 3


def test_persistent_5xx_becomes_infra_error() -> None:
    with (
        fake_server(lambda path, body: (500, error_body())) as (url, seen),
        pytest.raises(InfraError, match="giving up after 3 attempts") as info,
    ):
        wrap(_openai(url), policy=FAST).complete(MSGS)
    assert not isinstance(info.value, SchemaValidationError | TransientError)
    assert len(seen) == 3


def test_rate_limit_is_transient() -> None:
    answers: list[Any] = [(429, error_body("slow down")), (200, chat_completion("ok"))]
    with fake_server(lambda path, body: answers.pop(0)) as (url, _):
        assert wrap(_openai(url), policy=FAST).complete(MSGS).text == "ok"


def test_client_error_is_not_retried() -> None:
    with (
        fake_server(lambda path, body: (401, error_body("bad key"))) as (url, seen),
        pytest.raises(InfraError, match="401"),
    ):
        wrap(_openai(url), policy=FAST).complete(MSGS)
    assert len(seen) == 1


def test_hanging_server_times_out_into_infra_error() -> None:
    with (
        fake_server(lambda path, body: "hang") as (url, seen),
        pytest.raises(InfraError, match="timed out"),
    ):
        # Every answer hangs, so only the client's own (short) timeout ends each attempt.
        wrap(_openai(url, timeout=0.3), policy=FAST).complete(MSGS)
    assert len(seen) == 3


def test_server_dying_mid_request_is_infra_error() -> None:
    with fake_server(lambda path, body: "drop") as (url, _), pytest.raises(InfraError):
        wrap(_openai(url), policy=FAST).complete(MSGS)


def test_dead_server_is_infra_error() -> None:
    with fake_server(lambda path, body: (200, chat_completion("x"))) as (url, _):
        pass  # the port is closed again
    with pytest.raises(InfraError, match="cannot reach"):
        wrap(_openai(url), policy=FAST).complete(MSGS)


def test_temperature_refused_by_model_is_dropped() -> None:
    def handler(path: str, body: dict[str, Any]) -> Any:
        if "temperature" in body:
            return 400, {
                "error": {"message": "Unsupported value: 'temperature'", "type": "invalid"}
            }
        return 200, chat_completion("ok")

    with fake_server(handler) as (url, seen):
        model = _openai(url)
        assert model.complete(MSGS).text == "ok"
        assert model.complete(MSGS).text == "ok"
    assert ["temperature" in r for r in seen] == [True, False, False]


def _key_sent(request: dict[str, Any]) -> str | None:
    headers = request["_headers"]  # the SDK sends x-api-key or a bearer token, by version
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


def _anthropic(url: str) -> AnthropicChatModel:
    client = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)
    return AnthropicChatModel("anthropic:fake", "claude-fake", client, timeout=HANG_S)


def test_anthropic_text_reply_and_system_prompt() -> None:
    reply_body = anthropic_message([{"type": "text", "text": "bonjour"}])
    with fake_server(lambda path, body: (200, reply_body)) as (url, seen):
        reply = wrap(_anthropic(url), policy=FAST).complete(MSGS, max_tokens=9)
    assert reply.text == "bonjour"
    assert reply.usage.prompt_tokens == 24 and reply.usage.cached_tokens == 4
    assert reply.usage.completion_tokens == 5
    request = seen[0]
    assert request["path"] == "/v1/messages"
    assert request["messages"] == [{"role": "user", "content": "U"}]
    assert _key_sent(request) == "k"


# The system prompt (the skill first) as Anthropic's prompt cache wants it: one text block that
# ends the cached prefix.
CACHED_S = [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]


def test_anthropic_marks_the_system_prompt_for_the_prompt_cache() -> None:
    def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if "tools" in body:
            call = {"type": "tool_use", "id": "t1", "name": body["tools"][0]["name"], "input": {}}
            return 200, anthropic_message([call], stop="tool_use")
        return 200, anthropic_message([{"type": "text", "text": "ok"}])

    two = [{"role": "system", "content": "skill"}, {"role": "system", "content": "rules"}]
    with fake_server(answer) as (url, seen):
        model = wrap(_anthropic(url), policy=FAST)
        model.complete(MSGS)
        model.complete([*two, {"role": "user", "content": "U"}])
        model.complete(MSGS, response_format={"type": "object"})  # a forced tool comes first
    assert seen[0]["system"] == CACHED_S
    assert seen[1]["system"] == [
        {"type": "text", "text": "skill\n\nrules", "cache_control": {"type": "ephemeral"}}
    ]
    assert seen[2]["system"] == CACHED_S and seen[2]["tools"]
    assert all("cache_control" not in json.dumps(r["messages"]) for r in seen)


def test_anthropic_prompt_cache_off_sends_the_plain_string() -> None:
    with fake_server(lambda p, b: (200, anthropic_message([{"type": "text", "text": "ok"}]))) as (
        url,
        seen,
    ):
        client = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)
        model = AnthropicChatModel("anthropic:fake", "claude-fake", client, prompt_cache=False)
        assert model.complete(MSGS).text == "ok"
        wrap(_anthropic(url), policy=FAST).complete([{"role": "user", "content": "U"}])
    assert seen[0]["system"] == "S"
    assert "system" not in seen[1]  # no system message: nothing to mark


@pytest.mark.parametrize(("setting", "system"), [(None, CACHED_S), ("on", CACHED_S), ("off", "S")])
def test_anthropic_prompt_cache_setting_via_registry(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, system: Any
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-env")
    if setting is None:
        monkeypatch.delenv("SKILLFIT_ANTHROPIC_PROMPT_CACHE", raising=False)
    else:
        monkeypatch.setenv("SKILLFIT_ANTHROPIC_PROMPT_CACHE", setting)
    with fake_server(lambda p, b: (200, anthropic_message([{"type": "text", "text": "hi"}]))) as (
        url,
        seen,
    ):
        get_model(f"anthropic:claude-fake@{url}", retry=FAST).complete(MSGS)
    assert seen[0]["system"] == system


def test_anthropic_prompt_cache_setting_must_be_on_or_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-env")
    monkeypatch.setenv("SKILLFIT_ANTHROPIC_PROMPT_CACHE", "maybe")
    with pytest.raises(ModelSpecError, match="SKILLFIT_ANTHROPIC_PROMPT_CACHE"):
        get_model("anthropic:claude-x")


def test_anthropic_cache_reads_and_writes_in_usage_and_cost() -> None:
    body = anthropic_message([{"type": "text", "text": "ok"}])
    body["usage"] = {
        "input_tokens": 50,  # the uncached part only
        "output_tokens": 10,
        "cache_read_input_tokens": 3000,
        "cache_creation_input_tokens": 1200,
    }
    ledger = Ledger(prices={"anthropic:fake": Price(input=3.0, output=15.0)})
    with fake_server(lambda p, b: (200, body)) as (url, seen):
        model = wrap(_anthropic(url), role="target", ledger=ledger, policy=FAST)
        reply = model.complete(MSGS)
    u = reply.usage
    assert (u.prompt_tokens, u.cached_tokens, u.cache_write_tokens) == (4250, 3000, 1200)
    assert u.completion_tokens == 10
    stats = ledger.snapshot()["target"]
    assert (stats["prompt_tokens"], stats["cached_tokens"], stats["cache_write_tokens"]) == (
        4250,
        3000,
        1200,
    )
    # 50 fresh at $3, 3000 read at $0.30, 1200 written at $3.75, 10 out at $15 (per million)
    expected = (50 * 3.0 + 3000 * 0.3 + 1200 * 3.75 + 10 * 15.0) / 1e6
    assert stats["cost"] == pytest.approx(expected)


def test_prompt_caching_leaves_the_response_cache_keys_alone(tmp_path: Path) -> None:
    """Replies cached before prompt caching (or with it off) are served with it on, and the
    other way round: the key is made of the messages and settings, not the request body."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    with fake_server(lambda p, b: (200, anthropic_message([{"type": "text", "text": "a"}]))) as (
        url,
        seen,
    ):
        client = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)
        plain = AnthropicChatModel("anthropic:fake", "claude-fake", client, prompt_cache=False)
        first = wrap(plain, cache=cache, policy=FAST).complete(MSGS, max_tokens=9)
        again = wrap(_anthropic(url), cache=cache, policy=FAST).complete(MSGS, max_tokens=9)
    assert len(seen) == 1 and not first.cached and again.cached and again.text == "a"
    # The key of this request, as versions before prompt caching computed it.
    key = "901fbf09cac99a2d45739129a5e5a721774b5846d43dfd182c27e4a9fc8c5e09"
    assert cache.get(key) is not None


def test_anthropic_structured_output_by_forced_tool() -> None:
    tool_use = {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "Verdict",
        "input": {"label": "no", "confidence": 0.2},
    }
    with fake_server(lambda path, body: (200, anthropic_message([tool_use], stop="tool_use"))) as (
        url,
        seen,
    ):
        reply = wrap(_anthropic(url), policy=FAST).complete(MSGS, response_format=Verdict)
    assert reply.parsed == Verdict(label="no", confidence=0.2)
    assert seen[0]["tool_choice"] == {"type": "tool", "name": "Verdict"}
    assert seen[0]["tools"][0]["input_schema"]["required"] == ["label", "confidence"]


def test_anthropic_overloaded_then_ok() -> None:
    answers: list[Any] = [
        (529, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
        (200, anthropic_message([{"type": "text", "text": "ok"}])),
    ]
    with fake_server(lambda path, body: answers.pop(0)) as (url, seen):
        assert wrap(_anthropic(url), policy=FAST).complete(MSGS).text == "ok"
    assert len(seen) == 2


def test_anthropic_via_registry_with_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-env")
    with fake_server(lambda p, b: (200, anthropic_message([{"type": "text", "text": "hi"}]))) as (
        url,
        seen,
    ):
        model = get_model(f"anthropic:claude-fake@{url}", retry=FAST)
        assert model.complete(MSGS).text == "hi"
    assert _key_sent(seen[0]) == "from-env"


def test_cut_off_structured_reply_says_so_and_keeps_the_text() -> None:
    body = chat_completion('{"label": "ye')
    body["choices"][0]["finish_reason"] = "length"
    with (
        fake_server(lambda path, b: (200, body)) as (url, _),
        pytest.raises(SchemaValidationError, match="cut off at max_tokens") as info,
    ):
        wrap(_openai(url), policy=FAST).complete(MSGS, response_format=Verdict)
    assert info.value.raw_text == '{"label": "ye'
