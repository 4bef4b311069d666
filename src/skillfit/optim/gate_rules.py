"""The gate's statistics: the scores tallied so far, what the items still to score can change,
and the decision rules of each gate kind with the bounds of its early stop.

Why each bound is exact, so that stopping early (and racing) never changes the verdict, is told
in the gate's own description (`optim.gate`); `gate.rule_for` picks the rule of a GateConfig
and `gate.run_gate` drives the scoring. Means are exact fractions here, so ties are ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from skillfit.core.stats import (
    PairedResult,
    quantize,
    sign_flip_pvalue,
    unconditional_pvalue,
    unconditional_pvalue_floor,
)
from skillfit.tasks.base import Item

__all__ = [
    "ONE",
    "ZERO",
    "Rest",
    "Rule",
    "SignFlip",
    "StrictMean",
    "Tally",
    "Unconditional",
    "item_mean",
    "to_float",
]

# Slack on the p-value bound: larger than any rounding error of the exact test, so the early
# stop can never fire on a candidate whose full evaluation would pass.
_P_SLACK = 1e-9
# Above this many cells the p-value bound is skipped (stopping less often is always safe).
_MAX_BOUND_CELLS = 20_000_000
# Cells of one unconditional p-value floor: values of psi times items (see stats).
_FLOOR_POINTS = 129

ZERO, ONE = Fraction(0), Fraction(1)


def to_float(x: Fraction) -> float:
    return x.numerator / x.denominator  # float(x), without the generic Rational detour


def item_mean(scores: list[Fraction | None], samples: int) -> Fraction | None:
    if samples == 1:
        return scores[0]
    present = [x for x in scores if x is not None]
    if len(present) < len(scores):
        return None  # any failed sample excludes the item: a partial average is a different metric
    return sum(present, Fraction(0)) / samples


@dataclass
class Tally:
    """Scores so far. Means are exact fractions so ties are ties, whatever the float noise."""

    samples: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    current: list[Fraction] = field(default_factory=list)  # per included item
    candidate: list[Fraction] = field(default_factory=list)
    n_excluded: int = 0
    diff_sum: Fraction = ZERO  # sum of candidate minus current over the included items
    wins: int = 0
    losses: int = 0

    def add(self, item: Item, cur: list[Fraction | None], cand: list[Fraction | None]) -> None:
        cur_mean = item_mean(cur, self.samples)
        cand_mean = item_mean(cand, self.samples)
        self.rows.append(
            {
                "item_id": item.id,
                "current": None if cur_mean is None else to_float(cur_mean),
                "candidate": None if cand_mean is None else to_float(cand_mean),
            }
        )
        if cur_mean is None or cand_mean is None:
            self.n_excluded += 1
            return
        self.current.append(cur_mean)
        self.candidate.append(cand_mean)
        if cand_mean != cur_mean:  # ties (most items) need no arithmetic
            diff = cand_mean - cur_mean
            self.diff_sum += diff
            if diff > 0:
                self.wins += 1
            else:
                self.losses += 1

    @property
    def n(self) -> int:
        return len(self.current)

    def float_diffs(self) -> list[float]:
        # Exactly the differences paired_difference computes, so the bound sees the same grid.
        return [
            to_float(c) - to_float(k) for c, k in zip(self.candidate, self.current, strict=True)
        ]


@dataclass(frozen=True)
class Rest:
    """The items still to score, as the bounds see them: for each, the largest gain and the
    largest loss the candidate can make on it. Unknown current scores: +1 and -1 each. Known
    (racing scores the current skill first): an item the current skill got right cannot be won,
    one it got wrong cannot be lost; gain 1 - m and loss m for a current item mean m. Items whose
    current score failed are excluded whatever the candidate does, so they are left out."""

    gains: tuple[Fraction, ...]  # largest first
    losses: tuple[Fraction, ...]  # largest first

    @classmethod
    def unknown(cls, count: int) -> Rest:
        return cls((ONE,) * count, (ONE,) * count)

    @classmethod
    def known(cls, current: Sequence[Fraction | None]) -> Rest:
        means = [m for m in current if m is not None]
        return cls(
            tuple(sorted((ONE - m for m in means), reverse=True)),
            tuple(sorted(means, reverse=True)),
        )

    def __len__(self) -> int:
        return len(self.gains)

    @staticmethod
    def prefix_sums(values: Sequence[Fraction]) -> list[Fraction]:
        out = [ZERO]
        for v in values:
            out.append(out[-1] + v)
        return out

    def split(self, values: Sequence[Fraction]) -> tuple[int, int]:
        """(items with a full 1 in `values`, items with 0), for 0/1 scores."""
        full = sum(1 for v in values if v == ONE)
        return full, len(values) - full


class Rule:
    """How a gate kind decides: what gain it requires, which test (if any) and its bound for
    the early stop, and how it words its verdict. `gate.rule_for(cfg)` picks one per GateConfig."""

    test_name = ""

    def __init__(self, alpha: float, min_margin: float) -> None:
        self.alpha = alpha  # paired kinds: largest p-value adopted
        self.min_margin = min_margin  # paired kinds: least mean gain

    def mean_ok(self, diff_sum: Fraction, n: int) -> bool:
        """Whether a mean difference of diff_sum / n is a gain the rule accepts."""
        return n > 0 and diff_sum > 0

    def p_value(self, tally: Tally, paired: PairedResult) -> PairedResult:
        """The paired result with the p-value this rule decides on."""
        return paired

    def accepts(self, tally: Tally, paired: PairedResult) -> bool:
        return self.mean_ok(tally.diff_sum, tally.n)

    def can_still_win(self, tally: Tally, rest: Rest, resolution: float) -> bool:
        """False only if no outcome of the remaining items could get the candidate adopted."""
        # Best case for the mean with j of the remaining items included: the j largest gains
        # made in full, the rest excluded; any other outcome of j items has a smaller sum.
        diff_sum, n = tally.diff_sum, tally.n
        best = Rest.prefix_sums(rest.gains)
        return any(self.mean_ok(diff_sum + best[j], n + j) for j in range(len(rest) + 1))

    def surely_wins(self, tally: Tally, rest: Rest, resolution: float) -> bool:
        """True only if every outcome of the remaining items leaves the candidate adopted."""
        # Worst case for the mean with k of the remaining items included: the k largest
        # losses made in full, the rest excluded; any other outcome of k items has a larger sum.
        diff_sum, n = tally.diff_sum, tally.n
        worst = Rest.prefix_sums(rest.losses)
        return all(self.mean_ok(diff_sum - worst[k], n + k) for k in range(len(rest) + 1))

    def verdict(self, accepted: bool, tally: Tally, paired: PairedResult) -> str:
        raise NotImplementedError

    def aim(self) -> str:
        """What the candidate could not reach, for an early stop's reason."""
        raise NotImplementedError


class StrictMean(Rule):
    """The paper's gate: a strictly higher mean, no test."""

    test_name = "sign-flip test"  # reported beside the means, not decided on

    def verdict(self, accepted: bool, tally: Tally, paired: PairedResult) -> str:
        return "higher mean: adopted" if accepted else "mean not strictly higher: rejected"

    def aim(self) -> str:
        return "beat the current mean"


class SignFlip(Rule):
    """`paired`: the exact sign-flip test at alpha, and a gain of at least min_margin."""

    test_name = "sign-flip test"

    def mean_ok(self, diff_sum: Fraction, n: int) -> bool:
        # repr() so that a margin of 0.1 means exactly 1/10, not the float just above it.
        return super().mean_ok(diff_sum, n) and (diff_sum >= Fraction(repr(self.min_margin)) * n)

    def accepts(self, tally: Tally, paired: PairedResult) -> bool:
        return super().accepts(tally, paired) and paired.p_value <= self.alpha

    def can_still_win(self, tally: Tally, rest: Rest, resolution: float) -> bool:
        if not super().can_still_win(tally, rest, resolution):
            return False
        # The smallest reachable p-value: every remaining item its largest gain (the test is
        # monotone, and ties or exclusions leave it unchanged).
        best = [*tally.float_diffs(), *(to_float(g) for g in rest.gains if g)]
        steps = quantize(best, resolution)
        if len(steps) * sum(abs(m) for m in steps) <= _MAX_BOUND_CELLS:
            return sign_flip_pvalue(best, resolution) <= self.alpha + _P_SLACK
        return True

    def surely_wins(self, tally: Tally, rest: Rest, resolution: float) -> bool:
        if not super().surely_wins(tally, rest, resolution):
            return False
        # The largest reachable p-value: every remaining item its largest loss. A tie or an
        # excluded item leaves the sign-flip test unchanged, and a smaller loss raises the
        # p-value less (the test is monotone).
        worst = [*tally.float_diffs(), *(0.0 - to_float(m) for m in rest.losses if m)]
        steps = quantize(worst, resolution)
        if len(steps) * sum(abs(m) for m in steps) > _MAX_BOUND_CELLS:
            return False
        return sign_flip_pvalue(worst, resolution) + _P_SLACK <= self.alpha

    def verdict(self, accepted: bool, tally: Tally, paired: PairedResult) -> str:
        if accepted:
            return (
                f"p <= {self.alpha:g} ({self.test_name}) and gain >= {self.min_margin:g}: adopted"
            )
        failed = []
        if paired.p_value > self.alpha:
            failed.append(f"p > {self.alpha:g} ({self.test_name})")
        if not self.mean_ok(tally.diff_sum, tally.n):
            failed.append(f"gain < max({self.min_margin:g}, >0)")
        return " and ".join(failed or ["not significant"]) + ": rejected"

    def aim(self) -> str:
        return f"reach p <= {self.alpha:g} with gain >= {self.min_margin:g}"


class Unconditional(SignFlip):
    """`paired_unconditional` on 0/1 items, one sample each: the exact unconditional test."""

    test_name = "exact unconditional test"

    def p_value(self, tally: Tally, paired: PairedResult) -> PairedResult:
        # Report the p-value the decision uses (the sign-flip one is the conditional test).
        return replace(paired, p_value=unconditional_pvalue(tally.wins, tally.losses, tally.n))

    def can_still_win(self, tally: Tally, rest: Rest, resolution: float) -> bool:
        if not Rule.can_still_win(self, tally, rest, resolution):
            return False
        # Here the test depends on how many items are included, so each count is tried: j of
        # the items that can be won included and won, t of those that cannot included as ties
        # (for fixed counts, a better outcome on any item never raises the p-value); the floor
        # never exceeds the p-value it bounds.
        diff_sum, n = tally.diff_sum, tally.n
        winnable, tied = rest.split(rest.gains)
        cells = (winnable + 1) * (tied + 1) * (n + len(rest) + 1) * _FLOOR_POINTS
        if cells > _MAX_BOUND_CELLS:
            return True
        # Most often every winnable item won passes, so that count is tried first.
        return any(
            self.mean_ok(diff_sum + j, n + j + t)
            and unconditional_pvalue_floor(tally.wins + j, tally.losses, n + j + t)
            <= self.alpha + _P_SLACK
            for j in range(winnable, -1, -1)
            for t in range(tied + 1)
        )

    def surely_wins(self, tally: Tally, rest: Rest, resolution: float) -> bool:
        if not Rule.surely_wins(self, tally, rest, resolution):
            return False
        # For each count, k of the items that can be lost included and lost and t of those that
        # cannot included as ties, the worst outcome (a worse outcome on any item never lowers
        # the p-value for fixed counts); every count must still pass, with the exact p-value.
        # The most losses fail most often, so they are tried first.
        diff_sum, n = tally.diff_sum, tally.n
        losable, tied = rest.split(rest.losses)
        cells = (losable + 1) * (tied + 1) * (n + len(rest) + 1) * _FLOOR_POINTS
        if cells > _MAX_BOUND_CELLS:
            return False
        return all(
            self.mean_ok(diff_sum - k, n + k + t)
            and unconditional_pvalue(tally.wins, tally.losses + k, n + k + t) + _P_SLACK
            <= self.alpha
            for k in range(losable, -1, -1)
            for t in range(tied + 1)
        )
