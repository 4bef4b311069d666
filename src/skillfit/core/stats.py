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

- `unconditional_pvalue`: for 0/1 scores, the exact *unconditional* paired test (Suissa and
  Shuster 1991, "the 2x2 matched-pairs trial: exact unconditional design and analysis",
  Biometrics 47:361-372). The sign test above conditions on the number of discordant items and
  is therefore very conservative on small sets: with 5 discordant items out of 20 only 5 wins of
  5 reach p <= 0.05. The unconditional test orders outcomes by Z = (wins - losses) /
  sqrt(wins + losses) and takes the largest tail probability over every share psi of discordant
  items (the nuisance parameter), so its false-positive rate is at most alpha whatever psi is,
  and it adopts more real gains. The maximum over psi is taken on a grid and an upper bound on
  what the grid can miss (from the curvature of the tail as a polynomial in psi) is added, so
  the p-value is never understated.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import special as spspecial
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
    "unconditional_pvalue",
    "unconditional_pvalue_floor",
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


@functools.lru_cache(maxsize=1024)
def _t_quantile(q: float, df: int) -> float:
    return float(sps.t.ppf(q, df))


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
    half = _t_quantile((1 + confidence) / 2, n - 1) * sem
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


# --- exact unconditional test for 0/1 scores -------------------------------------------------

# Grid over psi, the chance that an item is discordant: at least 1025 points and 32 per item,
# so the curvature slack n(n-1)h^2/4 (h the grid step) stays below 1/4096.
_PSI_MIN_POINTS = 1025
_PSI_POINTS_PER_ITEM = 32
# The cheap lower bound used by the gate's early stop looks at fewer values of psi.
_PSI_FLOOR_POINTS = 129
# Grids of at most this many items are cached (about 1 MB each); larger ones are computed in
# chunks of rows so that memory stays small.
_PSI_CACHE_ITEMS = 64
_PSI_CHUNK_CELLS = 1 << 20
# Above this many items the grid costs seconds (it grows as 32 n^2): the exact conditional sign
# test is used instead, which also keeps false positives at most alpha and at that size is
# nearly as powerful.
_UNCONDITIONAL_MAX_ITEMS = 2000


def _z_at_least(x: int, d: int, x0: int, d0: int) -> bool:
    """Z(x, d) >= Z(x0, d0), exactly, for Z(x, d) = x / sqrt(d) (0 when d == 0)."""
    if d == 0 or d0 == 0:
        zx = 0 if d == 0 else (x > 0) - (x < 0)
        z0 = 0 if d0 == 0 else (x0 > 0) - (x0 < 0)
        return zx >= z0
    if (x >= 0) != (x0 >= 0):
        return x >= 0
    if x >= 0:
        return x * x * d0 >= x0 * x0 * d
    return x * x * d0 <= x0 * x0 * d


def _min_wins(x0: int, d0: int, d: int) -> int:
    """The fewest wins w among d discordant items with Z(2w - d, d) >= Z(x0, d0); d + 1 if none."""
    if d == 0:
        return 0 if _z_at_least(0, 0, x0, d0) else 1
    if x0 <= 0 or d0 == 0:
        if x0 >= 0:  # Z0 = 0: every w with 2w >= d
            return (d + 1) // 2
        k = math.isqrt(x0 * x0 * d // d0)  # the largest |x| with x < 0 still at least as large
        x = max(-k, -d)
    else:
        t = -(-(x0 * x0 * d) // d0)  # x^2 >= ceil(x0^2 d / d0)
        x = math.isqrt(t - 1) + 1
    if (x - d) % 2:
        x += 1
    w = (d + x) // 2
    return min(w, d + 1)


def _tail_given_discordant(wins: int, losses: int, n: int) -> np.ndarray:
    """q[d] = P(Z >= Z_observed | d discordant items) when each is a win with probability 1/2."""
    x0, d0 = wins - losses, wins + losses
    d = np.arange(n + 1)
    w_min = np.array([_min_wins(x0, d0, int(k)) for k in d], dtype=np.int64)
    q = sps.binom.sf(w_min - 1, d, 0.5)
    return np.clip(np.asarray(q, dtype=float), 0.0, 1.0)


def _psi_points(n: int) -> int:
    return max(_PSI_MIN_POINTS, _PSI_POINTS_PER_ITEM * n + 1)


def _discordant_pmf(n: int, psi: np.ndarray) -> np.ndarray:
    """pmf[g, d] = P(d of n items discordant) when each is with probability psi[g]."""
    d = np.arange(n + 1, dtype=float)
    log_comb = spspecial.gammaln(n + 1) - spspecial.gammaln(d + 1) - spspecial.gammaln(n - d + 1)
    p = psi[:, None]
    log_pmf = (
        log_comb[None, :] + spspecial.xlogy(d[None, :], p) + spspecial.xlog1py((n - d)[None, :], -p)
    )
    out: np.ndarray = np.exp(log_pmf)
    return out


@functools.lru_cache(maxsize=32)
def _cached_pmf(n: int) -> np.ndarray:
    pmf = _discordant_pmf(n, np.linspace(0.0, 1.0, _psi_points(n)))
    pmf.setflags(write=False)
    return pmf


def _max_tail(q: np.ndarray, n: int, points: int) -> float:
    """The largest of sum_d pmf[g, d] q[d] over `points` evenly spaced psi in [0, 1]."""
    if points == _psi_points(n) and n <= _PSI_CACHE_ITEMS:
        return float((_cached_pmf(n) @ q).max())
    psi = np.linspace(0.0, 1.0, points)
    rows = max(1, _PSI_CHUNK_CELLS // (n + 1))
    best = 0.0
    for start in range(0, points, rows):
        best = max(best, float((_discordant_pmf(n, psi[start : start + rows]) @ q).max()))
    return best


def _check_counts(wins: int, losses: int, n: int) -> None:
    if n < 0 or wins < 0 or losses < 0 or wins + losses > n:
        raise ValueError(
            f"need 0 <= wins, losses and wins + losses <= n, got {wins}, {losses}, {n}"
        )


def _sign_test(wins: int, losses: int) -> float:
    return _sign_flip_pvalue_int([1] * wins + [-1] * losses)


@functools.lru_cache(maxsize=4096)
def unconditional_pvalue(wins: int, losses: int, n: int) -> float:
    """One-sided exact unconditional p-value that wins are likelier than losses.

    `n` items in all, of which `wins` favour the candidate and `losses` the current skill (the
    rest tie). The p-value is the largest probability, over the unknown share psi of discordant
    items, that Z = (wins - losses) / sqrt(wins + losses) reaches the observed value when wins
    and losses are equally likely. It is computed on a grid over psi plus a bound on what the
    grid can miss, so it is never below the exact supremum: adopting at p <= alpha adopts a
    candidate no better than the current one with probability at most alpha, for every psi.

    Monotone: for a fixed n, turning a loss into a tie or a tie into a win never raises it.
    Above 2000 items it is the exact conditional sign test instead (see _UNCONDITIONAL_MAX_ITEMS)."""
    _check_counts(wins, losses, n)
    if n == 0:
        return 1.0
    if n > _UNCONDITIONAL_MAX_ITEMS:
        return _sign_test(wins, losses)
    q = _tail_given_discordant(wins, losses, n)
    points = _psi_points(n)
    step = 1.0 / (points - 1)
    # Between grid points the tail exceeds the larger end value by at most |f''| h^2 / 8, and
    # the tail is a polynomial in psi of degree n with |f''| <= 2 n (n - 1).
    slack = n * (n - 1) * step * step / 4
    return min(1.0, _max_tail(q, n, points) + slack)


@functools.lru_cache(maxsize=4096)
def unconditional_pvalue_floor(wins: int, losses: int, n: int) -> float:
    """A cheap lower bound on `unconditional_pvalue(wins, losses, n)` (the tail at a few values
    of psi, no slack): if it exceeds alpha, so does the p-value. For the gate's early stop."""
    _check_counts(wins, losses, n)
    if n == 0:
        return 1.0
    if n > _UNCONDITIONAL_MAX_ITEMS:
        return _sign_test(wins, losses)
    return _max_tail(_tail_given_discordant(wins, losses, n), n, _PSI_FLOOR_POINTS)
