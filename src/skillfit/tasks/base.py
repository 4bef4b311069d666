"""The contract of a task: splits of items, a rollout of the target with a skill, a score.

A task never knows it is being trained: it only ever sees a model and a skill text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from skillfit.models.base import ChatModel, Message, Usage

SplitName = Literal["train", "val", "test"]
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    """One scored task instance. `target` is whatever the scorer compares against."""

    id: str
    input: str
    target: Any = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    hard: int  # 0 or 1: solved or not
    soft: float  # 0..1 partial credit (F1, ANLS, fraction of cells...)
    feedback: str = ""  # what went wrong or right, written for the optimizer to read
    # Whether the reply gave an answer in the form the task asks for (an `Answer:` line holding
    # an answer of the right kind); None when the task does not tell. Separates form from
    # substance: accuracy among formatted replies is what a skill taught beyond the format.
    formatted: bool | None = None

    def __post_init__(self) -> None:
        if self.hard not in (0, 1):
            raise ValueError(f"Score.hard must be 0 or 1, got {self.hard!r}")
        if not 0.0 <= self.soft <= 1.0:
            raise ValueError(f"Score.soft must lie in [0, 1], got {self.soft!r}")


@dataclass
class Trajectory:
    """Everything one rollout did. `error` is set (and `score` is None) when the rollout hit
    an infrastructure failure: such a rollout says nothing about the skill."""

    item_id: str
    messages: list[Message]
    answer: str = ""
    score: Score | None = None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    sample: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.score is not None


Splits = Mapping[SplitName, Sequence[Item]]


@runtime_checkable
class Task(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def initial_skill(self) -> str:
        """The human-written starting skill for this task (may be empty)."""
        ...

    def splits(self) -> Splits:
        """Disjoint train / val / test items, fixed by the task's seed."""
        ...

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        """Let `model` act on `item` with `skill` in context and score the result.
        Infrastructure errors are caught and recorded in `Trajectory.error`."""
        ...


class TaskDataError(ValueError):
    """Task data that is missing, malformed or inconsistent; the message names file and item."""
