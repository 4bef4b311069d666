"""Per-role accounting of calls, cache hits, tokens, latency and cost. Thread-safe.

A run's ledger can keep a journal (`Ledger.attach`): one JSON line per paid call (with its cache
key) and per failed call, appended as it happens. A killed run's next process reads it back, so
calls paid before the kill stay counted as paid calls: their replays from the response cache are
not counted again, neither as calls nor as cache hits.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any

from skillfit.core.writefile import naming
from skillfit.models.base import ChatModel, Message, Reply, ResponseFormat
from skillfit.models.cache import cache_key
from skillfit.models.wrapper import ModelWrapper

# Anthropic's prompt-cache prices as multiples of the input price: a read of the cache, and a
# write to the 5-minute cache (the one the Anthropic provider asks for).
ANTHROPIC_CACHE_READ = 0.1
CACHE_WRITE = 1.25


@dataclass(frozen=True)
class Price:
    """USD per one million tokens. Prompt tokens read from a provider's prompt cache cost
    `cached_input` (unset: a tenth of `input` for `anthropic:` models, `input` for others, whose
    discount varies by model); tokens written to it cost `cache_write` (unset: 1.25 × `input`,
    Anthropic's 5-minute cache write; no other provider reports writes)."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None

    def cache_rates(self, model: str) -> tuple[float, float]:
        """(read, write) USD per million tokens for `model` (a model string)."""
        anthropic = model.split(":", 1)[0] == "anthropic"
        read = self.input * (ANTHROPIC_CACHE_READ if anthropic else 1.0)
        return (
            read if self.cached_input is None else self.cached_input,
            self.input * CACHE_WRITE if self.cache_write is None else self.cache_write,
        )


PriceTable = Mapping[str, "Price | Mapping[str, float] | Sequence[float]"]


def as_price(value: Price | Mapping[str, float] | Sequence[float]) -> Price:
    """A Price from a Price, a mapping {input, output[, cached_input, cache_write]} (as in a
    YAML config) or a sequence (input, output[, cached_input[, cache_write]])."""
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping):
        return Price(**value)
    return Price(*value)


@dataclass
class RoleStats:
    calls: int = 0  # model calls that returned a reply (cache hits excluded)
    cache_hits: int = 0
    errors: int = 0  # calls that ended in an error after retries
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from a provider's prompt cache
    cache_write_tokens: int = 0  # prompt tokens written to it (Anthropic bills them higher)
    completion_tokens: int = 0
    seconds: float = 0.0  # wall time spent in model calls
    cost: float = 0.0  # USD, 0 when no price is known (local models are free)
    # Prompt plus completion tokens of the replies served from the cache (not paid again; a
    # budget counts them so a run stops at the same step with a warm or a cold cache).
    hit_tokens: int = 0
    # Calls of an agent CLI stopped at its harness's wall-clock limit (counted in `calls` too):
    # their tokens are what the CLI had reported when it was stopped, a lower bound.
    timed_out: int = 0

    def add_line(self, line: Mapping[str, Any]) -> None:
        """Take up one journal line (a paid call, a cache hit or an error)."""
        if "e" in line:
            self.errors += 1
        elif "h" in line:
            self.cache_hits += 1
            self.hit_tokens += int(line.get("t", 0))
        else:
            self.calls += 1
            self.prompt_tokens += int(line.get("p", 0))
            self.completion_tokens += int(line.get("c", 0))
            self.cached_tokens += int(line.get("ct", 0))
            self.cache_write_tokens += int(line.get("cw", 0))  # absent in older journals
            self.cost += float(line.get("$", 0.0))
            self.timed_out += int(line.get("to", 0))
        self.seconds += float(line.get("s", 0.0))


def _price_for(prices: Mapping[str, Price], model: str) -> Price | None:
    # Look up "openai:gpt-x@url", then "openai:gpt-x", then "gpt-x".
    candidates = [model, model.split("@", 1)[0], model.split("@", 1)[0].split(":", 1)[-1]]
    for name in candidates:
        if name in prices:
            return prices[name]
    return None


class Ledger:
    """`Ledger(prices=None)`; `record(role, model, reply)`; `snapshot() -> {role: {...}}`."""

    def __init__(self, prices: PriceTable | None = None) -> None:
        self.prices: dict[str, Price] = {k: as_price(v) for k, v in (prices or {}).items()}
        self._lock = threading.Lock()
        self._roles: dict[str, RoleStats] = {}
        self._journal: IO[str] | None = None
        self.journal_path: Path | None = None
        self._replays: dict[str, int] = {}  # cache keys paid after the last accounted point
        self._replayed_hits: dict[str, int] = {}  # cache hits journaled after that point
        self._carried: dict[str, RoleStats] = {}  # what those calls cost, per role

    # ---- the journal ----------------------------------------------------------------------

    def attach(self, path: str | os.PathLike[str], accounted: int | None = None) -> None:
        """Journal to `path`, first taking up what it holds. Lines past byte `accounted` (the
        journal's size when the run last saved its state; None: all lines are accounted) are
        calls of the unit of work the kill interrupted: they count as paid, their replays from
        the cache count as nothing, and `take_carried()` hands them to that unit's record."""
        path = Path(path)
        data = path.read_bytes() if path.exists() else b""
        if data and not data.endswith(b"\n"):  # a line cut by the kill
            data = data[: data.rfind(b"\n") + 1]
            with path.open("r+b") as fh:
                fh.truncate(len(data))
        cut = len(data) if accounted is None else min(max(0, accounted), len(data))
        with self._lock:
            for offset, raw in _lines(data):
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                role = str(line.get("r") or line.get("e") or line.get("h") or "default")
                self._stats(role).add_line(line)
                if offset >= cut:
                    self._carried.setdefault(role, RoleStats()).add_line(line)
                    key = line.get("k")
                    if key:
                        pending = self._replayed_hits if "h" in line else self._replays
                        pending[key] = pending.get(key, 0) + 1
            self._journal = path.open("a", encoding="utf-8")
            self.journal_path = path

    @property
    def wants_keys(self) -> bool:
        """Whether a call is recorded with its cache key (a journal matches replays by it)."""
        return self.journal_path is not None

    def journal_size(self) -> int:
        """Bytes journaled so far (what a run's saved state has accounted for)."""
        with self._lock:
            if self._journal is None or self.journal_path is None:
                return 0
            self._journal.flush()
            return self.journal_path.stat().st_size

    def take_carried(self) -> dict[str, dict[str, float | int]]:
        """Once: the stats of calls paid before a kill in the unit being redone."""
        with self._lock:
            out = {role: asdict(s) for role, s in self._carried.items()}
            self._carried = {}
            return out

    def close(self) -> None:
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    def _write(self, line: dict[str, Any]) -> None:
        if self._journal is not None:  # the lock is held
            with naming(self.journal_path or "calls.jsonl"):
                self._journal.write(json.dumps(line, separators=(",", ":")) + "\n")
                self._journal.flush()

    def _stats(self, role: str) -> RoleStats:
        return self._roles.setdefault(role, RoleStats())

    def cost_of(self, model: str, reply: Reply) -> float:
        price = _price_for(self.prices, model)
        if price is None:
            return 0.0
        u = reply.usage
        read, write = price.cache_rates(model)
        fresh = max(0, u.prompt_tokens - u.cached_tokens - u.cache_write_tokens)
        return (
            fresh * price.input
            + u.cached_tokens * read
            + u.cache_write_tokens * write
            + u.completion_tokens * price.output
        ) / 1e6

    def record(
        self,
        role: str,
        model: str,
        reply: Reply,
        seconds: float | None = None,
        *,
        key: str | None = None,
        timed_out: bool = False,
    ) -> None:
        """One paid call; `timed_out`: an agent CLI's run stopped at the wall-clock limit,
        whose usage is a lower bound."""
        cost = self.cost_of(model, reply)
        took = reply.latency if seconds is None else seconds
        with self._lock:
            if key is not None and self._replays.get(key):
                # Paid before a kill that came before its answer was cached: paid twice, and
                # both count; that earlier call can no longer be replayed.
                self._replays[key] -= 1
            s = self._stats(role)
            s.calls += 1
            s.prompt_tokens += int(reply.usage.prompt_tokens)
            s.cached_tokens += int(reply.usage.cached_tokens)
            s.cache_write_tokens += int(reply.usage.cache_write_tokens)
            s.completion_tokens += int(reply.usage.completion_tokens)
            s.seconds += took
            s.cost += cost
            s.timed_out += int(timed_out)
            self._write(
                {
                    "r": role,
                    "k": key,
                    "p": int(reply.usage.prompt_tokens),
                    "c": int(reply.usage.completion_tokens),
                    "ct": int(reply.usage.cached_tokens),
                    "cw": int(reply.usage.cache_write_tokens),
                    "s": took,
                    "$": cost,
                    **({"to": 1} if timed_out else {}),
                }
            )

    def record_hit(self, role: str, key: str | None = None, reply: Reply | None = None) -> None:
        tokens = 0
        if reply is not None:
            tokens = int(reply.usage.prompt_tokens) + int(reply.usage.completion_tokens)
        with self._lock:
            if key is not None:
                for pending in (self._replays, self._replayed_hits):
                    if pending.get(key):
                        # A call this run paid (or a hit it counted) before it was killed,
                        # served again while redoing that work: already counted.
                        pending[key] -= 1
                        return
            stats = self._stats(role)
            stats.cache_hits += 1
            stats.hit_tokens += tokens
            self._write({"h": role, "k": key, **({"t": tokens} if tokens else {})})

    def record_error(self, role: str, seconds: float = 0.0) -> None:
        with self._lock:
            s = self._stats(role)
            s.errors += 1
            s.seconds += seconds
            self._write({"e": role, "s": seconds})

    def snapshot(self) -> dict[str, dict[str, float | int]]:
        """A copy, JSON-serializable: {role: {calls, cache_hits, errors, prompt_tokens,
        cached_tokens, cache_write_tokens, completion_tokens, seconds, cost, hit_tokens,
        timed_out}}."""
        with self._lock:
            return {role: asdict(stats) for role, stats in self._roles.items()}

    def totals(self) -> dict[str, float | int]:
        total = RoleStats()
        with self._lock:
            for s in self._roles.values():
                for f in fields(RoleStats):
                    setattr(total, f.name, getattr(total, f.name) + getattr(s, f.name))
        return asdict(total)


class AccountedModel(ModelWrapper):
    """Records every model call (and failure) of one role in a Ledger."""

    def __init__(self, inner: ChatModel, ledger: Ledger, *, role: str) -> None:
        super().__init__(inner)
        self.ledger = ledger
        self.role = role

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
        try:
            reply = self.inner.complete(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                response_format=response_format,
                sample=sample,
            )
        except Exception:
            self.ledger.record_error(self.role, time.perf_counter() - start)
            raise
        key = None
        if self.ledger.wants_keys:
            key = cache_key(
                self.name,
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                response_format=response_format,
                sample=sample,
                namespace=getattr(self.inner, "cache_namespace", None),
            )
        self.ledger.record(self.role, self.name, reply, time.perf_counter() - start, key=key)
        return reply


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """(byte offset, line) of every non-empty line."""
    out, offset = [], 0
    for raw in data.split(b"\n"):
        if raw.strip():
            out.append((offset, raw))
        offset += len(raw) + 1
    return out
