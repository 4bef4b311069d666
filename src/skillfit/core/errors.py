"""Errors the training engine raises for problems a user can fix (no traceback needed)."""

from __future__ import annotations


class TrainError(Exception):
    """Base of the engine's user-facing errors."""


class RunDirConflict(TrainError):
    """The output directory holds something this run must not overwrite."""


class SplitError(TrainError):
    """The task's splits are missing, empty or overlap."""


class InfraFailure(TrainError):
    """Too many model calls of one unit of work (a step's rollouts, a gate, a test arm) failed
    for infrastructure reasons. Nothing of that unit was recorded: the run resumes from its last
    finished unit once the model or server works again."""
