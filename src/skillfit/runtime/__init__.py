"""Comparing strategies (`compare`) and seeds (`seeds`). The runner moved to
`skillfit.train.runner` (re-exported here for older imports)."""

from skillfit.train.runner import Runner, target_calls_used

__all__ = ["Runner", "target_calls_used"]
