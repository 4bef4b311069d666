"""How long the gate's statistics take on the larger inputs a run can meet: the figures the
tests used to hold to a time budget (a test checks results, never speed; see tests/waits.py).

    python bench/stats_timing.py

Prints the median of a few repeats, in seconds, with the budget the tests once used beside it:
a result far above the budget on an idle machine is worth a look.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from skillfit.core import stats
from skillfit.core.stats import paired_difference, unconditional_pvalue


def cold() -> None:
    """Forget what the statistics cached, so each repeat pays as a first call does."""
    for name in dir(stats):
        clear = getattr(getattr(stats, name), "cache_clear", None)
        if callable(clear):
            clear()


def timed(fn: Callable[[], Any], repeats: int = 5) -> float:
    runs = []
    for _ in range(repeats):
        cold()
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    rng = random.Random(1)
    a = [rng.random() for _ in range(300)]
    b = [min(1.0, x + rng.uniform(-0.1, 0.3)) for x in a]
    cases = [
        ("paired_difference, 300 soft scores", lambda: paired_difference(b, a), 2.0),
        ("unconditional_pvalue(70, 40, 300)", lambda: unconditional_pvalue(70, 40, 300), 5.0),
    ]
    for label, fn, budget in cases:
        print(f"{label}: {timed(fn):.3f} s (budget {budget:.0f} s)")


if __name__ == "__main__":
    main()
