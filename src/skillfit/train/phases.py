"""What each phase of the loop costs: model calls, tokens and wall seconds per phase (rollouts,
reflection, guard, gate, test, epoch_end), for summary.json and `bench/efficiency.py`.

    clock = PhaseClock(ledger)
    with clock("rollouts"):
        ...  # every call the ledger books meanwhile is the phase's

Phases run one after another in the run's own thread (their calls may run in worker threads,
which the phase waits for), so the ledger's change over a phase is what the phase paid. A phase
inside another one (a slow update's gate inside the epoch end) is counted once, as the inner
one: the outer phase's count stops while the inner one runs. Calls made outside every phase (a
strategy's own loop, the target check, the calls a kill interrupted) are the run's `other`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# The phases the loop marks, in the order they are reported.
PHASES = ("rollouts", "reflection", "guard", "gate", "epoch_end", "test")
# What a phase's row holds: the ledger's counts summed over roles, then wall seconds.
COUNTS = (
    "calls",
    "cache_hits",
    "errors",
    "prompt_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "completion_tokens",
    "hit_tokens",
)


def _sum_roles(snapshot: Mapping[str, Mapping[str, Any]] | None) -> dict[str, float]:
    out = dict.fromkeys((*COUNTS, "cost"), 0.0)
    for stats in (snapshot or {}).values():
        for key in out:
            out[key] += float(stats.get(key, 0) or 0)
    return out


class PhaseClock:
    """Per-phase totals of one run; `totals` is JSON-ready and carried across resumes."""

    def __init__(self, ledger: Any = None, totals: Mapping[str, Mapping[str, float]] | None = None):
        self.ledger = ledger if hasattr(ledger, "snapshot") else None
        self.totals: dict[str, dict[str, float]] = {k: dict(v) for k, v in (totals or {}).items()}
        self._stack: list[str] = []
        self._mark: tuple[dict[str, float], float] = (self._now(), time.perf_counter())

    def _now(self) -> dict[str, float]:
        return _sum_roles(self.ledger.snapshot() if self.ledger is not None else None)

    def _close_segment(self) -> None:
        """Book what was paid since the last mark to the innermost running phase."""
        counts, clock = self._now(), time.perf_counter()
        if self._stack:
            before, started = self._mark
            row = self.totals.setdefault(self._stack[-1], {})
            for key in (*COUNTS, "cost"):
                delta = counts[key] - before[key]
                if key == "cost":
                    row[key] = round(row.get(key, 0.0) + delta, 6)
                else:
                    row[key] = int(row.get(key, 0) + round(delta))
            row["seconds"] = round(row.get("seconds", 0.0) + (clock - started), 3)
        self._mark = (counts, clock)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._close_segment()
        self._stack.append(name)
        try:
            yield
        finally:
            self._close_segment()
            self._stack.pop()


def training_usage(
    snapshot: Mapping[str, Mapping[str, Any]] | None, phases: Mapping[str, Mapping[str, float]]
) -> dict[str, int]:
    """What training spent, as a budget counts it: every role's calls (cache hits included) and
    prompt plus completion tokens (those of cache hits included), less the test evaluation's."""
    whole = _sum_roles(snapshot)
    test = phases.get("test") or {}

    def spent(keys: tuple[str, ...]) -> int:
        return max(0, int(sum(whole[k] - float(test.get(k, 0) or 0) for k in keys)))

    return {
        "calls": spent(("calls", "cache_hits")),
        "tokens": spent(("prompt_tokens", "completion_tokens", "hit_tokens")),
    }


def phase_table(
    phases: Mapping[str, Mapping[str, float]], totals: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, float]]:
    """The phases in report order, and `other`: the run's totals (per role, as summary.json
    keeps them) less every phase's counts, when the run has totals."""
    out = {name: dict(phases[name]) for name in PHASES if name in phases}
    out.update({name: dict(row) for name, row in phases.items() if name not in out})
    if totals:
        whole = _sum_roles(totals)
        other: dict[str, float] = {}
        for key in COUNTS:
            other[key] = max(0, int(whole[key] - sum(r.get(key, 0) for r in out.values())))
        other["cost"] = max(
            0.0, round(whole["cost"] - sum(r.get("cost", 0.0) for r in out.values()), 6)
        )
        if any(other[key] for key in COUNTS):
            out["other"] = other
    return out


def phase_line(table: Mapping[str, Mapping[str, float]]) -> str:
    """One line: `rollouts 48 calls 21k tok 30 s · reflection ...` (calls include cache hits)."""
    parts = []
    for name, row in table.items():
        calls = int(row.get("calls", 0) + row.get("cache_hits", 0))
        tokens = int(row.get("prompt_tokens", 0) + row.get("completion_tokens", 0))
        seconds = row.get("seconds")
        took = f" {seconds:.0f} s" if seconds is not None else ""
        parts.append(f"{name} {calls} calls {_k(tokens)} tok{took}")
    return " · ".join(parts)


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


__all__ = ["COUNTS", "PHASES", "PhaseClock", "phase_line", "phase_table", "training_usage"]
