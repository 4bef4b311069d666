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

Racing (`racing`, on by default; with `early_stop` false every item is scored): the current
skill is scored on every item first (in a run these are mostly replays from the response cache:
every gate re-measures the same current skill on the same items until a candidate is adopted),
then the candidate batch by batch. Knowing the current scores tightens both bounds: an item the
current skill got right can at best tie, one it got wrong can at worst tie (with a mean m over
samples or a soft score: gain at most 1 - m, loss at most m). After each batch the gate stops
to reject as above, and stops to adopt when the candidate would still be adopted whatever the
remaining items give: for every count of losable items included and lost and of the others
included as ties (a worse outcome never lowers the p-value for fixed counts; ties and
exclusions leave the sign-flip test unchanged), with the exact p-value (not a floor) and the
same slack the other way. So the racing verdict is always the one the full evaluation would give
(the tests check it on random outcome tables); only the means and p-value reported are over the
items the candidate was scored on when it stopped (`stopped_for`: "adoption" or "rejection";
`n_scored` those items, `current_scored` the current skill's). The caller fixes the order of the
items (the trainer shuffles the validation split once per run from the seed).

What racing saves is measured in bench/gate_sim.md (rounds of 8 items, the decisions checked to
be the full gate's on every count): over every size (20, 40, 60), churn and scenario, the
candidate is scored on 85.5% of the items (the rejection stop alone: 93.8%), so with the
current skill's rollouts replayed from the cache a gate costs 85.5% of the full gate's
rollouts; with no cache (the current skill scored on every item) 92.8%. False adoption and
power are the full gate's (4.97% worst). The saving is bounded by the exactness: at alpha 0.05
on 20-60 items the verdict seldom becomes certain more than a round or two before the end.

This module holds the settings (`GateConfig`), the scoring loop (`run_gate`) and its verdict
(`GateResult`); the tally, the bounds and each kind's rule are `optim.gate_rules`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from skillfit.core.stats import PairedResult, paired_difference, soft_grid
from skillfit.optim.gate_rules import (
    ONE,
    ZERO,
    Rest,
    Rule,
    SignFlip,
    StrictMean,
    Tally,
    Unconditional,
    item_mean,
    to_float,
)
from skillfit.tasks.base import Item

__all__ = ["GateConfig", "GateJob", "GateResult", "MapFn", "ScoreFn", "run_gate", "ungated"]

ScoreFn = Callable[[Item, int], float | None]
"""Scores one item for one sample index; None when the rollout hit an infrastructure error."""

MapFn = Callable[[Callable[[Any], float | None], Sequence[Any]], Iterable[float | None]]
"""`map_fn(fn, jobs)`, e.g. `ThreadPoolExecutor.map`, to score a batch of `GateJob`s
concurrently (`fn(job)` scores one; a caller may instead run the jobs' rollouts its own way)."""

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
    # Items the current skill was scored on: all of them when racing, else those compared.
    current_scored: int = 0
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
            "current_scored": self.current_scored,
            "per_item": [dict(row) for row in self.per_item],
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class GateJob(NamedTuple):
    """One rollout the gate wants scored: what `map_fn` receives."""

    side: str  # "current" | "candidate"
    fn: ScoreFn
    item: Item
    sample: int


def _run_job(job: GateJob) -> float | None:
    return job.fn(job.item, job.sample)


def _sequential_map(fn: Callable[[Any], float | None], jobs: Sequence[Any]) -> list[float | None]:
    return [fn(job) for job in jobs]


def _check_score(value: float | None, job: GateJob, metric: str) -> Fraction | None:
    if value is None:
        return None
    v = float(value)
    if not 0.0 <= v <= 1.0 or (metric == "hard" and v not in (0.0, 1.0)):
        allowed = "0 or 1" if metric == "hard" else "in [0, 1]"
        raise ValueError(
            f"gate: {job.side} score for item {job.item.id!r} sample {job.sample} must be "
            f"{allowed} (metric {metric!r}), got {value!r}"
        )
    return ZERO if v == 0.0 else ONE if v == 1.0 else Fraction(v)


def rule_for(cfg: GateConfig) -> Rule:
    """The decision rule of `cfg.kind`. The unconditional test needs 0/1 scores and one sample
    per item; otherwise `paired_unconditional` decides with the sign-flip test."""
    if cfg.kind == "strict_mean":
        return StrictMean(cfg.alpha, cfg.min_margin)
    if cfg.kind == "paired_unconditional" and cfg.metric == "hard" and cfg.samples == 1:
        return Unconditional(cfg.alpha, cfg.min_margin)
    return SignFlip(cfg.alpha, cfg.min_margin)


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _decision_reason(
    rule: Rule,
    confidence: float,
    accepted: bool,
    tally: Tally,
    paired: PairedResult,
    cur: float,
    cand: float,
) -> str:
    ci = f"{confidence:.0%} CI [{_fmt(paired.ci_low)}, {_fmt(paired.ci_high)}]"
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
    tally = Tally(samples=s)
    stopped = ""
    racing = cfg.early_stop and cfg.racing

    def score(jobs: list[GateJob]) -> list[Fraction | None]:
        results = list(mapper(_run_job, jobs))
        if len(results) != len(jobs):
            raise RuntimeError(f"gate: map_fn returned {len(results)} results for {len(jobs)} jobs")
        return [_check_score(r, job, cfg.metric) for r, job in zip(results, jobs, strict=True)]

    # Racing scores the current skill on every item first (in a run, mostly replays from the
    # response cache: the same skill on the same items as the last gate), so the bounds know
    # which items the candidate can still win or lose; then the candidate, batch by batch.
    known: list[list[Fraction | None]] = []
    if racing and n_items:
        flat = score([GateJob("current", current, item, k) for item in items for k in range(s)])
        known = [flat[i * s : (i + 1) * s] for i in range(n_items)]
    done = 0
    while done < n_items:
        batch = items[done : done + batch_size]
        if known:
            cand = score(
                [GateJob("candidate", candidate, item, k) for item in batch for k in range(s)]
            )
            for i, item in enumerate(batch):
                tally.add(item, known[done + i], cand[i * s : (i + 1) * s])
        else:
            checked = score(
                [
                    GateJob(side, fn, item, k)
                    for item in batch
                    for side, fn in (("current", current), ("candidate", candidate))
                    for k in range(s)
                ]
            )
            for i, item in enumerate(batch):
                block = checked[i * 2 * s : (i + 1) * 2 * s]
                tally.add(item, block[:s], block[s:])
        done += len(batch)
        if done >= n_items:
            break
        if known:
            rest = Rest.known([item_mean(scores, s) for scores in known[done:]])
        else:
            rest = Rest.unknown(n_items - done)
        if cfg.early_stop and not rule.can_still_win(tally, rest, resolution):
            stopped = "rejection"
            break
        if racing and rule.surely_wins(tally, rest, resolution):
            stopped = "adoption"
            break

    cur_vals = [to_float(x) for x in tally.current]
    cand_vals = [to_float(x) for x in tally.candidate]
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
        reason = _decision_reason(
            rule, cfg.confidence, accepted, tally, paired, cur_mean, cand_mean
        )
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
        current_scored=n_items if known else len(tally.rows),
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
