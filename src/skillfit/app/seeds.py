"""`skillfit train --seeds N`: one training per seed on the same splits, and what holds across.

Each seed is an ordinary, resumable run in `<out>/seed-<s>/` (only `train.seed` differs: the
order of the training batches and what the optimizer is shown). The test items are the same in
every seed, so the result is reported three ways: each seed's trained − initial difference with
its paired 95% interval, the mean of those differences with their spread (standard deviation,
smallest and largest), and one pooled paired interval over the test items, where each item's
trained score is its mean over the seeds (the seeds share items, so counting every (seed, item)
pair as independent would overstate the evidence).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skillfit.app.compare import diff_cell, paired_summary, per_item_scores
from skillfit.core.errors import TrainError
from skillfit.core.io import write_json_atomic
from skillfit.core.stats import wilson_interval
from skillfit.record import load_run
from skillfit.record.models import AUDIT_FILE, RunAudit, RunRecord

SEEDS_FILE = "seeds.json"


@dataclass
class SeedRun:
    seed: int
    run_dir: str
    adopted: int
    correct: dict[str, int]  # arm (none, initial, best) -> correct test items
    n: int
    vs_initial: dict[str, Any] | None  # paired difference best − initial on the test items
    wall_seconds: float
    audit: int | None = None  # problems its audit.json names (None: not audited)


@dataclass
class SeedsResult:
    out_dir: Path
    runs: list[SeedRun]
    pooled_vs_initial: dict[str, Any] | None
    pooled_vs_none: dict[str, Any] | None
    audits: dict[int, RunAudit] = field(default_factory=dict)  # seed -> its run's audit.json

    @property
    def diffs(self) -> list[float]:
        return [
            float(r.vs_initial["mean_diff"])
            for r in self.runs
            if r.vs_initial and r.vs_initial.get("mean_diff") is not None
        ]

    def spread(self) -> dict[str, float | None]:
        d = self.diffs
        return {
            "mean": statistics.fmean(d) if d else None,
            "sd": statistics.stdev(d) if len(d) > 1 else None,
            "min": min(d) if d else None,
            "max": max(d) if d else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [asdict(r) for r in self.runs],
            "vs_initial_over_seeds": self.spread(),
            "pooled_vs_initial": self.pooled_vs_initial,
            "pooled_vs_none": self.pooled_vs_none,
            "wall_seconds": round(sum(r.wall_seconds for r in self.runs), 1),
        }


def mean_over(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each item's mean score over the runs that scored it."""
    ids = sorted({i for r in runs for i in r})
    return {i: statistics.fmean(r[i] for r in runs if i in r) for i in ids}


def pool(records: Sequence[RunRecord], walls: Sequence[float]) -> list[SeedRun]:
    runs = []
    for rec, wall in zip(records, walls, strict=True):
        arms = {arm: per_item_scores(rec, arm) for arm in ("none", "initial", "best")}
        runs.append(
            SeedRun(
                seed=int(rec.meta.seed),
                run_dir=rec.meta.run_dir,
                adopted=sum(1 for s in rec.steps if s.adopted),
                correct={arm: int(round(sum(v.values()))) for arm, v in arms.items()},
                n=len(arms["best"]),
                vs_initial=paired_summary(arms["best"], arms["initial"]),
                wall_seconds=round(wall, 1),
                audit=len(rec.audit.problems) if rec.audit is not None else None,
            )
        )
    return runs


def train_seeds(
    config: Any,
    seeds: int,
    *,
    overrides: Sequence[str] = (),
    out_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    run: Callable[..., Any] | None = None,
    **train_kwargs: Any,
) -> SeedsResult:
    """Train once per seed (train.seed, train.seed + 1, ...) into `<out>/seed-<s>/` and pool
    the test results; writes `<out>/seeds.json`. `run` defaults to skillfit.train."""
    from skillfit.app import build, training

    if seeds < 1:
        raise TrainError(f"--seeds must be 1 or more, not {seeds}")
    train = run or training.train
    cfg = build.load(config, overrides)
    # The seed is left out of the folder's name: every seed's run lies under the same root.
    root = build.run_dir_for(cfg, out_dir, build.config_hash(build.load(cfg, ["train.seed=0"])))
    first = int(cfg.train.seed)
    records: list[RunRecord] = []
    walls: list[float] = []
    for seed in range(first, first + seeds):
        if progress:
            progress({"event": "seed_start", "seed": seed, "of": seeds})
        started = time.perf_counter()
        result = train(
            config,
            overrides=[*overrides, f"train.seed={seed}"],
            out_dir=root / f"seed-{seed}",
            progress=progress,
            **train_kwargs,
        )
        walls.append(time.perf_counter() - started)
        records.append(load_run(result.run_dir, with_events=False))
    runs = pool(records, walls)
    best = mean_over([per_item_scores(r, "best") for r in records])
    # No skill and the initial skill do not depend on the seed; their mean over seeds is the
    # same scores unless the target's decoding differed between runs.
    initial = mean_over([per_item_scores(r, "initial") for r in records])
    none = mean_over([per_item_scores(r, "none") for r in records])
    out = SeedsResult(
        out_dir=root,
        runs=runs,
        pooled_vs_initial=paired_summary(best, initial),
        pooled_vs_none=paired_summary(best, none),
        audits={int(r.meta.seed): r.audit for r in records if r.audit is not None},
    )
    write_json_atomic(root / SEEDS_FILE, out.to_dict())
    return out


def seeds_audit_lines(result: SeedsResult) -> list[str]:
    """What the seeds' audits found (see skillfit.app.audit): one line when every seed is
    clean, else each seed's problems (the first three)."""
    from skillfit.app.audit import audit_lines, clean_text

    missing = [r.seed for r in result.runs if r.seed not in result.audits]
    dirty = [r for r in result.runs if r.seed in result.audits and r.audit]
    lines = []
    if missing:
        lines.append(f"audit: not written for seed {', '.join(str(s) for s in missing)}")
    if not dirty and len(missing) < len(result.runs):
        first = next(result.audits[r.seed] for r in result.runs if r.seed in result.audits)
        lines.append(f"audit: clean in every seed ({clean_text(first)})")
    for r in dirty:
        where = str(Path(r.run_dir) / AUDIT_FILE)
        lines += audit_lines(result.audits[r.seed], label=f"audit, seed {r.seed}", where=where)
    return lines


def accuracy_cell(correct: int, n: int) -> str:
    if not n:
        return "–"
    lo, hi = wilson_interval(correct, n)
    return f"{correct}/{n} [{100 * lo:.0f}, {100 * hi:.0f}]"


def to_markdown(result: SeedsResult) -> str:
    """The per-seed table, the spread over seeds and the pooled interval, as markdown."""
    lines = [
        "| seed | none | initial | trained | trained − initial (points) [95% CI] | adopted "
        "| wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result.runs:
        lines.append(
            f"| {r.seed} | {accuracy_cell(r.correct['none'], r.n)} "
            f"| {accuracy_cell(r.correct['initial'], r.n)} "
            f"| {accuracy_cell(r.correct['best'], r.n)} | {diff_cell(r.vs_initial)} "
            f"| {r.adopted} | {r.wall_seconds / 60:.1f} min |"
        )
    d = result.diffs
    if d:
        sd = f"{100 * statistics.stdev(d):.1f}" if len(d) > 1 else "–"
        lines += [
            "",
            f"trained − initial over {len(d)} seeds: mean {100 * statistics.fmean(d):+.1f} "
            f"points, sd {sd}, from {100 * min(d):+.1f} to {100 * max(d):+.1f}; pooled over "
            f"the test items (each item's trained score averaged over the seeds): "
            f"{diff_cell(result.pooled_vs_initial)}; against no skill "
            f"{diff_cell(result.pooled_vs_none)}.",
        ]
    return "\n".join(lines) + "\n"
