"""OpenAI-compatible and Anthropic providers against loopback fake servers (127.0.0.1 only)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from models_fakes import anthropic_message, chat_completion, error_body, fake_server
from pydantic import BaseModel
from waits import HANG_S

from skillfit.models import InfraError, RetryPolicy, SchemaValidationError, get_model, wrap
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
    assert request["system"] == "S" and request["messages"] == [{"role": "user", "content": "U"}]
    assert _key_sent(request) == "k"


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
