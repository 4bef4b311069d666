"""Per-role accounting of calls, cache hits, tokens, latency and cost. Thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from skillfit.models.base import ChatModel, Message, Reply, ResponseFormat
from skillfit.models.wrapper import ModelWrapper


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input: float
    output: float
    cached_input: float | None = None  # defaults to `input` when the provider gives no discount


PriceTable = Mapping[str, "Price | Mapping[str, float] | Sequence[float]"]


def as_price(value: Price | Mapping[str, float] | Sequence[float]) -> Price:
    """A Price from a Price, a mapping {input, output[, cached_input]} (as in a YAML config) or
    a sequence (input, output[, cached_input])."""
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
    cached_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # wall time spent in model calls
    cost: float = 0.0  # USD, 0 when no price is known (local models are free)


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

    def _stats(self, role: str) -> RoleStats:
        return self._roles.setdefault(role, RoleStats())

    def cost_of(self, model: str, reply: Reply) -> float:
        price = _price_for(self.prices, model)
        if price is None:
            return 0.0
        u = reply.usage
        cached_price = price.input if price.cached_input is None else price.cached_input
        fresh = max(0, u.prompt_tokens - u.cached_tokens)
        return (
            fresh * price.input
            + u.cached_tokens * cached_price
            + u.completion_tokens * price.output
        ) / 1e6

    def record(self, role: str, model: str, reply: Reply, seconds: float | None = None) -> None:
        cost = self.cost_of(model, reply)
        with self._lock:
            s = self._stats(role)
            s.calls += 1
            s.prompt_tokens += reply.usage.prompt_tokens
            s.cached_tokens += reply.usage.cached_tokens
            s.completion_tokens += reply.usage.completion_tokens
            s.seconds += reply.latency if seconds is None else seconds
            s.cost += cost

    def record_hit(self, role: str) -> None:
        with self._lock:
            self._stats(role).cache_hits += 1

    def record_error(self, role: str, seconds: float = 0.0) -> None:
        with self._lock:
            s = self._stats(role)
            s.errors += 1
            s.seconds += seconds

    def snapshot(self) -> dict[str, dict[str, float | int]]:
        """A copy, JSON-serializable: {role: {calls, cache_hits, errors, prompt_tokens,
        cached_tokens, completion_tokens, seconds, cost}}."""
        with self._lock:
            return {role: asdict(stats) for role, stats in self._roles.items()}

    def totals(self) -> dict[str, float | int]:
        total = RoleStats()
        with self._lock:
            for s in self._roles.values():
                for field, value in asdict(s).items():
                    setattr(total, field, getattr(total, field) + value)
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
        self.ledger.record(self.role, self.name, reply, time.perf_counter() - start)
        return reply
