"""What the HTTP providers share: SDK exceptions as the model layer's errors, and the Reply.

The OpenAI and Anthropic SDKs are generated from one template, so their exception classes have
the same names and fields; the SDK module is passed in, so neither is imported here."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import ModuleType

from skillfit.models.base import InfraError, Reply, ResponseFormat, Usage
from skillfit.models.limits import ReplyTooLarge
from skillfit.models.redact import redact, redact_known
from skillfit.models.retry import TransientError
from skillfit.models.schema import validate


def _retry_after(exc: Exception) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")  # type: ignore[attr-defined]
        return float(value) if value else None
    except (ValueError, AttributeError):
        return None


def translate_error(name: str, exc: Exception, sdk: ModuleType) -> InfraError:
    """Map an exception of `sdk` (the `openai` or `anthropic` module): timeouts, connection
    errors, 408/409/429 and 5xx become `TransientError` (retried), the rest `InfraError`. A body
    the SDK could not decode is transient too. Messages are redacted: a server that echoes the
    request's headers or URL never puts a key into a stored error."""
    if isinstance(exc, sdk.APITimeoutError):
        return TransientError(redact(f"{name}: request timed out"))
    if isinstance(exc, sdk.APIConnectionError):
        return TransientError(redact(f"{name}: cannot reach the server ({exc.__cause__ or exc})"))
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        if status in (408, 409, 429) or status >= 500:
            return TransientError(redact(f"{name}: HTTP {status}"), retry_after=_retry_after(exc))
        return InfraError(redact(f"{name}: HTTP {status}: {exc.message}"))
    if isinstance(exc, getattr(sdk, "APIResponseValidationError", ())):
        return TransientError(redact(f"{name}: malformed response: {exc}"))
    return InfraError(redact(f"{name}: {type(exc).__name__}: {exc}"))


def too_large(name: str, exc: ReplyTooLarge) -> InfraError:
    """A reply over the call's byte cap: not retried (the server would send as much again)."""
    return InfraError(f"{name}: {exc}")


def malformed(name: str, exc: Exception) -> TransientError:
    """A response body that is not what the API promises (truncated, not JSON, wrong shape)."""
    return TransientError(redact(f"{name}: malformed response ({type(exc).__name__}: {exc})"))


def make_reply(
    name: str,
    text: str,
    usage: Usage,
    *,
    start: float,
    finish_reason: str,
    response_format: ResponseFormat | None,
    max_bytes: int | None = None,
    secrets: Sequence[str] = (),
) -> Reply:
    """The Reply to a request sent at `start` (perf_counter), validated when a schema was
    asked for. An empty reply (no content, or only whitespace) is a `TransientError`: it says
    nothing about the prompt, so it is retried and, if it persists, becomes an infrastructure
    error; it is never scored or cached. A reply over `max_bytes` (see limits.reply_cap) is an
    infrastructure error too. Known secrets echoed in the text (`secrets`, the credential
    variables) are masked before anything stores it."""
    if not text or not text.strip():
        raise TransientError(f"{name}: empty reply (finish_reason {finish_reason!r})")
    if max_bytes is not None and len(text.encode("utf-8", "replace")) > max_bytes:
        raise InfraError(f"{name}: the reply is larger than {max_bytes} bytes: refused")
    text = redact_known(text, secrets)
    parsed = (
        validate(text, response_format, finish_reason=finish_reason)
        if response_format is not None
        else None
    )
    return Reply(
        text=text,
        usage=usage,
        latency=time.perf_counter() - start,
        model=name,
        finish_reason=finish_reason,
        parsed=parsed,
    )
