"""The OpenAI chat-completions provider: OpenAI, Azure OpenAI, any compatible server, and the
embedded local server (which speaks the same API on 127.0.0.1).

SDK failures are translated by `sdk.translate_error`: rate limits, 5xx, timeouts and connection
errors become `TransientError` (retried by the stack), other API errors `InfraError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import openai

from skillfit.models.base import Message, Reply, ResponseFormat, Usage
from skillfit.models.limits import ReplyTooLarge, call_limits, reply_cap
from skillfit.models.redact import client_secrets
from skillfit.models.retry import TransientError
from skillfit.models.schema import is_pydantic, json_schema, schema_name
from skillfit.models.sdk import make_reply, malformed, too_large, translate_error


def _strict_schema(response_format: ResponseFormat) -> tuple[dict[str, Any], bool]:
    """OpenAI's strict mode needs every property required and no extra properties; the SDK's
    own converter does that for pydantic classes. Dict schemas are sent as given, not strict."""
    if is_pydantic(response_format):
        try:
            from openai.lib._pydantic import to_strict_json_schema

            return to_strict_json_schema(response_format), True  # type: ignore[arg-type]
        except Exception:  # a schema the converter cannot make strict: best effort instead
            return json_schema(response_format), False
    return json_schema(response_format), False


class OpenAIChatModel:
    """A chat model behind an OpenAI-style `/chat/completions` endpoint.

    `client` is an `openai.OpenAI` (or `AzureOpenAI`) built with `max_retries=0`: retries belong
    to the stack above, which knows they are infrastructure failures.
    """

    def __init__(
        self,
        name: str,
        model: str,
        client: openai.OpenAI,
        *,
        timeout: float = 120.0,
        timeout_per_token: float = 0.0,
        use_max_completion_tokens: bool = False,
        strict_schema: bool = True,
        seed_samples: bool = True,
        always_seed: bool = False,
    ) -> None:
        self._name = name
        self.model = model
        self.client = client
        self.timeout = timeout
        self.timeout_per_token = timeout_per_token  # slow servers: allow time to decode
        self._max_key = "max_completion_tokens" if use_max_completion_tokens else "max_tokens"
        self._strict_schema = strict_schema
        self._seed_samples = seed_samples
        # llama.cpp draws a random seed when none is given: the local server always gets one so
        # sample i is reproducible; remote APIs get one only for repeated draws (sample > 0).
        self._always_seed = always_seed
        self._send_temperature = True  # some reasoning models refuse any temperature

    @property
    def name(self) -> str:
        return self._name

    def _request(
        self,
        messages: Sequence[Message],
        max_tokens: int,
        temperature: float,
        response_format: ResponseFormat | None,
        sample: int,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            self._max_key: max_tokens,
        }
        if self._send_temperature:
            body["temperature"] = temperature
        if self._always_seed or (self._seed_samples and sample):
            body["seed"] = sample
        if response_format is not None:
            if self._strict_schema:
                schema, strict = _strict_schema(response_format)
            else:
                schema, strict = json_schema(response_format), False
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(response_format),
                    "schema": schema,
                    "strict": strict,
                },
            }
        return body

    def _create(self, body: dict[str, Any], timeout: float) -> Any:
        try:
            return self.client.chat.completions.create(**body, timeout=timeout)
        except ReplyTooLarge as exc:  # raised in the HTTP client's network layer
            raise too_large(self._name, exc) from exc
        except openai.BadRequestError as exc:
            if "temperature" in body and "temperature" in str(exc.message).lower():
                self._send_temperature = False  # the model only accepts its default
                body = {k: v for k, v in body.items() if k != "temperature"}
                return self._create(body, timeout)
            raise translate_error(self._name, exc, openai) from exc
        except openai.OpenAIError as exc:
            raise translate_error(self._name, exc, openai) from exc
        except ValueError as exc:  # JSONDecodeError: a truncated or non-JSON body
            raise malformed(self._name, exc) from exc

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
        body = self.request_body(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
            sample=sample,
        )
        return self.send(body, max_tokens=max_tokens, response_format=response_format, start=start)[
            0
        ]

    def request_body(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        response_format: ResponseFormat | None = None,
        sample: int = 0,
    ) -> dict[str, Any]:
        """The chat-completions request `complete` sends (JSON; without the SDK's options)."""
        return self._request(messages, max_tokens, temperature, response_format, sample)

    def send(
        self,
        body: dict[str, Any],
        *,
        max_tokens: int,
        response_format: ResponseFormat | None,
        start: float,
        extra_body: dict[str, Any] | None = None,
    ) -> tuple[Reply, Any]:
        """Send `body` (from `request_body`) with server-specific `extra_body` fields, and
        return the reply with the SDK's completion object (whose extra fields, such as
        llama.cpp's `timings`, are in `model_extra`)."""
        if extra_body:
            body = {**body, "extra_body": extra_body}
        seconds, cap = self.timeout + self.timeout_per_token * max_tokens, reply_cap(max_tokens)
        with call_limits(seconds, cap):  # a deadline for the whole call, and a size cap
            completion = self._create(body, seconds)
        try:
            text, finish, usage = _read(completion)
        except TransientError as exc:
            raise TransientError(f"{self._name}: {exc}") from exc
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # The SDK builds response objects without validating them: a body of the wrong
            # shape (a list, a string, a choice that is a number) fails here.
            raise malformed(self._name, exc) from exc
        reply = make_reply(
            self._name,
            text,
            usage,
            start=start,
            finish_reason=finish,
            response_format=response_format,
            max_bytes=cap,
            secrets=client_secrets(self.client.api_key, self.client.base_url),
        )
        return reply, completion


def _read(completion: Any) -> tuple[str, str, Usage]:
    """Text, finish reason and usage of a chat completion."""
    if not completion.choices:
        raise TransientError("the server returned no choices")
    choice = completion.choices[0]
    text = choice.message.content or ""
    if not isinstance(text, str):
        raise TypeError(f"message content is {type(text).__name__}, not text")
    usage = Usage()
    if completion.usage is not None:
        details = getattr(completion.usage, "prompt_tokens_details", None)
        usage = Usage(
            prompt_tokens=int(completion.usage.prompt_tokens or 0),
            completion_tokens=int(completion.usage.completion_tokens or 0),
            cached_tokens=int((getattr(details, "cached_tokens", 0) or 0) if details else 0),
        )
    return text, str(choice.finish_reason or "stop"), usage
