"""Retries with exponential backoff and jitter, and a cap on requests in flight per provider.

Providers raise `TransientError` for failures worth another try (rate limits, 5xx, timeouts,
connection errors, a dead server) and `SchemaValidationError` for a reply that broke its schema.
After the allowed attempts the caller gets `InfraError` (or `SchemaValidationError`): an
infrastructure failure, never a wrong answer.

A provider that lets a transport or decoding error escape (a reset connection, a truncated or
non-JSON body: `OSError`, `JSONDecodeError`, `UnicodeDecodeError`, httpx and http.client errors)
is treated the same way: that attempt failed transiently. Error text is redacted (no key in a
message that echoes a URL or a header).
"""

from __future__ import annotations

import http.client
import importlib
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from skillfit.models.base import (
    ChatModel,
    InfraError,
    Message,
    Reply,
    ResponseFormat,
    SchemaValidationError,
)
from skillfit.models.redact import redact
from skillfit.models.wrapper import ModelWrapper


def _http_client_errors() -> tuple[type[BaseException], ...]:
    """The HTTP client library's base error (the SDKs ship httpx, or a renamed copy of it)."""
    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).HTTPError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


# Errors a provider may let escape that say the transport or the body failed, not the request.
RAW_TRANSIENT: tuple[type[BaseException], ...] = (
    json.JSONDecodeError,
    UnicodeDecodeError,
    OSError,  # ConnectionError, TimeoutError, socket errors
    http.client.HTTPException,
    *_http_client_errors(),
)


class TransientError(InfraError):
    """One failed attempt that may succeed if repeated. `retry_after` is a server hint (s)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries for transient failures
    schema_attempts: int = 2  # total tries when the reply breaks its schema
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full-jitter exponential backoff (attempt counts from 1)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        wait = random.uniform(0, cap)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


_limiters: dict[str, threading.BoundedSemaphore] = {}
_limiters_lock = threading.Lock()


def limiter(key: str, max_in_flight: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore for one provider endpoint (first caller sets its size)."""
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = threading.BoundedSemaphore(max(1, max_in_flight))
        return _limiters[key]


class RetryingModel(ModelWrapper):
    """Wraps a provider: limits concurrency, retries transient and schema failures."""

    def __init__(
        self,
        inner: ChatModel,
        *,
        policy: RetryPolicy | None = None,
        semaphore: threading.BoundedSemaphore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(inner)
        self.policy = policy or RetryPolicy()
        self._semaphore = semaphore
        self._sleep = sleep

    def _once(self, messages: Sequence[Message], **kwargs: object) -> Reply:
        if self._semaphore is None:
            return self.inner.complete(messages, **kwargs)  # type: ignore[arg-type]
        with self._semaphore:
            return self.inner.complete(messages, **kwargs)  # type: ignore[arg-type]

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        response_format: ResponseFormat | None = None,
        sample: int = 0,
    ) -> Reply:
        kwargs: dict[str, object] = dict(
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
            sample=sample,
        )
        transient = schema = 0
        while True:
            try:
                return self._once(messages, **kwargs)
            except SchemaValidationError:
                schema += 1
                if schema >= self.policy.schema_attempts:
                    raise
            except TransientError as exc:
                transient += 1
                if transient >= self.policy.attempts:
                    raise InfraError(
                        redact(f"{self.name}: giving up after {transient} attempts: {exc}")
                    ) from exc
                self._sleep(self.policy.delay(transient, exc.retry_after))
            except RAW_TRANSIENT as exc:
                transient += 1
                if transient >= self.policy.attempts:
                    raise InfraError(
                        redact(
                            f"{self.name}: giving up after {transient} attempts: "
                            f"{type(exc).__name__}: {exc}"
                        )
                    ) from exc
                self._sleep(self.policy.delay(transient))
