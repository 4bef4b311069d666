"""The skillfit loop's epoch end: the slow update (the epoch's starting skill against the current
one on sampled train items; the optimizer distils longer-horizon lessons as edits, which pass
the same gate as a step's) and the meta-skill (optimizer-side notes on which edits helped,
shown to later reflections, never deployed)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from skillfit.core.io import write_json_atomic, write_jsonl, write_text_atomic
from skillfit.optim.guard import Rejection
from skillfit.optim.needles import feedback_needles
from skillfit.optim.notes import clean_notes
from skillfit.optim.optimizer import MetaNotes, edits_schema, parroted, per_reply, to_edits
from skillfit.optim.prompting import clip, load_prompt, render_skill, render_target
from skillfit.skill import Skill, mentions_any
from skillfit.strategies.skillfit.step import edits_proposal, propose_edits
from skillfit.tasks.base import Item, Trajectory
from skillfit.train.layout import fresh_dir
from skillfit.train.proposal import Proposal
from skillfit.train.reflect import memory_parts
from skillfit.train.rollout import mean_hard, trajectory_record
from skillfit.train.state import BufferEntry, StepRecord, derived_rng

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.state import RunState


def slow_update(ctx: Trainer, state: RunState) -> Proposal:
    """Compare the epoch's starting skill with the current one on sampled train items;
    the optimizer distils longer-horizon lessons as edits, which must pass the gate."""
    started, tokens0 = time.perf_counter(), ctx.tokens()
    epoch = state.epoch + 1
    folder = fresh_dir(ctx.layout.slow_update(epoch))
    train = list(ctx.splits["train"])
    n = min(len(train), max(1, int(ctx.cfg.slow_update.n_items)))
    items = derived_rng(ctx.cfg.train.seed, "slow", state.epoch).sample(train, n)
    prev, cur = Skill.parse(state.epoch_start_skill), Skill.parse(state.current_skill)
    before = ctx.rollouts(prev.text, items, sample=state.epoch)
    after = ctx.rollouts(cur.text, items, sample=state.epoch)
    write_jsonl(
        folder / "rollouts.jsonl",
        [
            {"version": v, **trajectory_record(t, it)}
            for v, trajs in (("earlier", before), ("current", after))
            for it, t in zip(items, trajs, strict=True)
        ],
    )
    ctx.check_infra(f"epoch {epoch} slow update: rollouts", [*before, *after])
    budget = max(1, ctx.budget_at(max(0, state.global_step - 1)))
    record = StepRecord(
        step=state.global_step,
        epoch=epoch,
        kind="slow_update",
        budget=budget,
        train_score=mean_hard(after),
        n_train=len(items),
        n_infra_errors=sum(1 for t in after if t.error is not None),
        skill_version=state.current_version,
    )
    ctx.emit("slow_update_start", epoch=epoch)
    unit = Proposal(record, started, tokens0, folder=folder)
    meta = state.meta_skill if ctx.uses("meta_skill") else ""
    if ctx.reflection == "diagnose":
        proposals = ctx.reflect(
            state, cur, items, after, budget, context=epoch_context(prev, cur, before, after)
        )
        if not proposals:
            record.note = "no failures to reflect on"
        feedback = feedback_needles([*before, *after])
        return propose_edits(ctx, state, unit, cur, proposals, budget, feedback)
    messages = slow_update_messages(
        prev, cur, items, before, after, meta, state.buffer, budget=budget
    )
    schema = edits_schema(cur.section_ids, budget)
    answer = ctx.settings.ask(ctx.parts.optimizer, messages, schema, parroted)
    edits, invalid_raw = to_edits(answer.parsed) if answer.ok else ([], [])
    write_json_atomic(
        folder / "proposals.json",
        [
            {
                "index": 0,
                "ok": answer.ok,
                "edits": [e.model_dump(mode="json") for e in edits],
                "invalid_edits": invalid_raw,
                "messages": messages,
                "optimizer": answer.to_dict(),
            }
        ],
    )
    record.n_minibatches = 1
    record.n_failed_minibatches = 0 if answer.ok else 1
    failing = sum(1 for t in after if t.ok and t.score is not None and t.score.hard == 0)
    extra = [Rejection(r["edit"], r["reason"], 0) for r in invalid_raw]
    return edits_proposal(
        ctx,
        state,
        unit,
        cur,
        [(0, e) for e in edits],
        {0: failing},
        budget,
        extra_rejected=extra,
        feedback=feedback_needles([*before, *after]),
    )


def meta_update(ctx: Trainer, state: RunState) -> None:
    """Optimizer-side notes on which kinds of edits helped or hurt. Shown to later
    reflections; never part of the deployed skill."""
    epoch = state.epoch + 1
    folder = fresh_dir(ctx.layout.meta_skill(epoch))
    lines = history_lines(state.history)
    messages: list[Any] = [
        {"role": "system", "content": load_prompt("meta_skill")},
        {
            "role": "user",
            "content": (
                f"# Notes so far\n{state.meta_skill.strip() or '(none yet)'}\n\n"
                f"# Edits tried\n{lines or '(no edit was tried yet)'}\n\n"
                "Write the new notes. Reply with JSON only."
            ),
        },
    ]
    answer = ctx.settings.ask(ctx.parts.optimizer, messages, MetaNotes)
    note = "kept the previous notes: the optimizer gave no valid reply"
    if answer.ok:
        raw = answer.parsed.notes.strip()
        adopted = any(r.adopted for r in state.history if r.applied_edits)
        notes = clean_notes(raw, needles=ctx.needles, words=ctx.words, adopted=adopted)
        if notes:
            state.meta_skill = notes
            note = "updated" if notes == raw else "updated (cleaned)"
        elif not raw:
            note = "kept the previous notes: the new ones are empty"
        elif mentions_any(raw, ctx.needles, min_len=12):
            note = "kept the previous notes: the new ones quote a task"
        else:
            note = "kept the previous notes: nothing was left of the new ones after cleaning"
    write_json_atomic(
        folder / "reply.json",
        {"messages": messages, "optimizer": answer.to_dict(), "result": note},
    )
    write_text_atomic(
        folder / "meta_skill.md", state.meta_skill + ("\n" if state.meta_skill else "")
    )
    ctx.emit("meta_skill", epoch=epoch, result=note)


def epoch_context(
    prev: Skill, cur: Skill, before: Sequence[Trajectory], after: Sequence[Trajectory]
) -> str:
    """For the epoch-end rules call: how the guide changed this epoch and what that did."""

    def solved(trajs: Sequence[Trajectory]) -> str:
        done = [t for t in trajs if t.ok and t.score is not None]
        return f"{sum(t.score.hard for t in done if t.score)} of {len(done)}"

    if prev.text == cur.text:
        return "# This epoch\nThe guide did not change during this epoch."
    return (
        "# This epoch\nAt the start of this epoch the guide was:\n"
        f"{render_skill(prev)}\n\nOn the same tasks the earlier guide solved {solved(before)}, "
        f"the current one {solved(after)}. Rules may also delete what does not help."
    )


def slow_update_messages(
    prev: Skill,
    cur: Skill,
    items: Sequence[Item],
    before: Sequence[Trajectory],
    after: Sequence[Trajectory],
    meta_skill: str,
    rejected: Sequence[BufferEntry] = (),
    budget: int = 1,
    limit: int = 8,
) -> list[Any]:
    def verdict(t: Trajectory) -> str:
        if not t.ok or t.score is None:
            return "not run"
        return "right" if t.score.hard else "wrong"

    rows: list[str] = []
    for it, b, a in zip(items, before, after, strict=True):
        if not (a.ok and b.ok):
            continue
        if a.score and b.score and a.score.hard and b.score.hard:
            continue  # solved by both: nothing to learn
        rows.append(
            f"## Task {len(rows) + 1}\nInput:\n{clip(it.input, 500)}\n"
            f"Expected: {clip(render_target(it.target), 200)}\n"
            f"Earlier version: {verdict(b)}. Current version: {verdict(a)}, answer:\n"
            f"{clip(a.answer, 300) or '(empty)'}"
        )
        if len(rows) >= limit:
            break
    same = prev.text == cur.text
    parts = [
        "# Earlier version\n" + ("(same as the current version)" if same else render_skill(prev)),
        "# Current version\n" + render_skill(cur),
    ]
    parts += memory_parts(meta_skill, rejected)
    parts.append("# Tasks\n" + ("\n\n".join(rows) if rows else "(both versions solved every task)"))
    k = per_reply(budget)
    parts.append(
        f"Propose at most {k} {'edit' if k == 1 else 'different edits'} to the current version. "
        "Reply with JSON only."
    )
    return [
        {"role": "system", "content": load_prompt("slow_update")},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def history_lines(history: Sequence[StepRecord], limit: int = 30) -> str:
    lines = []
    for r in history:
        if not r.applied_edits:
            continue
        change = ""
        if r.val_candidate is not None and r.val_current is not None:
            change = f", val score change {r.val_candidate - r.val_current:+.2f}"
        verdict = "adopted" if r.adopted else "rejected"
        # A slow update carries the number of the step it followed; named as that step, its
        # edits read as the step's own (the meta-skill then credits the step with them).
        when = f"slow update after step {r.step}" if r.kind == "slow_update" else f"step {r.step}"
        for e in r.applied_edits:
            lines.append(f"- {when}: {e} ({verdict}{change})")
    return "\n".join(lines[-limit:])
