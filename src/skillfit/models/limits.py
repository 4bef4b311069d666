"""Limits on one HTTP model call: a total deadline and a cap on the bytes of the reply.

The SDKs' `timeout` is httpx's, which bounds each socket operation, not the call: a server
dripping one byte every 0.3 s held a call with `timeout=3` for 85 s, and a server answering
10 MB per call was read and stored whole. Each call of the OpenAI and Anthropic providers runs
under `call_limits(seconds, max_bytes)`: every socket operation of the call (connect, send,
each read of the headers and the body) gets at most the time left until the deadline, and the
bytes received are counted. Past the deadline the call fails as the SDK's timeout; past the
cap, with `ReplyTooLarge`. The limits live in the HTTP client's network layer (an httpcore
network backend, `limited_http_client`), so dripped headers are caught like a dripped body.

The cap is `reply_cap(max_tokens)`: 256 bytes per token asked for, at least 1 MiB. A token is a
few bytes of text; even escaped in JSON (`\\u00e9` for one letter) it stays under 32 bytes, so
256 is eight times that, room for the JSON around it and a reasoning trace; the 1 MiB floor
covers error pages and small `max_tokens`. A reply of 256 tokens over 10 MB is no reply.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["ReplyTooLarge", "call_limits", "limited_http_client", "reply_cap"]

MIN_REPLY_BYTES = 2**20
BYTES_PER_TOKEN = 256


def reply_cap(max_tokens: int) -> int:
    """The most bytes a reply to a request for `max_tokens` tokens may take."""
    return max(MIN_REPLY_BYTES, BYTES_PER_TOKEN * max(0, int(max_tokens)))


class ReplyTooLarge(Exception):
    """The server sent more bytes than the call's cap (see `reply_cap`)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the reply is larger than {max_bytes} bytes: refused")
        self.max_bytes = max_bytes


@dataclass
class _Limits:
    seconds: float
    deadline: float  # time.monotonic()
    max_bytes: int
    received: int = 0


_LIMITS: ContextVar[_Limits | None] = ContextVar("skillfit_call_limits", default=None)


@contextmanager
def call_limits(seconds: float, max_bytes: int) -> Iterator[None]:
    """Limit the HTTP calls this thread makes inside the block (through a client built by
    `limited_http_client`) to `seconds` in all and `max_bytes` received."""
    token = _LIMITS.set(_Limits(seconds, time.monotonic() + seconds, max_bytes))
    try:
        yield
    finally:
        _LIMITS.reset(token)


def _time_left(timeout: float | None, error: type[Exception]) -> float | None:
    limits = _LIMITS.get()
    if limits is None:
        return timeout
    left = limits.deadline - time.monotonic()
    if left <= 0:
        raise error(f"no complete reply within {limits.seconds:g} s")
    return left if timeout is None else min(timeout, left)


def _count(n: int) -> None:
    limits = _LIMITS.get()
    if limits is not None:
        limits.received += n
        if limits.received > limits.max_bytes:
            raise ReplyTooLarge(limits.max_bytes)


@functools.cache
def _backend_class(core_name: str) -> type:
    """A network backend of the httpcore package `core_name` that applies the call limits."""
    core: Any = importlib.import_module(core_name)

    class LimitedStream(core.NetworkStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            data = self._inner.read(max_bytes, _time_left(timeout, core.ReadTimeout))
            _count(len(data))
            return bytes(data)

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, _time_left(timeout, core.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(
            self, ssl_context: Any, server_hostname: Any = None, timeout: Any = None
        ) -> Any:
            left = _time_left(timeout, core.ConnectTimeout)
            return LimitedStream(self._inner.start_tls(ssl_context, server_hostname, left))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class LimitedBackend(core.NetworkBackend):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def connect_tcp(self, host: str, port: int, timeout: Any = None, **kwargs: Any) -> Any:
            left = _time_left(timeout, core.ConnectTimeout)
            return LimitedStream(self._inner.connect_tcp(host, port, left, **kwargs))

        def connect_unix_socket(self, path: str, timeout: Any = None, **kwargs: Any) -> Any:
            left = _time_left(timeout, core.ConnectTimeout)
            return LimitedStream(self._inner.connect_unix_socket(path, left, **kwargs))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return LimitedBackend


def _limit(transport: Any) -> Any:
    """`transport` (an httpx HTTPTransport) with the call limits in its connection pool."""
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if inner is not None and type(inner).__name__ != "LimitedBackend":
        core_name = type(inner).__module__.split(".")[0]
        pool._network_backend = _backend_class(core_name)(inner)  # type: ignore[union-attr]
    return transport


@functools.cache
def _client_class(base: type) -> type:
    class LimitedClient(base):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            # the default transport and those mounted for environment proxies
            for transport in (self._transport, *self._mounts.values()):
                if transport is not None:
                    _limit(transport)

    return LimitedClient


def limited_http_client(sdk: Any) -> Any:
    """An HTTP client for the SDK module `sdk` (`openai` or `anthropic`), with the SDK's
    defaults, whose calls obey `call_limits` (environment proxies included)."""
    return _client_class(sdk.DefaultHttpxClient)()


def has_limits(client: Any) -> bool:
    """Whether an SDK client's HTTP client applies `call_limits` (a test and a check)."""
    http = getattr(client, "_client", None)
    transports = [getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()]
    return any(
        type(getattr(getattr(t, "_pool", None), "_network_backend", None)).__name__
        == "LimitedBackend"
        for t in transports
    )
