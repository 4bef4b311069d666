"""The Anthropic Messages API provider. Structured output by a forced tool call: the model must
call one tool whose input schema is the response schema, and its input is the reply.

The current SDK has no sampling parameters on `messages.create` (current models sample at their
own setting), so `temperature` is not sent; `sample` still separates repeated draws in the cache.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import anthropic

from skillfit.models.base import InfraError, Message, Reply, ResponseFormat, Usage
from skillfit.models.retry import TransientError
from skillfit.models.schema import json_schema, schema_name, validate


def translate_error(name: str, exc: Exception) -> InfraError:
    if isinstance(exc, anthropic.APITimeoutError):
        return TransientError(f"{name}: request timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        return TransientError(f"{name}: cannot reach the server ({exc.__cause__ or exc})")
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        if status in (408, 409, 429) or status >= 500:
            retry_after = None
            try:
                value = exc.response.headers.get("retry-after")
                retry_after = float(value) if value else None
            except (ValueError, AttributeError):
                pass
            return TransientError(f"{name}: HTTP {status}", retry_after=retry_after)
        return InfraError(f"{name}: HTTP {status}: {exc.message}")
    return InfraError(f"{name}: {type(exc).__name__}: {exc}")


class AnthropicChatModel:
    def __init__(
        self, name: str, model: str, client: anthropic.Anthropic, *, timeout: float = 120.0
    ) -> None:
        self._name = name
        self.model = model
        self.client = client
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self._name

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        response_format: ResponseFormat | None = None,
        sample: int = 0,
    ) -> Reply:
        start = time.perf_counter()
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "messages": [
                {"role": m["role"], "content": m["content"]}
                for m in messages
                if m["role"] != "system"
            ],
        }
        if system:
            body["system"] = system
        tool = None
        if response_format is not None:
            tool = schema_name(response_format)
            body["tools"] = [
                {
                    "name": tool,
                    "description": "Give the answer in this exact structure.",
                    "input_schema": json_schema(response_format),
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": tool}
        try:
            message = self.client.messages.create(**body, timeout=self.timeout)
        except anthropic.AnthropicError as exc:
            raise translate_error(self._name, exc) from exc
        text = ""
        for block in message.content:
            if tool is not None and block.type == "tool_use" and block.name == tool:
                text = json.dumps(block.input)
                break
            if block.type == "text":
                text += block.text
        # "length" like the OpenAI API, so callers test one word for a cut-off reply
        finish = "length" if message.stop_reason == "max_tokens" else message.stop_reason or "stop"
        u = message.usage
        written = getattr(u, "cache_creation_input_tokens", 0) or 0
        usage = Usage(
            # input_tokens counts only uncached input: add the cache reads and writes back
            prompt_tokens=(u.input_tokens or 0) + (u.cache_read_input_tokens or 0) + written,
            completion_tokens=u.output_tokens or 0,
            cached_tokens=u.cache_read_input_tokens or 0,
        )
        parsed = (
            validate(text, response_format, finish_reason=finish)
            if response_format is not None
            else None
        )
        return Reply(
            text=text,
            usage=usage,
            latency=time.perf_counter() - start,
            model=self._name,
            finish_reason=finish,
            parsed=parsed,
        )
