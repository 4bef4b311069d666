"""Baselines without a training loop: no skill, the initial skill, and a one-shot skill the
optimizer writes from a few training trajectories."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from skillfit.core.io import write_json_atomic, write_jsonl
from skillfit.strategies.base import BaseStrategy
from skillfit.strategies.common import ask_text, fits, render_attempts, rollouts
from skillfit.strategies.registry import register
from skillfit.train.layout import fresh_dir
from skillfit.train.proposal import Adoption, Proposal
from skillfit.train.rollout import mean_hard, trajectory_record
from skillfit.train.state import StepRecord, derived_rng

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.state import RunState


@register("none", "no skill: the target alone")
class NoSkill(BaseStrategy):
    """No skill: the target alone."""

    name: ClassVar[str] = "none"

    def steps_per_epoch(self, ctx: Trainer) -> int:
        return 0

    def init(self, ctx: Trainer, state: RunState) -> Proposal | None:
        if not state.best_skill:
            return None
        return Proposal(None, time.perf_counter(), None, adopt=Adoption(""))


@register("initial", "the initial (human-written) skill, unchanged")
class InitialSkill(BaseStrategy):
    """The initial (human-written) skill, unchanged."""

    name: ClassVar[str] = "initial"

    def steps_per_epoch(self, ctx: Trainer) -> int:
        return 0


ONESHOT_SYSTEM = """You write a skill: a short markdown guide that an AI model reads before \
it solves a task. You see some attempts the model made with its current guide, each with the \
expected answer. Write the complete new guide: how to solve this kind of task and how to \
write the answer. General rules and procedures only: never copy an example's input or answer.
Reply with JSON: {"skill": "<the whole guide, markdown>"}."""


@register("oneshot", "one optimizer call writes a whole skill from a few training trajectories")
class OneShot(BaseStrategy):
    """One optimizer call writes a whole skill from a few training trajectories.

    Options: n_items (training items shown, default 8)."""

    name: ClassVar[str] = "oneshot"

    def steps_per_epoch(self, ctx: Trainer) -> int:
        return 0

    def init(self, ctx: Trainer, state: RunState) -> Proposal:
        folder = fresh_dir(ctx.layout.root / "oneshot")
        train = list(ctx.splits["train"])
        n = min(len(train), max(1, int(self.options.get("n_items", 8))))
        items = derived_rng(ctx.cfg.train.seed, "oneshot").sample(train, n)
        record = StepRecord(step=0, epoch=0, kind="oneshot", skill_version=state.current_version)
        unit = Proposal(record, time.perf_counter(), ctx.tokens())
        trajs = rollouts(ctx, state.current_skill, items)
        write_jsonl(
            folder / "rollouts.jsonl",
            [trajectory_record(t, i) for i, t in zip(items, trajs, strict=True)],
        )
        ctx.check_infra("one-shot: train rollouts", trajs)
        record.train_score, record.n_train = mean_hard(trajs), len(trajs)
        record.n_infra_errors = sum(1 for t in trajs if t.error is not None)
        user = (
            f"# Current guide\n{state.current_skill.strip() or '(empty)'}\n\n"
            f"# Attempts\n{render_attempts(list(zip(items, trajs, strict=True)), limit=n)}\n\n"
            "Write the new guide. Reply with JSON only."
        )
        text, answer = ask_text(ctx, ONESHOT_SYSTEM, user, "skill")
        problem = fits(ctx, text)
        write_json_atomic(
            folder / "reply.json",
            {
                "system": ONESHOT_SYSTEM,
                "user": user,
                "optimizer": answer.to_dict(),
                "problem": problem,
            },
        )
        record.proposed = 1
        if problem:
            record.note = f"kept the initial skill: {problem}"
        else:
            record.applied = 1
            record.adopted = True
            record.applied_edits = ["rewrite: the whole skill"]
            unit.adopt = Adoption(text)
        return unit
