"""The Anthropic Messages API provider. Structured output by a forced tool call: the model must
call one tool whose input schema is the response schema, and its input is the reply.

The current SDK has no sampling parameters on `messages.create` (current models sample at their
own setting), so `temperature` is not sent; `sample` still separates repeated draws in the cache.

Prompt caching (`prompt_cache`, on by default): the system prompt goes as one text block marked
`cache_control: {"type": "ephemeral"}`, so the API keeps the prefix up to it (the forced tool,
then the system prompt, which holds the skill first) for 5 minutes and the next calls with the
same skill read it at a tenth of the input price; writing it costs 1.25 times the input price.
A prefix shorter than the model's minimum (1,024 to 4,096 tokens by model) is not cached and
costs what it did before. The marker is sent to the API only: the response cache's key is the
same with caching on or off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import anthropic

from skillfit.models.base import Message, Reply, ResponseFormat, Usage
from skillfit.models.limits import ReplyTooLarge, call_limits, reply_cap
from skillfit.models.redact import client_secrets
from skillfit.models.schema import json_schema, schema_name
from skillfit.models.sdk import make_reply, malformed, too_large, translate_error


class AnthropicChatModel:
    def __init__(
        self,
        name: str,
        model: str,
        client: anthropic.Anthropic,
        *,
        timeout: float = 120.0,
        prompt_cache: bool = True,
    ) -> None:
        self._name = name
        self.model = model
        self.client = client
        self.timeout = timeout
        self.prompt_cache = prompt_cache

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
        if system and self.prompt_cache:
            block = {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
            body["system"] = [block]
        elif system:
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
        cap = reply_cap(max_tokens)
        try:
            with call_limits(self.timeout, cap):  # a deadline for the whole call, a size cap
                message = self.client.messages.create(**body, timeout=self.timeout)
        except ReplyTooLarge as exc:  # raised in the HTTP client's network layer
            raise too_large(self._name, exc) from exc
        except anthropic.AnthropicError as exc:
            raise translate_error(self._name, exc, anthropic) from exc
        except ValueError as exc:  # JSONDecodeError: a truncated or non-JSON body
            raise malformed(self._name, exc) from exc
        try:
            text, finish, usage = _read(message, tool)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise malformed(self._name, exc) from exc
        return make_reply(
            self._name,
            text,
            usage,
            start=start,
            finish_reason=finish,
            response_format=response_format,
            max_bytes=cap,
            secrets=client_secrets(self.client.api_key, self.client.base_url),
        )


def _read(message: Any, tool: str | None) -> tuple[str, str, Usage]:
    """Text (or the forced tool call's input as JSON), finish reason and usage of a message."""
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
        prompt_tokens=int((u.input_tokens or 0) + (u.cache_read_input_tokens or 0) + written),
        completion_tokens=int(u.output_tokens or 0),
        cached_tokens=int(u.cache_read_input_tokens or 0),
        cache_write_tokens=int(written),
    )
    return text, str(finish), usage
