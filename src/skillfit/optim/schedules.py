"""Edit-budget schedules: the textual learning rate.

A schedule is a pure function from the step index (counted from 0) to the number of edits the
optimizer may apply at that step, in the spirit of optax's schedules: the learning rate is
data, not code paths. Budgets are integers, so every schedule rounds half up and clamps its
value into its own [minimum, init] range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Schedule = Callable[[int], int]

__all__ = [
    "Schedule",
    "ScheduleConfig",
    "constant",
    "cosine",
    "linear",
    "make_schedule",
    "warmup",
]


def _round(value: float) -> int:
    # Round half up rather than Python's banker's rounding, so 2.5 edits is 3 edits.
    return math.floor(value + 0.5)


def _check_step(step: int) -> None:
    if step < 0:
        raise ValueError(f"schedule step must be >= 0, got {step}")


def _check_range(init: int, minimum: int, total_steps: int) -> None:
    if minimum < 0:
        raise ValueError(f"minimum must be >= 0, got {minimum}")
    if init < minimum:
        raise ValueError(f"init ({init}) must be >= minimum ({minimum})")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")


def constant(value: int) -> Schedule:
    """The same budget at every step."""
    if value < 0:
        raise ValueError(f"budget must be >= 0, got {value}")

    def schedule(step: int) -> int:
        _check_step(step)
        return value

    return schedule


def cosine(init: int = 4, minimum: int = 1, total_steps: int = 100) -> Schedule:
    """Cosine decay from `init` at step 0 to `minimum` at step `total_steps` and after.

    Same curve as optax's `cosine_decay_schedule(init, decay_steps=total_steps,
    alpha=minimum / init)`: `minimum + (init - minimum) * (1 + cos(pi * t / T)) / 2`,
    rounded half up."""
    _check_range(init, minimum, total_steps)

    def schedule(step: int) -> int:
        _check_step(step)
        progress = min(step, total_steps) / total_steps
        value = minimum + (init - minimum) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return min(init, max(minimum, _round(value)))

    return schedule


def linear(init: int = 4, minimum: int = 1, total_steps: int = 100) -> Schedule:
    """Linear decay from `init` at step 0 to `minimum` at step `total_steps` and after
    (optax's `linear_schedule`), rounded half up."""
    _check_range(init, minimum, total_steps)

    def schedule(step: int) -> int:
        _check_step(step)
        progress = min(step, total_steps) / total_steps
        value = init + (minimum - init) * progress
        return min(init, max(minimum, _round(value)))

    return schedule


def warmup(schedule: Schedule, steps: int, start: int = 1) -> Schedule:
    """Ramp linearly from `start` at step 0 up to `schedule(0)` at step `steps`, then follow
    `schedule` shifted by `steps` (like optax's `join_schedules`): the wrapped schedule sees
    step 0 when the warmup ends, so its decay is not eaten by the warmup."""
    if steps < 0:
        raise ValueError(f"warmup steps must be >= 0, got {steps}")
    if start < 0:
        raise ValueError(f"warmup start must be >= 0, got {start}")
    if steps == 0:
        return schedule
    peak = schedule(0)

    def warmed(step: int) -> int:
        _check_step(step)
        if step >= steps:
            return schedule(step - steps)
        value = start + (peak - start) * step / steps
        low, high = min(start, peak), max(start, peak)
        return min(high, max(low, _round(value)))

    return warmed


class ScheduleConfig(BaseModel):
    """How the per-step edit budget evolves over a run."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["cosine", "constant", "linear"] = "cosine"
    init: int = Field(default=4, ge=0, le=1000, description="budget at the first step after warmup")
    minimum: int = Field(
        default=1, ge=0, le=1000, description="budget floor at the end of the decay"
    )
    warmup_steps: int = Field(
        default=0, ge=0, le=1_000_000, description="steps ramping up to `init`"
    )

    @model_validator(mode="after")
    def _minimum_below_init(self) -> ScheduleConfig:
        if self.kind != "constant" and self.minimum > self.init:
            raise ValueError(f"minimum ({self.minimum}) must not exceed init ({self.init})")
        return self


def make_schedule(cfg: ScheduleConfig, total_steps: int) -> Schedule:
    """The schedule a run uses. The decay spans the steps after the warmup, so the budget
    reaches `minimum` at step `total_steps`. The warmup starts from one edit (or from
    `minimum` when that is higher, never above `init`)."""
    decay_steps = max(1, total_steps - cfg.warmup_steps)
    base: Schedule
    if cfg.kind == "constant":
        base = constant(cfg.init)
    elif cfg.kind == "cosine":
        base = cosine(cfg.init, cfg.minimum, decay_steps)
    else:
        base = linear(cfg.init, cfg.minimum, decay_steps)
    start = min(cfg.init, max(cfg.minimum, 1))
    return warmup(base, cfg.warmup_steps, start=start)
