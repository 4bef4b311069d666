"""The paper's loop: `strategy` (the skillfit and ungated strategies), `step` (one step's
candidate skill), `epoch_end` (slow update and meta-skill)."""

from skillfit.strategies.skillfit.strategy import SkillfitStrategy, UngatedStrategy

__all__ = ["SkillfitStrategy", "UngatedStrategy"]
