"""One step of the skillfit loop: rollout → reflect → guard → merge → select → apply. It returns
the candidate skill as a `Proposal`; the runner gates it, adopts or rejects it, and records."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from skillfit.core.io import write_json_atomic, write_jsonl, write_text_atomic
from skillfit.optim.guard import Rejection
from skillfit.optim.needles import feedback_needles
from skillfit.optim.pipeline import EditBatch, run_pipeline
from skillfit.skill import Edit, Skill
from skillfit.train.layout import fresh_dir
from skillfit.train.proposal import Proposal
from skillfit.train.reflect import MinibatchProposal
from skillfit.train.rollout import mean_hard, trajectory_record
from skillfit.train.state import StepRecord

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.state import RunState


def step(ctx: Trainer, state: RunState) -> Proposal:
    """Rollouts on the step's batch, the optimizer's edits, the pipeline: a candidate skill."""
    started, tokens0 = time.perf_counter(), ctx.tokens()
    number = state.global_step + 1
    folder = fresh_dir(ctx.layout.step(number))
    budget = ctx.budget_at(state.global_step)
    skill = Skill.parse(state.current_skill)
    items = ctx.batch(state.epoch, state.step_in_epoch)
    ctx.emit("step_start", step=number, epoch=state.epoch + 1, budget=budget)

    with ctx.phase("rollouts"):
        trajs = ctx.rollouts(skill.text, items, sample=state.epoch)
    write_jsonl(
        folder / "rollouts.jsonl",
        [trajectory_record(t, i) for i, t in zip(items, trajs, strict=True)],
    )
    ctx.check_infra(f"step {number}: train rollouts", trajs)
    record = StepRecord(
        step=number,
        epoch=state.epoch + 1,
        budget=budget,
        train_score=mean_hard(trajs),
        n_train=len(trajs),
        n_infra_errors=sum(1 for t in trajs if t.error is not None),
        skill_version=state.current_version,
    )
    ctx.emit(
        "rollouts",
        step=number,
        train_score=record.train_score,
        n=len(trajs),
        errors=record.n_infra_errors,
    )

    proposals = []
    if budget > 0:
        proposals = ctx.reflect(state, skill, items, trajs, budget)
    if not proposals:
        record.note = "no budget" if budget <= 0 else "no failures to reflect on"
    unit = Proposal(record, started, tokens0, folder=folder)
    return propose_edits(ctx, state, unit, skill, proposals, budget, feedback_needles(trajs))


def propose_edits(
    ctx: Trainer,
    state: RunState,
    unit: Proposal,
    skill: Skill,
    proposals: Sequence[MinibatchProposal],
    budget: int,
    feedback: Sequence[str],
) -> Proposal:
    """Record the optimizer's proposals, then run their edits through the pipeline (see
    `edits_proposal`)."""
    record, folder = unit.record, unit.folder
    assert record is not None and folder is not None
    write_json_atomic(folder / "proposals.json", [p.to_dict() for p in proposals])
    ctx.check_optimizer(f"step {record.step} ({record.kind}): optimizer", proposals)
    record.n_minibatches = len(proposals)
    record.n_failed_minibatches = sum(1 for p in proposals if not p.ok)
    return edits_proposal(
        ctx,
        state,
        unit,
        skill,
        [(p.index, e) for p in proposals for e in p.edits],
        {p.index: p.n_failures for p in proposals},
        budget,
        extra_rejected=[
            Rejection(r["edit"], r["reason"], p.index) for p in proposals for r in p.invalid
        ],
        feedback=feedback,
    )


def edits_proposal(
    ctx: Trainer,
    state: RunState,
    unit: Proposal,
    skill: Skill,
    pooled: list[tuple[int, Edit]],
    failures: Mapping[int, int],
    budget: int,
    *,
    extra_rejected: Sequence[Rejection] = (),
    feedback: Sequence[str] = (),
) -> Proposal:
    """Guard, merge, rank, select and apply the pooled edits (optim.pipeline), writing what each
    stage did; `unit` with the candidate skill they make, for the runner to gate (none when no
    edit applied or the edits change nothing)."""
    record, folder = unit.record, unit.folder
    assert record is not None and isinstance(folder, Path)
    tried = [Edit(**b.edit) for b in state.buffer if b.skill_version == state.current_version]
    with ctx.phase("guard"):  # guard, merge, rank, select, apply: no model call
        batch = run_pipeline(
            EditBatch(
                skill=skill,
                pooled=list(pooled),
                failures=failures,
                budget=budget,
                max_tokens=int(ctx.cfg.skill.max_tokens),
                needles=ctx.needles,
                tried=tried,
                feedback=feedback,
                guard_options=ctx.guard_options,
                rejected=list(extra_rejected),
            )
        )
    rejected, ranked, conflicts = batch.rejected, batch.ranked, batch.conflicts
    selected, over_budget, too_big = batch.selected, batch.over_budget, batch.too_big
    outcomes, applied = batch.outcomes, batch.applied
    assert batch.candidate is not None
    candidate = batch.candidate
    write_json_atomic(
        folder / "merged.json",
        {
            "guard_rejected": [r.to_dict() for r in rejected],
            "ranked": [c.to_dict() for c in ranked],
            "conflicts": [c.to_dict() for c in conflicts],
        },
    )
    write_json_atomic(
        folder / "selected.json",
        {
            "budget": budget,
            "selected": [c.to_dict() for c in selected],
            "over_budget": [c.to_dict() for c in over_budget],
            "dropped_for_size": [c.to_dict() for c in too_big],
            "outcomes": [o.model_dump(mode="json") for o in outcomes],
        },
    )
    record.proposed = len(pooled) + len(extra_rejected)
    record.guard_rejected = len(rejected)
    record.merged = len(ranked)
    record.selected = len(selected)
    record.applied = len(applied)
    record.unapplied = sum(1 for o in outcomes if not o.applied)
    record.applied_edits = [e.describe() for e in applied]
    if applied and candidate.text == skill.text:
        record.note = "the applied edits change nothing"
    if not applied or candidate.text == skill.text:
        write_text_atomic(folder / "candidate_skill.md", candidate.text)
        record.note = record.note or "no edit applied"
        return unit  # nothing to gate
    unit.skill, unit.candidate, unit.applied = skill, candidate, list(applied)
    return unit


__all__ = ["edits_proposal", "propose_edits", "step"]
