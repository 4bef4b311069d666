"""The paper's loop as a strategy: rollout → reflect → guard → merge → apply → gate per step;
at each epoch end a slow update (gated) and the meta-skill. `ungated` is the same loop with
every candidate adopted (self-revision without a gate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from skillfit.strategies.base import BaseStrategy
from skillfit.strategies.registry import register

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.state import RunState


@register("skillfit", "the skillfit loop: bounded edits, gate, buffer, slow update, meta-skill")
class SkillfitStrategy(BaseStrategy):
    """The skillfit loop: bounded edits, gate, buffer, slow update, meta-skill."""

    name: ClassVar[str] = "skillfit"

    def step(self, ctx: Trainer, state: RunState) -> None:
        ctx.step(state)

    def epoch_end(self, ctx: Trainer, state: RunState, stage: str) -> None:
        if stage == "slow_update" and ctx.uses("slow_update"):
            ctx.slow_update(state)
        elif stage == "meta_skill" and ctx.uses("meta_skill"):
            ctx.meta_update(state)


@register("ungated", "self-revision without a gate: every proposed candidate is adopted")
class UngatedStrategy(SkillfitStrategy):
    """Self-revision without a gate: every proposed candidate is adopted."""

    name: ClassVar[str] = "ungated"
    ablate: ClassVar[tuple[str, ...]] = ("gate",)
