"""Transfer: one trained skill measured across target models and harnesses.

Every cell of the grid runs the same items twice, with no skill and with the skill, under one
target and one harness: accuracy with a Wilson interval per arm, the paired difference (skill
minus no skill, per item) with its interval, and the tokens and wall time each arm took.
Tokens are read from the trajectories; a cached reply counts the tokens it cost when made.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillfit.harness import bind_harness, prepare_run
from skillfit.models.base import ChatModel, Usage
from skillfit.skill import SkillDir
from skillfit.tasks.base import Item, Task, Trajectory
from skillfit.train.evaluation import EvalResult, compare, evaluate_skill


@dataclass
class Arm:
    result: EvalResult
    usage: Usage
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        out = self.result.to_dict()
        out.pop("per_item", None)
        out.update(
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            tokens=self.usage.total_tokens,
            seconds=round(self.seconds, 3),
        )
        return out


@dataclass
class Cell:
    target: str
    harness: str
    none: Arm
    skill: Arm
    diff: dict[str, Any] = field(default_factory=dict)  # skill - none, see evaluation.compare

    @property
    def tokens(self) -> int:
        return self.none.usage.total_tokens + self.skill.usage.total_tokens

    @property
    def seconds(self) -> float:
        return self.none.seconds + self.skill.seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "harness": self.harness,
            "none": self.none.to_dict(),
            "skill": self.skill.to_dict(),
            "skill_vs_none": self.diff,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
        }


def _arm(
    task: Task,
    model: ChatModel,
    skill: str,
    items: Sequence[Item],
    *,
    name: str,
    samples: int,
    concurrency: int,
    confidence: float,
) -> Arm:
    start = time.perf_counter()
    result, trajs = evaluate_skill(
        task,
        model,
        skill,
        items,
        samples=samples,
        concurrency=concurrency,
        name=name,
        confidence=confidence,
    )
    return Arm(result, _usage(trajs), time.perf_counter() - start)


def _usage(trajs: Sequence[Trajectory]) -> Usage:
    total = Usage()
    for t in trajs:
        total = total + t.usage
    return total


def run_grid(
    task: Task,
    skill: str,
    items: Sequence[Item],
    targets: Sequence[str],
    harnesses: Sequence[str],
    model_for: Callable[[str], ChatModel],
    *,
    samples: int = 1,
    concurrency: int = 1,
    confidence: float = 0.95,
    progress: Callable[[Cell], None] | None = None,
    skill_dir: SkillDir | None = None,
    timeout: float | None = None,
) -> list[Cell]:
    """No skill vs `skill` on `items` for every (target, harness); a harness that installs skill
    folders installs `skill_dir` (its frontmatter and files) with `skill` as the body; one with
    a wall-clock limit per item (the agent CLIs) gets `timeout` seconds when given. Every
    harness is bound to the task before any model is built, so a harness that cannot run the
    task fails first."""
    bound = {h: bind_harness(task, h, skill_dir=skill_dir, timeout=timeout) for h in harnesses}
    cells: list[Cell] = []
    for target in targets:
        model = model_for(target)
        for harness in harnesses:  # all before any arm: a chat arm would start the server
            prepare_run(bound[harness], model)
        for harness in harnesses:
            kw: dict[str, Any] = dict(
                samples=samples, concurrency=concurrency, confidence=confidence
            )
            none = _arm(bound[harness], model, "", items, name="none", **kw)
            with_skill = _arm(bound[harness], model, skill, items, name="skill", **kw)
            cell = Cell(
                target,
                harness,
                none,
                with_skill,
                compare(with_skill.result, none.result, confidence),
            )
            cells.append(cell)
            if progress is not None:
                progress(cell)
    return cells


# --- rendering -------------------------------------------------------------------------------


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def accuracy_text(r: EvalResult) -> str:
    if r.accuracy is None:
        return f"n/a ({r.n_errors} errors)" if r.n_errors else "n/a"
    text = f"{r.accuracy:.3f} [{_num(r.ci_low)}, {_num(r.ci_high)}] ({r.correct}/{r.scored})"
    text += f", {r.timed_out} timed out" if r.timed_out else ""
    return text + (f", {r.n_errors} errors" if r.n_errors else "")


def diff_text(d: dict[str, Any]) -> str:
    if d.get("mean_diff") is None:
        return "n/a"
    return f"{d['mean_diff']:+.3f} [{_num(d.get('ci_low'))}, {_num(d.get('ci_high'))}]"


def p_text(d: dict[str, Any]) -> str:
    p = d.get("p_value")
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


HEADERS = ("target", "harness", "no skill", "skill", "skill − no skill", "p", "tokens", "time")


def table_rows(cells: Sequence[Cell]) -> list[tuple[str, ...]]:
    return [
        (
            c.target,
            c.harness,
            accuracy_text(c.none.result),
            accuracy_text(c.skill.result),
            diff_text(c.diff),
            p_text(c.diff),
            f"{c.tokens:,}",
            duration_text(c.seconds),
        )
        for c in cells
    ]


def to_markdown(cells: Sequence[Cell], meta: dict[str, Any]) -> str:
    confidence = round(100 * float(meta.get("confidence", 0.95)))
    lines = [
        f"# Transfer: {meta['skill']}",
        "",
        f"Task {meta['task']}, {meta['split']} split, {meta['n_items']} items × "
        f"{meta['samples']} sample(s). Trained with {meta['trained_target']} under harness "
        f"{meta['trained_harness']}. Accuracy with {confidence}% Wilson intervals; the "
        f"difference is paired per item with its {confidence}% interval and sign-flip p-value; "
        "tokens and time cover both arms.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(cells)]
    return "\n".join(lines) + "\n"


CSV_FIELDS = (
    "target",
    "harness",
    "split",
    "n_items",
    "samples",
    "none_correct",
    "none_scored",
    "none_accuracy",
    "none_ci_low",
    "none_ci_high",
    "none_errors",
    "skill_correct",
    "skill_scored",
    "skill_accuracy",
    "skill_ci_low",
    "skill_ci_high",
    "skill_errors",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "n_paired",
    "none_tokens",
    "skill_tokens",
    "none_seconds",
    "skill_seconds",
)


def to_csv(cells: Sequence[Cell], split: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for c in cells:
        row: dict[str, Any] = {
            "target": c.target,
            "harness": c.harness,
            "split": split,
            "n_items": c.skill.result.n_items,
            "samples": c.skill.result.samples,
            "diff": c.diff.get("mean_diff"),
            "diff_ci_low": c.diff.get("ci_low"),
            "diff_ci_high": c.diff.get("ci_high"),
            "p_value": c.diff.get("p_value"),
            "n_paired": c.diff.get("n"),
        }
        for arm_name, arm in (("none", c.none), ("skill", c.skill)):
            r = arm.result
            row.update(
                {
                    f"{arm_name}_correct": r.correct,
                    f"{arm_name}_scored": r.scored,
                    f"{arm_name}_accuracy": r.accuracy,
                    f"{arm_name}_ci_low": r.ci_low,
                    f"{arm_name}_ci_high": r.ci_high,
                    f"{arm_name}_errors": r.n_errors,
                    f"{arm_name}_tokens": arm.usage.total_tokens,
                    f"{arm_name}_seconds": round(arm.seconds, 3),
                }
            )
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
