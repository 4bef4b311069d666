"""The defaults every strategy starts from (`BaseStrategy`); the protocol itself, which the
runner drives, is `skillfit.train.strategy.Strategy` (re-exported here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from skillfit.train.strategy import EPOCH_END_STAGES, Strategy

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.proposal import Proposal
    from skillfit.train.state import RunState


class BaseStrategy:
    """Defaults: the engine's epoch shape, nothing at init or epoch end, no ablations."""

    name: ClassVar[str] = ""
    ablate: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        self.options = dict(options)

    def steps_per_epoch(self, ctx: Trainer) -> int:
        return ctx.steps_per_epoch

    def init(self, ctx: Trainer, state: RunState) -> Proposal | None:
        return None

    def step(self, ctx: Trainer, state: RunState) -> Proposal | None:
        return None  # the runner advances the step counters

    def epoch_end(self, ctx: Trainer, state: RunState, stage: str) -> Proposal | None:
        return None


__all__ = ["EPOCH_END_STAGES", "BaseStrategy", "Strategy"]
