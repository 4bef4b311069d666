"""The paper's loop as a strategy: rollout → reflect → guard → merge → apply per step, each
candidate gated by the runner; at each epoch end a slow update (gated too) and the meta-skill.
`ungated` is the same loop with every candidate adopted (self-revision without a gate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from skillfit.strategies.base import BaseStrategy
from skillfit.strategies.registry import register
from skillfit.strategies.skillfit import epoch_end
from skillfit.strategies.skillfit.step import step

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.proposal import Proposal
    from skillfit.train.state import RunState


@register("skillfit", "the skillfit loop: bounded edits, gate, buffer, slow update, meta-skill")
class SkillfitStrategy(BaseStrategy):
    """The skillfit loop: bounded edits, gate, buffer, slow update, meta-skill."""

    name: ClassVar[str] = "skillfit"

    def step(self, ctx: Trainer, state: RunState) -> Proposal | None:
        return step(ctx, state)

    def epoch_end(self, ctx: Trainer, state: RunState, stage: str) -> Proposal | None:
        if stage == "slow_update" and ctx.uses("slow_update"):
            return epoch_end.slow_update(ctx, state)
        if stage == "meta_skill" and ctx.uses("meta_skill"):
            epoch_end.meta_update(ctx, state)
        return None


@register("ungated", "self-revision without a gate: every proposed candidate is adopted")
class UngatedStrategy(SkillfitStrategy):
    """Self-revision without a gate: every proposed candidate is adopted."""

    name: ClassVar[str] = "ungated"
    ablate: ClassVar[tuple[str, ...]] = ("gate",)
