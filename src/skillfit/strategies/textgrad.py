"""A TextGrad-style loop: per batch, the optimizer writes a textual gradient (a critique of the
skill from the failures), then rewrites the whole skill along it; as in TextGrad's prompt
optimization, the rewrite is kept only if its validation accuracy is higher (strict mean, no
significance test). Options: validate (default true; false adopts every rewrite)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from skillfit.core.io import write_json_atomic, write_jsonl
from skillfit.optim.acceptance import Measured, Ungated
from skillfit.optim.gate import GateConfig
from skillfit.skill import Skill
from skillfit.strategies.base import BaseStrategy
from skillfit.strategies.common import ask_text, fits, render_attempts, rollouts
from skillfit.strategies.registry import register
from skillfit.train.layout import fresh_dir
from skillfit.train.proposal import Proposal
from skillfit.train.rollout import mean_hard, trajectory_record
from skillfit.train.state import StepRecord

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.state import RunState

GRADIENT_SYSTEM = """You are part of an optimization system that improves a guide (a system \
prompt) an AI model reads before it solves a task. You see the guide and some attempts the \
model made with it. Give feedback: how the guide should change so that the model solves such \
tasks, in a few sentences. Criticize the guide, do not solve the examples.
Reply with JSON: {"feedback": "<your feedback>"}."""

UPDATE_SYSTEM = """You improve a guide (a system prompt) an AI model reads before it solves a \
task, following the feedback you are given. Write the complete new guide in markdown: general \
rules and procedures only, never an example's input or answer.
Reply with JSON: {"skill": "<the whole new guide>"}."""


@register("textgrad", "TextGrad-style: textual gradient, whole-skill rewrite, validation revert")
class TextGrad(BaseStrategy):
    """TextGrad-style: textual gradient, whole-skill rewrite, validation revert."""

    name: ClassVar[str] = "textgrad"

    def step(self, ctx: Trainer, state: RunState) -> Proposal:
        number = state.global_step + 1
        folder = fresh_dir(ctx.layout.step(number))
        items = ctx.batch(state.epoch, state.step_in_epoch)
        record = StepRecord(
            step=number, epoch=state.epoch + 1, kind="step", skill_version=state.current_version
        )
        unit = Proposal(record, time.perf_counter(), ctx.tokens(), folder=folder)
        trajs = rollouts(ctx, state.current_skill, items, sample=state.epoch)
        write_jsonl(
            folder / "rollouts.jsonl",
            [trajectory_record(t, i) for i, t in zip(items, trajs, strict=True)],
        )
        ctx.check_infra(f"step {number}: train rollouts", trajs)
        record.train_score, record.n_train = mean_hard(trajs), len(trajs)
        record.n_infra_errors = sum(1 for t in trajs if t.error is not None)
        pairs = list(zip(items, trajs, strict=True))
        wrong = [(i, t) for i, t in pairs if t.ok and t.score is not None and not t.score.hard]
        shown = (wrong + [p for p in pairs if p not in wrong])[: int(ctx.cfg.train.minibatch_size)]
        guide = state.current_skill.strip() or "(empty)"
        grad_user = (
            f"# Guide\n{guide}\n\n# Attempts\n{render_attempts(shown)}\n\nReply with JSON only."
        )
        feedback, grad = ask_text(ctx, GRADIENT_SYSTEM, grad_user, "feedback")
        replies = [{"stage": "gradient", "user": grad_user, "optimizer": grad.to_dict()}]
        candidate = ""
        if feedback:
            upd_user = (
                f"# Guide\n{guide}\n\n# Feedback\n{feedback}\n\n"
                "Write the new guide. Reply with JSON only."
            )
            candidate, upd = ask_text(ctx, UPDATE_SYSTEM, upd_user, "skill")
            replies.append({"stage": "update", "user": upd_user, "optimizer": upd.to_dict()})
        write_json_atomic(folder / "proposals.json", replies)
        record.proposed = 1 if candidate else 0
        problem = fits(ctx, candidate) if feedback else "the optimizer gave no feedback"
        if not problem and Skill.parse(candidate).text == Skill.parse(state.current_skill).text:
            problem = "the rewrite changes nothing"
        if problem:
            record.note = problem
            return unit  # nothing to gate
        record.applied = 1
        record.applied_edits = ["rewrite: the whole skill"]
        unit.skill, unit.candidate = Skill.parse(state.current_skill), Skill.parse(candidate)
        # As TextGrad's prompt optimization: kept only if the validation mean is higher.
        unit.policy = (
            Measured(GateConfig(kind="strict_mean"))
            if self.options.get("validate", True)
            else Ungated()
        )
        return unit
