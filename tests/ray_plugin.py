"""A task module for the Ray executor tests (`task.module`): the fakes' addition task under
the name `raytest/add`, built from its options on every worker. With `crash_marker` set, the
first rollout of `crash_item` in a process other than `driver_pid` kills that process (once:
it creates the marker first), as a worker lost mid-step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from train_fakes import AddTask

from skillfit.models.base import ChatModel
from skillfit.tasks.base import Item, Trajectory
from skillfit.tasks.registry import register_task


class CrashingAddTask(AddTask):
    def __init__(self, crash_marker: str, crash_item: str, driver_pid: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.crash_marker, self.crash_item, self.driver_pid = crash_marker, crash_item, driver_pid

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        marker = Path(self.crash_marker) if self.crash_marker else None
        if (
            marker is not None
            and item.id == self.crash_item
            and os.getpid() != self.driver_pid
            and not marker.exists()
        ):
            marker.write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-task
        return super().rollout(model, skill, item, sample=sample)


def make_add(
    *,
    n_train: int = 6,
    n_val: int = 4,
    n_test: int = 4,
    initial: str = "",
    crash_marker: str = "",
    crash_item: str = "",
    driver_pid: int = 0,
) -> AddTask:
    kw: dict[str, Any] = {"n_train": n_train, "n_val": n_val, "n_test": n_test, "initial": initial}
    if crash_marker:
        return CrashingAddTask(crash_marker, crash_item, driver_pid, **kw)
    return AddTask(**kw)


register_task("raytest/add", make_add, description="the fakes' addition task", replace=True)
