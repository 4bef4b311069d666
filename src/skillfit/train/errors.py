"""Kept for imports written before the errors moved to `skillfit.core.errors`."""

from skillfit.core.errors import InfraFailure, RunDirConflict, SplitError, TrainError

__all__ = ["InfraFailure", "RunDirConflict", "SplitError", "TrainError"]
