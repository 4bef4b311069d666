"""The runner: phases, stop rules, budgets, checkpoints, resume and the test evaluation."""

from skillfit.runtime.runner import Runner, target_calls_used

__all__ = ["Runner", "target_calls_used"]
