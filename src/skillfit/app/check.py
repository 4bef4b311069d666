"""`skillfit check`: is a changed skill worse than the one it replaces? A regression test.

    result = check("skills/my-skill", "main", "skillfit.yaml", split="val")
    result.worse        # True: the new skill is significantly worse (exit 1 in the CLI)

Both skills run on the same items of one split with the same target, harness, samples and
response cache (`evaluate_skill`, as `skillfit eval` does); the verdict is the paired
difference new − old over the items both scored (`paired_summary`, as `skillfit compare`
uses): worse when its 95% interval lies entirely below −`tolerance` (0 by default: entirely
below zero). The items whose outcome flipped are listed by id (fixed: the new skill does
better on them; broken: worse). Every call goes through the response cache, so a rerun on
unchanged skills replays them all and pays nothing; `calls` says what was paid and replayed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillfit.app import build
from skillfit.app.against import Against, resolve_against
from skillfit.app.build import (
    _cache,
    bind_task_models,
    build_task,
    check_samples,
    skill_source,
    split_items,
)
from skillfit.app.compare import paired_summary
from skillfit.app.evaluating import eval_config
from skillfit.core.errors import TrainError
from skillfit.train.evaluation import EvalResult, evaluate_skill

CHECK_SPLITS = ("val", "test")


class CheckError(TrainError):
    """A check that cannot run as asked (a bad option, nothing to compare)."""


@dataclass
class CheckResult:
    """Both skills on the same items, the paired difference and the verdict."""

    task: str
    split: str
    target: str
    harness: str
    new_label: str
    old_label: str
    new: EvalResult
    old: EvalResult
    diff: dict[str, Any] | None  # paired_summary(new, old): mean_diff, ci_low, ci_high, ...
    p_worse: float | None  # one-sided p of "new is worse" (the same exact test, sides swapped)
    tolerance: float
    fixed: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    calls: dict[str, dict[str, float | int]] = field(default_factory=dict)  # per role
    seconds: float = 0.0
    identical: bool = False  # the two skills have the same body

    @property
    def worse(self) -> bool:
        """The new skill is significantly worse: the interval lies below −tolerance."""
        if self.diff is None or self.diff.get("ci_high") is None:
            return False
        return float(self.diff["ci_high"]) < -self.tolerance

    @property
    def paid_calls(self) -> int:
        return sum(int(s.get("calls", 0)) for s in self.calls.values())

    @property
    def replayed_calls(self) -> int:
        return sum(int(s.get("cache_hits", 0)) for s in self.calls.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": "worse" if self.worse else "ok",
            "worse": self.worse,
            "task": self.task,
            "split": self.split,
            "target": self.target,
            "harness": self.harness,
            "new": {"skill": self.new_label, **self.new.to_dict()},
            "old": {"skill": self.old_label, **self.old.to_dict()},
            "diff": self.diff,
            "p_worse": self.p_worse,
            "tolerance": self.tolerance,
            "fixed": self.fixed,
            "broken": self.broken,
            "identical": self.identical,
            "calls": self.calls,
            "paid_calls": self.paid_calls,
            "replayed_calls": self.replayed_calls,
            "seconds": round(self.seconds, 3),
        }


def flips(new: EvalResult, old: EvalResult) -> tuple[list[str], list[str]]:
    """(fixed, broken): item ids where the new skill's mean score is above / below the old's."""
    a, b = new.item_means(), old.item_means()
    fixed: list[str] = []
    broken: list[str] = []
    for item_id, x in a.items():
        y = b.get(item_id)
        if x is None or y is None or x == y:
            continue
        (fixed if x > y else broken).append(item_id)
    return fixed, broken


def _means(result: EvalResult) -> dict[str, float]:
    return {k: v for k, v in result.item_means().items() if v is not None}


def check_tolerance(tolerance: float) -> float:
    if not 0.0 <= float(tolerance) < 1.0:
        raise CheckError(f"--tolerance must lie in [0, 1) (a share of items), not {tolerance}")
    return float(tolerance)


def check(
    skill: str | os.PathLike[str],
    against: str | os.PathLike[str],
    config: Any = None,
    *,
    split: str = "test",
    target: str | None = None,
    harness: str | None = None,
    task_name: str | None = None,
    overrides: Sequence[str] = (),
    samples: int | None = None,
    tolerance: float = 0.0,
    task: Any = None,
) -> CheckResult:
    """Score `skill` and the old skill `against` names (a file, a folder, a git revision)
    on the same items; see the module docstring. CheckError / TrainError on bad input."""
    from skillfit.harness import bind_harness, prepare_run
    from skillfit.models import Ledger, redact
    from skillfit.train.layout import check_splits

    if split not in CHECK_SPLITS:
        raise CheckError(f"--split must be val or test, not {split!r}")
    tolerance = check_tolerance(tolerance)
    new_path = Path(skill).expanduser()
    if not new_path.exists():
        raise CheckError(f"--skill {new_path}: no such file or folder")
    cfg = eval_config(new_path, config, overrides, task_name=task_name, harness=harness)
    new_text, new_bundle = skill_source(new_path)
    old: Against = resolve_against(new_path, str(against))
    try:
        old_text, old_bundle = skill_source(old.path)
    finally:
        old.cleanup()
    unbound = task if task is not None else build_task(cfg)
    # Each skill under its own folder's frontmatter and files, as an agent CLI would meet it.
    limit = cfg.target.cli_timeout
    bound = {
        "new": bind_harness(unbound, cfg.target.harness, skill_dir=new_bundle, timeout=limit),
        "old": bind_harness(unbound, cfg.target.harness, skill_dir=old_bundle, timeout=limit),
    }
    the_task = bound["new"]
    splits = check_splits(the_task.splits(), need_test=split == "test")
    items = split_items(splits, split)
    if not items:
        raise CheckError(f"the {split} split is empty")
    n = samples if samples is not None else int(getattr(cfg.eval, "samples", 1))
    check_samples(n)
    ledger = Ledger()
    cache = _cache(cfg)
    bind_task_models(unbound, cache, ledger)
    spec = target or cfg.target.model
    model = build.get_model(spec, role="target", cache=cache, ledger=ledger)
    for each in bound.values():
        prepare_run(each, model)
    start = time.perf_counter()
    runs = {}
    for name, text in (("new", new_text), ("old", old_text)):
        runs[name], _ = evaluate_skill(
            bound[name],
            model,
            text,
            items,
            samples=n,
            concurrency=int(cfg.train.concurrency),
            name=name,
        )
    seconds = time.perf_counter() - start
    new_means, old_means = _means(runs["new"]), _means(runs["old"])
    diff = paired_summary(new_means, old_means)
    reverse = paired_summary(old_means, new_means)
    fixed, broken = flips(runs["new"], runs["old"])
    return CheckResult(
        task=the_task.name,
        split=split,
        target=redact(spec),
        harness=str(cfg.target.harness),
        new_label=str(skill),
        old_label=old.label,
        new=runs["new"],
        old=runs["old"],
        diff=diff,
        p_worse=None if reverse is None else reverse["p_value"],
        tolerance=tolerance,
        fixed=fixed,
        broken=broken,
        calls=ledger.snapshot(),
        seconds=seconds,
        identical=new_text.strip() == old_text.strip(),
    )
