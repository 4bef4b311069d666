"""Acceptance policies: whether the runner adopts a candidate skill. One is injected into the
runner (the run's gate, or none when a strategy ablates it) or carried by a proposal (textgrad
keeps a rewrite only if its validation mean is strictly higher).

    policy.max_candidates(3)                 # how many candidate skills it may test per update
    policy.judge(ctx, current, candidate, k) # the verdict on one of k candidates

GEPA's `strategies/acceptance.py` is the model: acceptance is an object, not a flag tested in
the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from skillfit.optim.gate import GateConfig, GateResult, ungated


class GateContext(Protocol):
    """What a policy measures with: the run's gate on its validation split (the engine)."""

    def gate(
        self, current: str, candidate: str, config: GateConfig | None = None
    ) -> GateResult: ...


class AcceptancePolicy(Protocol):
    def max_candidates(self, wanted: int) -> int:
        """How many candidate skills of one update this policy may test (`gate.candidates`)."""
        ...

    def judge(self, ctx: GateContext, current: str, candidate: str, k: int) -> GateResult:
        """The verdict on `candidate` against `current`, one of `k` candidates of an update."""
        ...


@dataclass(frozen=True)
class Measured:
    """The gate: both skills scored on the validation split and compared (`GateConfig`)."""

    config: GateConfig

    def max_candidates(self, wanted: int) -> int:
        return wanted

    def judge(self, ctx: GateContext, current: str, candidate: str, k: int) -> GateResult:
        # Each of k candidates is tested at alpha / k, so the chance that noise is adopted
        # somewhere among them stays at most alpha (Bonferroni).
        config = self.config.model_copy(update={"alpha": self.config.alpha / k})
        return ctx.gate(current, candidate, config)


@dataclass(frozen=True)
class Ungated:
    """No gate: every candidate is adopted, nothing measured (the `ungated` ablation)."""

    def max_candidates(self, wanted: int) -> int:
        return 1

    def judge(self, ctx: GateContext, current: str, candidate: str, k: int) -> GateResult:
        return ungated()


__all__ = ["AcceptancePolicy", "Measured", "Ungated"]
