"""Errors the training engine raises for problems a user can fix (no traceback needed)."""

from __future__ import annotations


class TrainError(Exception):
    """Base of the engine's user-facing errors."""


class RunDirConflict(TrainError):
    """The output directory holds something this run must not overwrite."""


class SplitError(TrainError):
    """The task's splits are missing, empty or overlap."""
