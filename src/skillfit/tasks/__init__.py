"""Tasks: data splits, how the target acts on an item, and how it is scored."""

from skillfit.tasks.base import (
    SPLIT_NAMES,
    EnvironmentTask,
    Item,
    LoopTask,
    Score,
    SplitName,
    Splits,
    Task,
    TaskDataError,
    Trajectory,
)
from skillfit.tasks.common import SingleTurnTask, TaskOptionError
from skillfit.tasks.registry import TaskInfo, get_task, list_tasks, register_task

__all__ = [
    "SPLIT_NAMES",
    "EnvironmentTask",
    "Item",
    "LoopTask",
    "Score",
    "SingleTurnTask",
    "SplitName",
    "Splits",
    "Task",
    "TaskDataError",
    "TaskInfo",
    "TaskOptionError",
    "Trajectory",
    "get_task",
    "list_tasks",
    "register_task",
]
