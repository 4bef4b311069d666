"""The edit pipeline as a chain of small stages: address → guard → merge → resolve → select → fit.

Each stage takes the batch of edits so far and returns it with its own fields filled in, so
each is testable alone and a strategy can run another chain (drop a stage, add one):

    batch = run_pipeline(EditBatch(skill, pooled, failures, budget=3, max_tokens=2000))
    batch.candidate, batch.selected, batch.rejected

The stages are pure: no model call, no file, no run state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from skillfit.optim.guard import Rejection, drop_overlaps, guard
from skillfit.optim.merge import Candidate, address_by_heading, merge, resolve_conflicts, select
from skillfit.skill import Edit, Skill


@dataclass(frozen=True)
class EditBatch:
    skill: Skill
    pooled: list[tuple[int, Edit]]  # (source minibatch, edit) as the optimizer proposed them
    failures: Mapping[int, int] = field(default_factory=dict)  # failures per source minibatch
    budget: int = 1
    max_tokens: int = 2000
    needles: Sequence[str] = ()  # item text the guard refuses
    tried: Sequence[Edit] = ()  # edits already rejected on this skill
    feedback: Sequence[str] = ()  # the scorer's feedback the guard refuses
    guard_options: Mapping[str, Any] = field(default_factory=dict)  # more keywords for guard()
    # Filled in by the stages:
    kept: list[tuple[int, Edit]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    ranked: list[Candidate] = field(default_factory=list)
    resolved: list[Candidate] = field(default_factory=list)
    conflicts: list[Candidate] = field(default_factory=list)
    selected: list[Candidate] = field(default_factory=list)
    over_budget: list[Candidate] = field(default_factory=list)
    candidate: Skill | None = None
    outcomes: list[Any] = field(default_factory=list)
    too_big: list[Candidate] = field(default_factory=list)

    @property
    def applied(self) -> list[Edit]:
        return [o.edit for o in self.outcomes if o.applied]


Stage = Callable[[EditBatch], EditBatch]


def address(b: EditBatch) -> EditBatch:
    """Address a heading-led replace or delete that names no section to that section."""
    ids = b.skill.section_ids
    return replace(b, pooled=[(src, address_by_heading(e, ids)) for src, e in b.pooled])


def guard_stage(b: EditBatch) -> EditBatch:
    """Refuse item text, feedback, talk about the document, repeats, oversize, tried edits."""
    kept, rejected = guard(
        b.pooled,
        b.skill,
        needles=b.needles,
        max_tokens=b.max_tokens,
        tried=b.tried,
        feedback=b.feedback,
        **dict(b.guard_options),
    )
    return replace(b, kept=kept, rejected=[*b.rejected, *rejected])


def merge_stage(b: EditBatch) -> EditBatch:
    """Group near-identical edits, rank them, drop those repeating a higher-ranked one."""
    ranked, repeats = drop_overlaps(merge(b.kept, b.failures))
    return replace(b, ranked=ranked, rejected=[*b.rejected, *repeats])


def resolve(b: EditBatch) -> EditBatch:
    """Keep each candidate that touches no place a better one touches."""
    resolved, conflicts = resolve_conflicts(b.ranked)
    return replace(b, resolved=resolved, conflicts=conflicts)


def select_stage(b: EditBatch) -> EditBatch:
    """The top `budget` candidates (the edit budget is the learning rate)."""
    selected, over = select(b.resolved, b.budget)
    return replace(b, selected=selected, over_budget=over)


def fit(b: EditBatch) -> EditBatch:
    """Apply the selected edits; drop the lowest-ranked until the skill fits `max_tokens`."""
    chosen = list(b.selected)
    dropped: list[Candidate] = []
    while True:
        result = b.skill.apply([c.edit for c in chosen])
        if result.skill.n_tokens() <= b.max_tokens or not chosen:
            return replace(
                b, candidate=result.skill, outcomes=list(result.outcomes), too_big=dropped
            )
        dropped.insert(0, chosen.pop())


STAGES: tuple[Stage, ...] = (address, guard_stage, merge_stage, resolve, select_stage, fit)


def run_pipeline(batch: EditBatch, stages: Sequence[Stage] = STAGES) -> EditBatch:
    for stage in stages:
        batch = stage(batch)
    return batch
