"""Confidence intervals and the paired test against reference values and brute force."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from skillfit.core.stats import (
    default_resolution,
    mean_ci,
    paired_difference,
    quantize,
    sign_flip_pvalue,
    unconditional_pvalue,
    unconditional_pvalue_floor,
    wilson_interval,
)


def brute_force_pvalue(diffs: list[float]) -> float:
    observed = sum(diffs)
    hits = 0
    for signs in itertools.product((1, -1), repeat=len(diffs)):
        if sum(s * abs(d) for s, d in zip(signs, diffs, strict=True)) >= observed - 1e-12:
            hits += 1
    return hits / 2 ** len(diffs)


# --- Wilson ---------------------------------------------------------------------------


def test_wilson_reference_values() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12) and 0 < high < 0.2
    low, high = wilson_interval(20, 20)
    assert 0.8 < low < 1 and high == pytest.approx(1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_wilson_narrows_with_lower_confidence() -> None:
    wide = wilson_interval(12, 20, confidence=0.99)
    narrow = wilson_interval(12, 20, confidence=0.8)
    assert wide[0] < narrow[0] < 0.6 < narrow[1] < wide[1]


# --- mean_ci --------------------------------------------------------------------------


def test_mean_ci_matches_scipy_t_interval() -> None:
    values = [0.2, 0.5, 0.9, 0.4, 0.6, 0.3]
    ci = mean_ci(values, 0.9, bounds=(-math.inf, math.inf))
    low, high = sps.t.interval(0.9, len(values) - 1, loc=ci.mean, scale=sps.sem(values))
    assert ci.mean == pytest.approx(sum(values) / len(values))
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))
    assert ci.n == 6


def test_mean_ci_binary_clipped_to_unit_interval() -> None:
    ci = mean_ci([1, 1, 1, 0])
    assert ci.mean == 0.75
    assert 0.0 <= ci.low < 0.75 < ci.high == 1.0  # the raw t-interval would exceed 1


def test_mean_ci_degenerate_sizes() -> None:
    empty = mean_ci([])
    assert empty.n == 0 and math.isnan(empty.mean)
    one = mean_ci([0.4])
    assert (one.mean, one.low, one.high) == (0.4, 0.0, 1.0)
    same = mean_ci([0.5, 0.5, 0.5])
    assert same.low == same.high == 0.5
    unbounded = mean_ci([-2.0, 3.0, 5.0])
    assert unbounded.low < -2.0  # no clipping for values outside [0, 1]


# --- the permutation test -------------------------------------------------------------


@pytest.mark.parametrize(("wins", "losses", "ties"), [(5, 0, 3), (7, 2, 1), (3, 3, 0), (0, 4, 2)])
def test_binary_pvalue_is_exact_sign_test(wins: int, losses: int, ties: int) -> None:
    a = [1] * wins + [0] * losses + [1] * ties
    b = [0] * wins + [1] * losses + [1] * ties
    result = paired_difference(a, b)
    expected = sps.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)
    assert (result.wins, result.losses, result.ties, result.n) == (wins, losses, ties, len(a))


@given(
    wins=st.integers(0, 60),
    losses=st.integers(0, 60),
)
@settings(max_examples=50)
def test_binary_pvalue_matches_binomtest_for_larger_n(wins: int, losses: int) -> None:
    diffs = [1.0] * wins + [-1.0] * losses
    if not diffs:
        assert sign_flip_pvalue(diffs) == 1.0
        return
    expected = sps.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue
    assert sign_flip_pvalue(diffs) == pytest.approx(expected, rel=1e-9)


@given(st.lists(st.integers(-6, 6), min_size=1, max_size=10), st.integers(1, 6))
@settings(max_examples=80)
def test_pvalue_matches_brute_force_on_exact_grid(units: list[int], q: int) -> None:
    diffs = [u / q for u in units if abs(u) <= q]
    if not diffs:
        return
    assert sign_flip_pvalue(diffs) == pytest.approx(brute_force_pvalue(diffs), abs=1e-12)


@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=8),
)
@settings(max_examples=60)
def test_pvalue_soft_close_to_brute_force(diffs: list[float]) -> None:
    # Soft differences are put on a 1/1000 grid: identical to brute force on the rounded values.
    res = default_resolution(diffs)
    rounded = [m * res for m in quantize(diffs, res)]
    assert sign_flip_pvalue(diffs) == pytest.approx(brute_force_pvalue(rounded), abs=1e-9)


@given(
    base=st.lists(st.floats(-1, 1, allow_nan=False), max_size=12),
    old=st.floats(-1, 1, allow_nan=False),
    new=st.floats(-1, 1, allow_nan=False),
)
@settings(max_examples=150)
def test_pvalue_is_monotone(base: list[float], old: float, new: float) -> None:
    low, high = sorted((old, new))
    res = 1 / 1000
    p_low = sign_flip_pvalue([*base, low], res)
    p_high = sign_flip_pvalue([*base, high], res)
    assert p_high <= p_low + 1e-12  # a better result on one item never raises the p-value
    assert sign_flip_pvalue([*base, 1.0], res) <= sign_flip_pvalue(base, res) + 1e-12
    assert sign_flip_pvalue([*base, 0.0], res) == pytest.approx(sign_flip_pvalue(base, res))


def test_quantize_is_symmetric_and_snaps_exact_fractions() -> None:
    assert quantize([2 / 3, -2 / 3, 1 / 3, 0.0], 1 / 3) == [2, -2, 1, 0]
    assert quantize([0.0004, -0.0004, 0.0006, -0.0006], 1 / 1000) == [0, 0, 1, -1]
    assert default_resolution([0.5, -1.0, 0.0]) == 0.5
    assert default_resolution([1 / 3, 2 / 3]) == pytest.approx(1 / 3)
    assert default_resolution([0.123]) == pytest.approx(1 / 1000)


# --- paired_difference ----------------------------------------------------------------


def test_paired_difference_soft_scores() -> None:
    a = [0.9, 0.8, 0.7, 0.95, 0.6, 0.85]
    b = [0.5, 0.6, 0.7, 0.55, 0.65, 0.45]
    r = paired_difference(a, b)
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    assert r.mean_diff == pytest.approx(sum(diffs) / len(diffs))
    assert r.ci_low < r.mean_diff < r.ci_high
    assert (r.wins, r.losses, r.ties) == (4, 1, 1)
    assert r.p_value == pytest.approx(brute_force_pvalue(diffs))
    assert r.p_value < 0.1


def test_paired_difference_no_items_and_mismatch() -> None:
    r = paired_difference([], [])
    assert r.n == 0 and r.p_value == 1.0 and math.isnan(r.mean_diff)
    assert json.dumps(r.to_dict())  # NaN becomes null, so the dict is valid JSON
    assert r.to_dict()["mean_diff"] is None
    with pytest.raises(ValueError):
        paired_difference([1, 0], [1])


def test_all_ties_is_not_significant() -> None:
    r = paired_difference([1, 0, 1], [1, 0, 1])
    assert r.p_value == 1.0 and r.ties == 3 and r.mean_diff == 0.0


def test_large_soft_comparison() -> None:
    """(How long it takes is bench/stats_timing.py's figure, not a test's.)"""
    import random

    rng = random.Random(1)
    a = [rng.random() for _ in range(300)]
    b = [min(1.0, x + rng.uniform(-0.1, 0.3)) for x in a]
    r = paired_difference(b, a)
    assert r.p_value < 1e-6 and r.mean_diff > 0


# --- the exact unconditional test ------------------------------------------------------


def _z_at_least(x: int, d: int, x0: int, d0: int) -> bool:
    # Z = x / sqrt(d), 0 without discordant items; compared in floats, well apart from ties
    z = x / math.sqrt(d) if d else 0.0
    z0 = x0 / math.sqrt(d0) if d0 else 0.0
    return z >= z0 - 1e-12


def _tail(wins: int, losses: int, n: int, psi: float) -> float:
    """P(Z >= observed Z) over every (W, L) of n items, each a win or a loss with chance psi/2."""
    x0, d0 = wins - losses, wins + losses
    total = 0.0
    for w in range(n + 1):
        for loss in range(n + 1 - w):
            if _z_at_least(w - loss, w + loss, x0, d0):
                total += (
                    math.comb(n, w)
                    * math.comb(n - w, loss)
                    * (psi / 2) ** (w + loss)
                    * (1 - psi) ** (n - w - loss)
                )
    return total


def test_unconditional_pvalue_hand_values() -> None:
    assert unconditional_pvalue(1, 0, 1) == pytest.approx(0.5)  # P = psi/2, largest at psi=1
    assert unconditional_pvalue(2, 0, 2) == pytest.approx(0.25, abs=1e-6)  # psi^2/4
    # Z >= 1 with two items: (1, 0) or (2, 0): psi - 3 psi^2 / 4, largest (1/3) at psi = 2/3
    assert unconditional_pvalue(1, 0, 2) == pytest.approx(1 / 3, abs=1e-6)
    assert unconditional_pvalue(1, 0, 2) >= 1 / 3  # never understated
    assert unconditional_pvalue(0, 0, 5) == 1.0 and unconditional_pvalue(0, 3, 5) == 1.0
    assert unconditional_pvalue(0, 0, 0) == 1.0
    with pytest.raises(ValueError):
        unconditional_pvalue(3, 3, 5)


@pytest.mark.parametrize("n", [3, 6, 9])
def test_unconditional_pvalue_is_the_supremum_over_psi(n: int) -> None:
    grid = [k / 400 for k in range(401)]
    for w in range(n + 1):
        for loss in range(n + 1 - w):
            sup = max(_tail(w, loss, n, psi) for psi in grid)
            p = unconditional_pvalue(w, loss, n)
            assert sup - 1e-12 <= p <= sup + 1e-3, (w, loss, n)
            assert unconditional_pvalue_floor(w, loss, n) <= p + 1e-12


@pytest.mark.parametrize("n", [10, 16])
def test_unconditional_test_keeps_false_positives_at_most_alpha(n: int) -> None:
    # Under the null (wins as likely as losses) the chance of p <= alpha is at most alpha,
    # whatever the share of discordant items; the sign test is far below alpha at these sizes.
    for alpha in (0.05, 0.1):
        reject = [
            (w, loss)
            for w in range(n + 1)
            for loss in range(n + 1 - w)
            if unconditional_pvalue(w, loss, n) <= alpha
        ]
        for psi in [k / 20 for k in range(1, 21)]:
            size = sum(
                math.comb(n, w)
                * math.comb(n - w, loss)
                * (psi / 2) ** (w + loss)
                * (1 - psi) ** (n - w - loss)
                for w, loss in reject
            )
            assert size <= alpha + 1e-12, (n, alpha, psi, size)


def test_unconditional_pvalue_is_monotone() -> None:
    for n in range(1, 21):
        for w in range(n + 1):
            for loss in range(n + 1 - w):
                p = unconditional_pvalue(w, loss, n)
                if w + loss < n:  # a tie becomes a win
                    assert unconditional_pvalue(w + 1, loss, n) <= p + 1e-12
                if loss:  # a loss becomes a tie
                    assert unconditional_pvalue(w, loss - 1, n) <= p + 1e-12


def test_unconditional_beats_the_sign_test_on_small_sets() -> None:
    # 4 wins, no loss among 20 items: the sign test cannot go below 1/16 with 4 discordant items
    assert sign_flip_pvalue([1.0] * 4 + [0.0] * 16) == pytest.approx(1 / 16)
    assert unconditional_pvalue(4, 0, 20) < 0.05
    assert unconditional_pvalue(3, 0, 20) > 0.05 and unconditional_pvalue(1, 0, 20) > 0.25


def test_unconditional_falls_back_to_the_sign_test_on_huge_sets() -> None:
    expected = sps.binomtest(30, 40, 0.5, alternative="greater").pvalue
    assert unconditional_pvalue(30, 10, 2500) == pytest.approx(expected, rel=1e-9)
    assert unconditional_pvalue_floor(30, 10, 2500) == unconditional_pvalue(30, 10, 2500)


def test_unconditional_pvalue_on_a_larger_set() -> None:
    """(How long it takes is bench/stats_timing.py's figure, not a test's.)"""
    p = unconditional_pvalue(70, 40, 300)
    assert 0 < p < 0.05
