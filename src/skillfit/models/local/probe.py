"""Timed requests straight to the server, for `skillfit models check` and the benchmark:
llama.cpp reports its own prompt and generation speeds in `timings`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from skillfit.models.base import InfraError
from skillfit.models.local.server import LocalServer


@dataclass(frozen=True)
class Probe:
    text: str
    seconds: float  # wall time of the request
    prompt_tokens: int
    cached_tokens: int  # prompt tokens reused from the prefix cache
    completion_tokens: int
    prompt_per_second: float
    generation_per_second: float


def probe(server: LocalServer, messages: list[dict[str, str]], *, max_tokens: int = 64) -> Probe:
    """One in-process chat completion with the server's own timings."""
    request: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "temperature": 0.0}
    start = time.perf_counter()
    out = server.handle_chat_completions(request)
    seconds = time.perf_counter() - start
    if not isinstance(out, dict) or "choices" not in out:
        raise InfraError(f"the local server answered without choices: {str(out)[:300]}")
    timings = out.get("timings", {})
    usage = out.get("usage", {})
    return Probe(
        text=out["choices"][0]["message"].get("content") or "",
        seconds=seconds,
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        cached_tokens=int(timings.get("cache_n", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        prompt_per_second=float(timings.get("prompt_per_second", 0.0)),
        generation_per_second=float(timings.get("predicted_per_second", 0.0)),
    )
