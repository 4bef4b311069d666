"""Tasks: data splits, how the target acts on an item, and how it is scored."""

from skillfit.tasks.base import (
    SPLIT_NAMES,
    Item,
    Score,
    SplitName,
    Splits,
    Task,
    TaskDataError,
    Trajectory,
)

__all__ = [
    "SPLIT_NAMES",
    "Item",
    "Score",
    "SplitName",
    "Splits",
    "Task",
    "TaskDataError",
    "Trajectory",
]
