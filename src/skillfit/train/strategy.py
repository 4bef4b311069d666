"""What the runner drives: the Strategy protocol, an optimization method as init / step /
epoch_end over explicit state.

A strategy acts on the run state (`RunState`: current and best skill, history, buffer, its own
`strategy_state`) through a context, the engine (`skillfit.train.engine.Trainer`), which offers
rollouts, the optimizer, the gate, the edit budget, recording and infrastructure checks. The
runner (`skillfit.train.runner.Runner`) owns the phases, checkpoints, resume, budgets and the
test evaluation; a strategy never saves, never evaluates on test and never decides when to
stop. The implementations live in `skillfit.strategies`, above this layer: the runner is handed
one (composed in `skillfit.api`), it never looks one up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.proposal import Proposal
    from skillfit.train.state import RunState

# The epoch-end stages, each its own resumable unit.
EPOCH_END_STAGES = ("slow_update", "meta_skill")


@runtime_checkable
class Strategy(Protocol):
    name: ClassVar[str]
    # Parts of the engine this strategy switches off (see `strategy.ablate`).
    ablate: ClassVar[tuple[str, ...]]

    def steps_per_epoch(self, ctx: Trainer) -> int:
        """How many `step` calls make an epoch (0: the strategy does all its work in init)."""
        ...

    def init(self, ctx: Trainer, state: RunState) -> Proposal | None:
        """Once, before the first step (a resumed run that finished init does not repeat it);
        a proposal is landed like a step's."""
        ...

    def step(self, ctx: Trainer, state: RunState) -> Proposal | None:
        """One step's proposal: the runner gates its candidate, updates the state, advances
        the step counters and appends its record (None: a step that did nothing)."""
        ...

    def epoch_end(self, ctx: Trainer, state: RunState, stage: str) -> Proposal | None:
        """One epoch-end stage (`EPOCH_END_STAGES`); a proposal is landed like a step's."""
        ...
