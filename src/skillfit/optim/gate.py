"""The acceptance gate: adopt a candidate skill only if it beats the current one.

Both skills are scored on the same validation items (the current skill is re-measured rather
than trusted from an earlier, possibly lucky, measurement), optionally several samples per item
averaged per item, and compared item by item:

- `paired_unconditional` (default, alpha 0.05): adopt if the exact unconditional paired test
  (Suissa and Shuster; `stats.unconditional_pvalue`) gives p <= alpha and the mean gain is at
  least `min_margin` (and positive). Whatever share of items the two skills disagree on, a
  candidate no better than the current one passes with probability at most alpha. The test
  needs 0/1 scores, one sample per item; with `samples` > 1 or the soft metric this kind uses
  the sign-flip test of `paired` instead (also at most alpha, less powerful) and says so.
- `paired`: the same with the exact sign-flip permutation test, which conditions on the items
  where the skills differ and is therefore conservative on small sets.
- `strict_mean` (the paper's gate): adopt only if the candidate's mean is strictly higher. Ties
  and losses are rejected; a single item won is enough.

Why that default. Measured with `nice -n 10 .venv/bin/python bench/gate_sim.py --markdown
bench/gate_sim.md` (the real `run_gate` on simulated temperature-0 targets: 2000 validation sets
per cell plus the exact rate; churn = share of items whose outcome differs, 0.1 to 0.3; the full
table is bench/gate_sim.md). False adoption = a candidate of equal true accuracy is adopted;
power = a candidate 10 points better is adopted:

    gate (alpha)                 worst false adoption   power on 20 / 40 / 60 items
    strict_mean                  35-45%                 74-88% / 85-99% / 91-100%
    paired 0.10                  6.4%                   13-17% / 34-58% / 46-86%
    paired 0.05 (margin 0/0.05)  3.2%                   4-9%   / 22-37% / 33-73%
    paired_unconditional 0.10    7.5%                   24-32% / 39-78% / 49-95%
    paired_unconditional 0.05    5.0% (4.97%)           13-17% / 30-78% / 41-95%

`paired_unconditional` at 0.05 is the most powerful of these that stays at most 5% at every size
and churn; at 60 items and churn 0.2-0.3 it is within two points of the best any test can do.

What no gate can do: on 20 items a 10-point gain is 2 net items, and no gate keeps false
adoption at 5% and adopts most such gains. The default adopts 13-17% of them; even the most
powerful test for a known churn (Neyman-Pearson, a bound rather than a gate) reaches only 40% /
25% / 20% at churn 0.1 / 0.2 / 0.3. The default adopts most 10-point gains from 40 items at
churn 0.1 (78%), from 60 at churn 0.2 (53%) and from about 100 at churn 0.3 (57%; 49% at 80;
`bench/gate_sim.py --sizes 80 100 --trials 500`, bench/gate_sim_larger.md). With a small
validation split, expect few adoptions (what it rejects is mostly noise), enlarge the split,
or choose `strict_mean` knowingly.

An item whose scoring hit an infrastructure error (a score of None on either side, any sample)
is excluded from both sides and counted: it says nothing about the skill. A gate where every
item was excluded is undecidable (`decided` False): not a rejection. The trainer then stops the
run before recording the step, so the resumed run gates the candidate again.

Early stop: items are scored in batches; after each batch the gate asks whether the candidate
could still be adopted if every remaining item went its way (score 1 against 0). If not, it
stops scoring. The bound covers every possible outcome of the remaining items (including their
exclusion), so stopping never changes the decision: the means are compared exactly (rational
arithmetic) and the p-values are exact tests that no better outcome on any item can raise. The
unconditional test also depends on how many items are included, so its bound tries every number
of remaining items included (all of them won) against a lower bound of its p-value.

Racing (`racing`, on by default; with `early_stop` false every item is scored): after each batch the gate also asks whether the candidate
would still be adopted if every remaining item went against it. If so, it stops and adopts. The
worst case is bounded the same way: for each number k of remaining items included, all k lost
(a full loss is the lowest difference an item can have; a worse outcome never lowers the
p-value for a fixed number of items, and ties or exclusions leave the sign-flip test
unchanged); every k must still pass, with the exact p-value (not a floor) and the same slack
the other way. So the racing verdict is always the one the full evaluation would give (the
tests check it on random outcome tables); only the means and p-value reported are over the
items scored when it stopped (`stopped_for`: "adoption" or "rejection", `n_scored` the items
evaluated). The caller fixes the order of the items (the trainer shuffles the validation split
once per run from the seed, so every gate of a run scores the same items first and the current
skill's rollouts on them are cache hits).

What racing saves, measured (bench/gate_sim.md, rounds of 8 items): 93.7% of the items scored
against 93.8% with the rejection stop alone and 100% for the full gate, at the same decisions.
On 20 to 60 items an adoption is seldom certain before the last round, since every remaining
item could still be lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from skillfit.core.stats import (
    PairedResult,
    paired_difference,
    quantize,
    sign_flip_pvalue,
    soft_grid,
    unconditional_pvalue,
    unconditional_pvalue_floor,
)
from skillfit.tasks.base import Item

__all__ = ["GateConfig", "GateResult", "MapFn", "ScoreFn", "run_gate", "ungated"]

ScoreFn = Callable[[Item, int], float | None]
"""Scores one item for one sample index; None when the rollout hit an infrastructure error."""

MapFn = Callable[[Callable[[Any], float | None], Sequence[Any]], Iterable[float | None]]
"""`map_fn(fn, jobs)`, e.g. `ThreadPoolExecutor.map`, to score a batch concurrently."""

# Slack on the p-value bound: larger than any rounding error of the exact test, so the early
# stop can never fire on a candidate whose full evaluation would pass.
_P_SLACK = 1e-9
# Above this many cells the p-value bound is skipped (stopping less often is always safe).
_MAX_BOUND_CELLS = 20_000_000
# Cells of one unconditional p-value floor: values of psi times items (see stats).
_FLOOR_POINTS = 129

GateKind = Literal["strict_mean", "paired", "paired_unconditional"]


class GateConfig(BaseModel):
    """How a candidate skill must beat the current one to be adopted."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: GateKind = "paired_unconditional"
    samples: int = Field(default=1, ge=1, le=100, description="samples per item, averaged per item")
    alpha: float = Field(
        default=0.05, gt=0, le=1, description="paired kinds: largest p-value adopted"
    )
    min_margin: float = Field(default=0.0, ge=0, le=1, description="paired kinds: least mean gain")
    metric: Literal["hard", "soft"] = "hard"
    early_stop: bool = True
    racing: bool = Field(
        default=True,
        description="with early_stop: also stop once the candidate is sure to be adopted (the "
        "verdict is the full evaluation's); the items are scored in an order fixed by the seed",
    )
    confidence: float = Field(default=0.95, gt=0, lt=1, description="for reported intervals")
    candidates: int = Field(
        default=1,
        ge=1,
        le=8,
        description="candidate skills per update: the whole update, then its edits alone; "
        "each is gated at alpha / candidates and the first that passes is adopted",
    )


@dataclass
class GateResult:
    accepted: bool
    reason: str
    current_mean: float
    candidate_mean: float
    paired: PairedResult
    n_items: int
    n_scored: int
    n_excluded: int
    stopped_early: bool
    per_item: list[dict[str, Any]] = field(default_factory=list)
    # Why scoring stopped before the last item: "rejection" (no outcome of the remaining items
    # could get the candidate adopted) or "adoption" (none could undo it); "" when it did not.
    stopped_for: str = ""
    first_error: str = ""  # the first infrastructure error met, when the caller knows it

    @property
    def n_compared(self) -> int:
        """Items scored on both sides (the ones the decision rests on)."""
        return self.n_scored - self.n_excluded

    @property
    def decided(self) -> bool:
        """False when items were scored but none on both sides: infrastructure errors left
        nothing to compare, which is no verdict on the candidate."""
        return self.n_items == 0 or self.n_compared > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "current_mean": _finite(self.current_mean),
            "candidate_mean": _finite(self.candidate_mean),
            "paired": self.paired.to_dict(),
            "n_items": self.n_items,
            "n_scored": self.n_scored,  # items attempted
            "n_excluded": self.n_excluded,  # of those, excluded for infrastructure errors
            "n_compared": self.n_compared,  # of those, scored on both sides
            "decided": self.decided,
            "first_error": self.first_error,
            "stopped_early": self.stopped_early,
            "stopped_for": self.stopped_for,
            "per_item": [dict(row) for row in self.per_item],
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class _Job(NamedTuple):
    side: str  # "current" | "candidate"
    fn: ScoreFn
    item: Item
    sample: int


def _run_job(job: _Job) -> float | None:
    return job.fn(job.item, job.sample)


_ZERO, _ONE = Fraction(0), Fraction(1)


def _float(x: Fraction) -> float:
    return x.numerator / x.denominator  # float(x), without the generic Rational detour


def _sequential_map(fn: Callable[[Any], float | None], jobs: Sequence[Any]) -> list[float | None]:
    return [fn(job) for job in jobs]


def _check_score(value: float | None, job: _Job, metric: str) -> Fraction | None:
    if value is None:
        return None
    v = float(value)
    if not 0.0 <= v <= 1.0 or (metric == "hard" and v not in (0.0, 1.0)):
        allowed = "0 or 1" if metric == "hard" else "in [0, 1]"
        raise ValueError(
            f"gate: {job.side} score for item {job.item.id!r} sample {job.sample} must be "
            f"{allowed} (metric {metric!r}), got {value!r}"
        )
    return _ZERO if v == 0.0 else _ONE if v == 1.0 else Fraction(v)


def _item_mean(scores: list[Fraction | None], samples: int) -> Fraction | None:
    if samples == 1:
        return scores[0]
    present = [x for x in scores if x is not None]
    if len(present) < len(scores):
        return None  # any failed sample excludes the item: a partial average is a different metric
    return sum(present, Fraction(0)) / samples


@dataclass
class _Tally:
    """Scores so far. Means are exact fractions so ties are ties, whatever the float noise."""

    samples: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    current: list[Fraction] = field(default_factory=list)  # per included item
    candidate: list[Fraction] = field(default_factory=list)
    n_excluded: int = 0
    diff_sum: Fraction = _ZERO  # sum of candidate minus current over the included items
    wins: int = 0
    losses: int = 0

    def add(self, item: Item, cur: list[Fraction | None], cand: list[Fraction | None]) -> None:
        cur_mean = _item_mean(cur, self.samples)
        cand_mean = _item_mean(cand, self.samples)
        self.rows.append(
            {
                "item_id": item.id,
                "current": None if cur_mean is None else _float(cur_mean),
                "candidate": None if cand_mean is None else _float(cand_mean),
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
        return [_float(c) - _float(k) for c, k in zip(self.candidate, self.current, strict=True)]


class _Rule:
    """How a gate kind decides: what gain it requires, which test (if any) and its bound for
    the early stop, and how it words its verdict. `rule_for(cfg)` picks one per GateConfig."""

    test_name = ""

    def __init__(self, cfg: GateConfig) -> None:
        self.cfg = cfg

    def mean_ok(self, diff_sum: Fraction, n: int) -> bool:
        """Whether a mean difference of diff_sum / n is a gain the rule accepts."""
        return n > 0 and diff_sum > 0

    def p_value(self, tally: _Tally, paired: PairedResult) -> PairedResult:
        """The paired result with the p-value this rule decides on."""
        return paired

    def accepts(self, tally: _Tally, paired: PairedResult) -> bool:
        return self.mean_ok(tally.diff_sum, tally.n)

    def can_still_win(self, tally: _Tally, remaining: int, resolution: float) -> bool:
        """False only if no outcome of the remaining items could get the candidate adopted."""
        # Best case for the mean: j of the remaining items are won outright (+1 each) and the
        # rest excluded; any other outcome of j included items has a smaller difference sum.
        diff_sum, n = tally.diff_sum, tally.n
        return any(self.mean_ok(diff_sum + j, n + j) for j in range(remaining + 1))

    def surely_wins(self, tally: _Tally, remaining: int, resolution: float) -> bool:
        """True only if every outcome of the remaining items leaves the candidate adopted."""
        # Worst case for the mean: k of the remaining items included and all lost outright (-1
        # each; an item's difference is never below -1), the rest excluded. For a fixed k any
        # other outcome has a larger difference sum.
        diff_sum, n = tally.diff_sum, tally.n
        return all(self.mean_ok(diff_sum - k, n + k) for k in range(remaining + 1))

    def verdict(self, accepted: bool, tally: _Tally, paired: PairedResult) -> str:
        raise NotImplementedError

    def aim(self) -> str:
        """What the candidate could not reach, for an early stop's reason."""
        raise NotImplementedError


class _StrictMean(_Rule):
    """The paper's gate: a strictly higher mean, no test."""

    test_name = "sign-flip test"  # reported beside the means, not decided on

    def verdict(self, accepted: bool, tally: _Tally, paired: PairedResult) -> str:
        return "higher mean: adopted" if accepted else "mean not strictly higher: rejected"

    def aim(self) -> str:
        return "beat the current mean"


class _SignFlip(_Rule):
    """`paired`: the exact sign-flip test at alpha, and a gain of at least min_margin."""

    test_name = "sign-flip test"

    def mean_ok(self, diff_sum: Fraction, n: int) -> bool:
        # repr() so that a margin of 0.1 means exactly 1/10, not the float just above it.
        return super().mean_ok(diff_sum, n) and (
            diff_sum >= Fraction(repr(self.cfg.min_margin)) * n
        )

    def accepts(self, tally: _Tally, paired: PairedResult) -> bool:
        return super().accepts(tally, paired) and paired.p_value <= self.cfg.alpha

    def can_still_win(self, tally: _Tally, remaining: int, resolution: float) -> bool:
        if not super().can_still_win(tally, remaining, resolution):
            return False
        # The smallest reachable p-value: every remaining item a full win (the test is
        # monotone, and ties or exclusions leave it unchanged).
        best = [*tally.float_diffs(), *([1.0] * remaining)]
        steps = quantize(best, resolution)
        if len(steps) * sum(abs(m) for m in steps) <= _MAX_BOUND_CELLS:
            return sign_flip_pvalue(best, resolution) <= self.cfg.alpha + _P_SLACK
        return True

    def surely_wins(self, tally: _Tally, remaining: int, resolution: float) -> bool:
        if not super().surely_wins(tally, remaining, resolution):
            return False
        # The largest reachable p-value: every remaining item a full loss. A tie or an
        # excluded item leaves the sign-flip test unchanged, and a loss of any size raises the
        # p-value less than a full one (the test is monotone).
        worst = [*tally.float_diffs(), *([-1.0] * remaining)]
        steps = quantize(worst, resolution)
        if len(steps) * sum(abs(m) for m in steps) > _MAX_BOUND_CELLS:
            return False
        return sign_flip_pvalue(worst, resolution) + _P_SLACK <= self.cfg.alpha

    def verdict(self, accepted: bool, tally: _Tally, paired: PairedResult) -> str:
        cfg = self.cfg
        if accepted:
            return f"p <= {cfg.alpha:g} ({self.test_name}) and gain >= {cfg.min_margin:g}: adopted"
        failed = []
        if paired.p_value > cfg.alpha:
            failed.append(f"p > {cfg.alpha:g} ({self.test_name})")
        if not self.mean_ok(tally.diff_sum, tally.n):
            failed.append(f"gain < max({cfg.min_margin:g}, >0)")
        return " and ".join(failed or ["not significant"]) + ": rejected"

    def aim(self) -> str:
        return f"reach p <= {self.cfg.alpha:g} with gain >= {self.cfg.min_margin:g}"


class _Unconditional(_SignFlip):
    """`paired_unconditional` on 0/1 items, one sample each: the exact unconditional test."""

    test_name = "exact unconditional test"

    def p_value(self, tally: _Tally, paired: PairedResult) -> PairedResult:
        # Report the p-value the decision uses (the sign-flip one is the conditional test).
        return replace(paired, p_value=unconditional_pvalue(tally.wins, tally.losses, tally.n))

    def can_still_win(self, tally: _Tally, remaining: int, resolution: float) -> bool:
        if not _Rule.can_still_win(self, tally, remaining, resolution):
            return False
        # Here the test depends on how many items are included, so each count j of remaining
        # items included is tried, all of them won (for a fixed count, a better outcome on any
        # item never raises the p-value); the floor never exceeds the p-value it bounds.
        diff_sum, n = tally.diff_sum, tally.n
        if (remaining + 1) * (n + remaining + 1) * _FLOOR_POINTS > _MAX_BOUND_CELLS:
            return True
        # Most often every remaining item won passes, so that count is tried first.
        return any(
            self.mean_ok(diff_sum + j, n + j)
            and unconditional_pvalue_floor(tally.wins + j, tally.losses, n + j)
            <= self.cfg.alpha + _P_SLACK
            for j in range(remaining, -1, -1)
        )

    def surely_wins(self, tally: _Tally, remaining: int, resolution: float) -> bool:
        if not _Rule.surely_wins(self, tally, remaining, resolution):
            return False
        # For each count k of remaining items included, the worst outcome is all k lost (a
        # worse outcome on any item never lowers the p-value for a fixed count); every k must
        # still pass. The largest k fails most often, so it is tried first.
        if (remaining + 1) * (tally.n + remaining + 1) * _FLOOR_POINTS > _MAX_BOUND_CELLS:
            return False
        return all(
            unconditional_pvalue(tally.wins, tally.losses + k, tally.n + k) + _P_SLACK
            <= self.cfg.alpha
            for k in range(remaining, -1, -1)
        )


def rule_for(cfg: GateConfig) -> _Rule:
    """The decision rule of `cfg.kind`. The unconditional test needs 0/1 scores and one sample
    per item; otherwise `paired_unconditional` decides with the sign-flip test."""
    if cfg.kind == "strict_mean":
        return _StrictMean(cfg)
    if cfg.kind == "paired_unconditional" and cfg.metric == "hard" and cfg.samples == 1:
        return _Unconditional(cfg)
    return _SignFlip(cfg)


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _decision_reason(
    rule: _Rule, accepted: bool, tally: _Tally, paired: PairedResult, cur: float, cand: float
) -> str:
    ci = f"{rule.cfg.confidence:.0%} CI [{_fmt(paired.ci_low)}, {_fmt(paired.ci_high)}]"
    stats = (
        f"candidate {_fmt(cand)} vs current {_fmt(cur)} on {tally.n} items "
        f"(diff {paired.mean_diff:+.3f}, {ci}, p={paired.p_value:.3g}, "
        f"{paired.wins}W/{paired.losses}L/{paired.ties}T)"
    )
    return f"{rule.verdict(accepted, tally, paired)}; {stats}"


def run_gate(
    items: Sequence[Item],
    current: ScoreFn,
    candidate: ScoreFn,
    cfg: GateConfig,
    *,
    batch_size: int = 8,
    map_fn: MapFn | None = None,
) -> GateResult:
    """Score `current` and `candidate` on `items` (cfg.samples samples each) and decide.

    Each batch's current and candidate jobs go to one `map_fn(fn, jobs)` call so the caller can
    run them concurrently; the default is sequential. Scores must be 0 or 1 for the hard metric
    and in [0, 1] for the soft one; None marks an infrastructure error and excludes the item.
    When the gate stops early, the reported means and test are over the items scored so far."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mapper: MapFn = map_fn or _sequential_map
    n_items = len(items)
    s = cfg.samples
    resolution = 1.0 / s if cfg.metric == "hard" else 1.0 / soft_grid(n_items)
    rule = rule_for(cfg)
    tally = _Tally(samples=s)
    stopped = ""
    done = 0
    while done < n_items:
        batch = items[done : done + batch_size]
        jobs = [
            _Job(side, fn, item, k)
            for item in batch
            for side, fn in (("current", current), ("candidate", candidate))
            for k in range(s)
        ]
        results = list(mapper(_run_job, jobs))
        if len(results) != len(jobs):
            raise RuntimeError(f"gate: map_fn returned {len(results)} results for {len(jobs)} jobs")
        checked = [_check_score(r, job, cfg.metric) for r, job in zip(results, jobs, strict=True)]
        for i, item in enumerate(batch):
            block = checked[i * 2 * s : (i + 1) * 2 * s]
            tally.add(item, block[:s], block[s:])
        done += len(batch)
        remaining = n_items - done
        if not remaining:
            break
        if cfg.early_stop and not rule.can_still_win(tally, remaining, resolution):
            stopped = "rejection"
            break
        if cfg.early_stop and cfg.racing and rule.surely_wins(tally, remaining, resolution):
            stopped = "adoption"
            break

    cur_vals = [_float(x) for x in tally.current]
    cand_vals = [_float(x) for x in tally.candidate]
    paired = paired_difference(cand_vals, cur_vals, cfg.confidence, resolution=resolution)
    paired = rule.p_value(tally, paired)
    cur_mean = math.fsum(cur_vals) / len(cur_vals) if cur_vals else math.nan
    cand_mean = math.fsum(cand_vals) / len(cand_vals) if cand_vals else math.nan

    if n_items == 0:
        accepted, reason = False, "no validation items: rejected"
    elif tally.n == 0:
        accepted = False
        reason = (
            f"undecidable: no item could be scored on both sides ({tally.n_excluded} of "
            f"{len(tally.rows)} excluded for infrastructure errors); not a rejection"
        )
    else:
        accepted = rule.accepts(tally, paired)
        reason = _decision_reason(rule, accepted, tally, paired, cur_mean, cand_mean)
        if stopped == "adoption":
            # rule.surely_wins proved every completion passes; the items so far pass too.
            if not accepted:
                raise AssertionError("gate: racing stopped for adoption on a failing tally")
            verdict, stats = reason.split("; ", 1)
            reason = (
                f"stopped early after {len(tally.rows)}/{n_items} items: whatever the "
                f"{n_items - len(tally.rows)} remaining items give, {verdict}; means are over "
                f"the {len(tally.rows)} items scored so far; {stats}"
            )
        elif stopped:
            accepted = False  # rule.can_still_win proved no completion could pass
            win_what = rule.aim()
            reason = (
                f"stopped early after {len(tally.rows)}/{n_items} items: even winning all "
                f"{n_items - len(tally.rows)} remaining items the candidate could not {win_what}: "
                f"rejected; means are over the {len(tally.rows)} items scored so far; "
                + reason.split("; ", 1)[1]
            )
        if tally.n_excluded:
            reason += f"; {tally.n_excluded} item(s) excluded for infrastructure errors"

    return GateResult(
        accepted=accepted,
        reason=reason,
        current_mean=cur_mean,
        candidate_mean=cand_mean,
        paired=paired,
        n_items=n_items,
        n_scored=len(tally.rows),
        n_excluded=tally.n_excluded,
        stopped_early=bool(stopped),
        per_item=tally.rows,
        stopped_for=stopped,
    )


def ungated() -> GateResult:
    """The verdict when the gate is ablated: every candidate is adopted, nothing measured."""
    nan = float("nan")
    return GateResult(
        accepted=True,
        reason="no gate (ablated): adopted without measuring",
        current_mean=nan,
        candidate_mean=nan,
        paired=PairedResult(nan, nan, nan, nan, 0, 0, 0, 0),
        n_items=0,
        n_scored=0,
        n_excluded=0,
        stopped_early=False,
    )
