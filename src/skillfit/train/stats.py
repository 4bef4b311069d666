"""Small statistics for comparing skills on the same items.

- `wilson_interval`: confidence interval of an accuracy (k of n solved).
- `mean_ci`: t-interval of a mean; works for 0/1 and for soft scores.
- `paired_difference`: candidate vs current on the same items, in the same order: mean
  difference with a t-interval, win/loss/tie counts and a one-sided p-value (candidate better).

The p-value is the exact sign-flip permutation test on the per-item differences: under the null
hypothesis that neither skill is better, each difference is as likely to have the opposite sign,
so the p-value is the share of the 2^n sign assignments whose sum reaches the observed sum.
For 0/1 scores this is exactly the one-sided sign test on the discordant pairs (exact McNemar),
and for 0/1 scores averaged over repeated samples it is exact as well. It is computed exactly
for every n by dynamic programming over integer sums (differences are first put on a grid of
`resolution`; soft scores default to 1/1000), not by Monte Carlo: the gate's early stop relies
on the p-value being a deterministic, monotone function of the differences (a better result on
any item never raises it), which a sampled p-value is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import stats as sps

__all__ = [
    "MeanCI",
    "PairedResult",
    "default_resolution",
    "mean_ci",
    "paired_difference",
    "quantize",
    "sign_flip_pvalue",
    "soft_grid",
    "wilson_interval",
]

# Exact denominators tried before falling back to the soft grid: covers 0/1 scores averaged
# over up to 12 samples and simple fractions such as 0.5 or 0.25.
_EXACT_DENOMINATORS = range(1, 13)
_SOFT_GRID = 1000
# Keeps the dynamic program small for very large item sets (cells ~ n * grid).
_MAX_GRID_CELLS = 200_000
_TOL = 1e-9


def _clean(x: float) -> float | None:
    return x if math.isfinite(x) else None


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when n == 0."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    ci = sps.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


class MeanCI(NamedTuple):
    mean: float
    low: float
    high: float
    n: int


def mean_ci(
    values: Sequence[float],
    confidence: float = 0.95,
    *,
    bounds: tuple[float, float] | None = None,
) -> MeanCI:
    """Mean with a Student-t confidence interval, clipped to `bounds`.

    `bounds=None` infers them: [0, 1] when every value lies there (scores), else unbounded.
    With n == 0 everything is NaN; with n == 1 the interval is the whole of `bounds`.
    Identical values give a zero-width interval (a t-interval knows no better)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    xs = np.asarray(values, dtype=float)
    n = int(xs.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0)
    if bounds is None:
        bounds = (0.0, 1.0) if bool(np.all((xs >= 0) & (xs <= 1))) else (-math.inf, math.inf)
    lo_bound, hi_bound = bounds
    mean = float(xs.mean())
    if n == 1:
        return MeanCI(mean, lo_bound, hi_bound, 1)
    sem = float(xs.std(ddof=1)) / math.sqrt(n)
    half = float(sps.t.ppf((1 + confidence) / 2, n - 1)) * sem
    return MeanCI(mean, max(lo_bound, mean - half), min(hi_bound, mean + half), n)


def default_resolution(diffs: Sequence[float]) -> float:
    """Grid for the permutation test: the smallest 1/q (q <= 12) on which every difference
    lies exactly, otherwise a fine soft grid (1/1000, coarser for thousands of items)."""
    for q in _EXACT_DENOMINATORS:
        if all(abs(d * q - round(d * q)) <= _TOL for d in diffs):
            return 1.0 / q
    return 1.0 / soft_grid(len(diffs))


def soft_grid(n_items: int) -> int:
    """Grid points per unit of difference for soft scores over `n_items` items."""
    return max(10, min(_SOFT_GRID, _MAX_GRID_CELLS // max(1, n_items)))


def quantize(diffs: Sequence[float], resolution: float) -> list[int]:
    """Differences as integer multiples of `resolution` (rounded half away from zero, so
    the grid is symmetric and a difference of 0 stays a tie)."""
    if resolution <= 0:
        raise ValueError(f"resolution must be > 0, got {resolution}")
    out = []
    for d in diffs:
        scaled = abs(d) / resolution
        # Snap values that are on the grid up to float noise (e.g. 2/3 with resolution 1/3).
        k = round(scaled) if abs(scaled - round(scaled)) <= _TOL else math.floor(scaled + 0.5)
        out.append(int(k) if d >= 0 else -int(k))
    return out


def _sign_flip_pvalue_int(steps: Sequence[int]) -> float:
    magnitudes = [abs(m) for m in steps if m != 0]
    if not magnitudes:
        return 1.0
    observed = sum(steps)
    # dist[i] = P(sum of randomly signed magnitudes == i - width) over the magnitudes so far.
    dist = np.ones(1)
    width = 0
    for a in magnitudes:
        new = np.zeros(2 * (width + a) + 1)
        new[: 2 * width + 1] += 0.5 * dist  # this magnitude with a minus sign
        new[2 * a : 2 * a + 2 * width + 1] += 0.5 * dist  # with a plus sign
        dist, width = new, width + a
    p = float(dist[observed + width :].sum())
    return min(1.0, max(p, 0.0))


def sign_flip_pvalue(diffs: Sequence[float], resolution: float | None = None) -> float:
    """One-sided exact p-value that the mean difference is > 0 (sign-flip permutation test).

    1.0 when there are no non-zero differences. Monotone: raising any difference, adding an
    item with the largest possible difference, or dropping a tie never raises it."""
    res = default_resolution(diffs) if resolution is None else resolution
    return _sign_flip_pvalue_int(quantize(diffs, res))


@dataclass(frozen=True)
class PairedResult:
    """Candidate minus current on the same items. `ci_low`/`ci_high` is the t-interval of the
    mean difference; `p_value` is one-sided (candidate better)."""

    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    wins: int
    losses: int
    ties: int

    def to_dict(self) -> dict[str, Any]:
        return {k: (_clean(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    confidence: float = 0.95,
    *,
    resolution: float | None = None,
) -> PairedResult:
    """Compare candidate scores `a` with current scores `b`, item by item.

    Wins, losses and ties count per-item differences after putting them on the test's grid
    (a difference smaller than half the resolution is a tie). The interval is a t-interval
    on the differences, clipped to [-1, 1] when the scores lie in [0, 1]. n == 0 gives a NaN
    mean and interval and p_value 1."""
    if len(a) != len(b):
        raise ValueError(f"paired scores need equal lengths, got {len(a)} and {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    res = default_resolution(diffs) if resolution is None else resolution
    steps = quantize(diffs, res)
    in_unit = all(0.0 <= float(v) <= 1.0 for v in (*a, *b))
    ci = mean_ci(diffs, confidence, bounds=(-1.0, 1.0) if in_unit else (-math.inf, math.inf))
    return PairedResult(
        mean_diff=ci.mean,
        ci_low=ci.low,
        ci_high=ci.high,
        p_value=_sign_flip_pvalue_int(steps),
        n=len(diffs),
        wins=sum(1 for m in steps if m > 0),
        losses=sum(1 for m in steps if m < 0),
        ties=sum(1 for m in steps if m == 0),
    )
