"""Optimization strategies: the skillfit loop and the baselines it is compared with.

    skillfit   the paper's loop (edits, gate, buffer, slow update, meta-skill)
    none       no skill at all
    initial    the initial (human-written) skill, unchanged
    oneshot    the optimizer writes a whole skill once from a few training trajectories
    ungated    the skillfit loop adopting every candidate
    textgrad   a TextGrad-style loop: textual gradient, whole-skill rewrite, validation revert
    gepa       GEPA through the `gepa` package, our optimizer as its reflection model

Each is one class with `@register(name)`; `skillfit.train.runner.Runner` runs any of them.
"""

from skillfit.strategies.base import EPOCH_END_STAGES, BaseStrategy, Strategy
from skillfit.strategies.registry import describe, get_strategy, register, strategy_names

# isort: off
# Imported for their registrations (one `@register` each), after the registry they fill.
from skillfit.strategies import baselines, gepa_strategy, skillfit, textgrad  # noqa: F401

# isort: on

__all__ = [
    "EPOCH_END_STAGES",
    "BaseStrategy",
    "Strategy",
    "describe",
    "get_strategy",
    "register",
    "strategy_names",
]
