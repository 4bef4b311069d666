"""The acceptance gate: adopt a candidate skill only if it beats the current one.

Both skills are scored on the same validation items (the current skill is re-measured rather
than trusted from an earlier, possibly lucky, measurement), optionally several samples per item
averaged per item, and compared item by item:

- `strict_mean` (default): adopt only if the candidate's mean is strictly higher. Ties and
  losses are rejected.
- `paired`: adopt if the one-sided paired test gives p <= alpha and the mean difference is at
  least `min_margin` (and positive).

An item whose scoring hit an infrastructure error (a score of None on either side, any sample)
is excluded from both sides and counted: it says nothing about the skill.

Early stop: items are scored in batches; after each batch the gate asks whether the candidate
could still be adopted if every remaining item went its way (score 1 against 0). If not, it
stops scoring. The bound covers every possible outcome of the remaining items (including their
exclusion), so stopping never changes the decision: the means are compared exactly (rational
arithmetic) and the p-value is an exact test that no better outcome on any item can raise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skillfit.tasks.base import Item
from skillfit.train.stats import (
    PairedResult,
    paired_difference,
    quantize,
    sign_flip_pvalue,
    soft_grid,
)

__all__ = ["GateConfig", "GateResult", "MapFn", "ScoreFn", "run_gate"]

ScoreFn = Callable[[Item, int], float | None]
"""Scores one item for one sample index; None when the rollout hit an infrastructure error."""

MapFn = Callable[[Callable[[Any], float | None], Sequence[Any]], Iterable[float | None]]
"""`map_fn(fn, jobs)`, e.g. `ThreadPoolExecutor.map`, to score a batch concurrently."""

# Slack on the p-value bound: larger than any rounding error of the exact test, so the early
# stop can never fire on a candidate whose full evaluation would pass.
_P_SLACK = 1e-9
# Above this many cells the p-value bound is skipped (stopping less often is always safe).
_MAX_BOUND_CELLS = 20_000_000


class GateConfig(BaseModel):
    """How a candidate skill must beat the current one to be adopted."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["strict_mean", "paired"] = "strict_mean"
    samples: int = Field(default=1, ge=1, description="samples per item, averaged per item")
    alpha: float = Field(default=0.1, gt=0, le=1, description="paired: largest p-value adopted")
    min_margin: float = Field(default=0.0, ge=0, le=1, description="paired: least mean gain")
    metric: Literal["hard", "soft"] = "hard"
    early_stop: bool = True
    confidence: float = Field(default=0.95, gt=0, lt=1, description="for reported intervals")


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "current_mean": _finite(self.current_mean),
            "candidate_mean": _finite(self.candidate_mean),
            "paired": self.paired.to_dict(),
            "n_items": self.n_items,
            "n_scored": self.n_scored,
            "n_excluded": self.n_excluded,
            "stopped_early": self.stopped_early,
            "per_item": [dict(row) for row in self.per_item],
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class _Job:
    side: str  # "current" | "candidate"
    fn: ScoreFn
    item: Item
    sample: int


def _run_job(job: _Job) -> float | None:
    return job.fn(job.item, job.sample)


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
    return Fraction(v)


def _item_mean(scores: list[Fraction | None], samples: int) -> Fraction | None:
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

    def add(self, item: Item, cur: list[Fraction | None], cand: list[Fraction | None]) -> None:
        cur_mean = _item_mean(cur, self.samples)
        cand_mean = _item_mean(cand, self.samples)
        self.rows.append(
            {
                "item_id": item.id,
                "current": None if cur_mean is None else float(cur_mean),
                "candidate": None if cand_mean is None else float(cand_mean),
            }
        )
        if cur_mean is None or cand_mean is None:
            self.n_excluded += 1
            return
        self.current.append(cur_mean)
        self.candidate.append(cand_mean)

    @property
    def n(self) -> int:
        return len(self.current)

    @property
    def diff_sum(self) -> Fraction:
        return sum(self.candidate, Fraction(0)) - sum(self.current, Fraction(0))

    def float_diffs(self) -> list[float]:
        # Exactly the differences paired_difference computes, so the bound sees the same grid.
        return [float(c) - float(k) for c, k in zip(self.candidate, self.current, strict=True)]


def _mean_condition(cfg: GateConfig, diff_sum: Fraction, n: int) -> bool:
    """Whether a mean difference of diff_sum / n passes the gate's mean requirement."""
    if n == 0 or diff_sum <= 0:
        return False
    # repr() so that a margin of 0.1 means exactly 1/10, not the float just above it.
    return cfg.kind != "paired" or diff_sum >= Fraction(repr(cfg.min_margin)) * n


def _can_still_win(cfg: GateConfig, tally: _Tally, remaining: int, resolution: float) -> bool:
    """False only if no outcome of the remaining items could get the candidate adopted."""
    # Best case for the mean: j of the remaining items are won outright (+1 each) and the rest
    # excluded; any other outcome of j included items has a smaller difference sum.
    diff_sum, n = tally.diff_sum, tally.n
    if not any(_mean_condition(cfg, diff_sum + j, n + j) for j in range(remaining + 1)):
        return False
    if cfg.kind == "paired":
        # The smallest reachable p-value: every remaining item a full win (the test is
        # monotone, and ties or exclusions leave it unchanged).
        best = [*tally.float_diffs(), *([1.0] * remaining)]
        steps = quantize(best, resolution)
        if len(steps) * sum(abs(m) for m in steps) <= _MAX_BOUND_CELLS:
            return sign_flip_pvalue(best, resolution) <= cfg.alpha + _P_SLACK
    return True


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _decision_reason(
    cfg: GateConfig, accepted: bool, tally: _Tally, paired: PairedResult, cur: float, cand: float
) -> str:
    ci = f"{cfg.confidence:.0%} CI [{_fmt(paired.ci_low)}, {_fmt(paired.ci_high)}]"
    stats = (
        f"candidate {_fmt(cand)} vs current {_fmt(cur)} on {tally.n} items "
        f"(diff {paired.mean_diff:+.3f}, {ci}, p={paired.p_value:.3g}, "
        f"{paired.wins}W/{paired.losses}L/{paired.ties}T)"
    )
    if cfg.kind == "strict_mean":
        verdict = "higher mean: adopted" if accepted else "mean not strictly higher: rejected"
    elif accepted:
        verdict = f"p <= {cfg.alpha:g} and gain >= {cfg.min_margin:g}: adopted"
    else:
        failed = []
        if paired.p_value > cfg.alpha:
            failed.append(f"p > {cfg.alpha:g}")
        if not _mean_condition(cfg, tally.diff_sum, tally.n):
            failed.append(f"gain < max({cfg.min_margin:g}, >0)")
        verdict = " and ".join(failed or ["not significant"]) + ": rejected"
    return f"{verdict}; {stats}"


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
    tally = _Tally(samples=s)
    stopped = False
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
        if cfg.early_stop and remaining and not _can_still_win(cfg, tally, remaining, resolution):
            stopped = True
            break

    cur_vals = [float(x) for x in tally.current]
    cand_vals = [float(x) for x in tally.candidate]
    paired = paired_difference(cand_vals, cur_vals, cfg.confidence, resolution=resolution)
    cur_mean = math.fsum(cur_vals) / len(cur_vals) if cur_vals else math.nan
    cand_mean = math.fsum(cand_vals) / len(cand_vals) if cand_vals else math.nan

    if n_items == 0:
        accepted, reason = False, "no validation items: rejected"
    elif tally.n == 0:
        accepted = False
        reason = (
            f"no item could be scored on both sides ({tally.n_excluded} of {len(tally.rows)} "
            "excluded for infrastructure errors): rejected"
        )
    else:
        accepted = _mean_condition(cfg, tally.diff_sum, tally.n) and (
            cfg.kind != "paired" or paired.p_value <= cfg.alpha
        )
        reason = _decision_reason(cfg, accepted, tally, paired, cur_mean, cand_mean)
        if stopped:
            accepted = False  # _can_still_win proved no completion could pass
            win_what = (
                "beat the current mean"
                if cfg.kind == "strict_mean"
                else f"reach p <= {cfg.alpha:g} with gain >= {cfg.min_margin:g}"
            )
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
        stopped_early=stopped,
        per_item=tally.rows,
    )
