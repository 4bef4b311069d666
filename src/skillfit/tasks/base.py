"""The contract of a task: splits of items, an environment for an item, a score.

A task never knows it is being trained: it only ever sees a model and a skill text. A task
that gives an `Environment` per item and a scorer (`EnvironmentTask`) runs under any harness
(`skillfit.harness`: chat, agent, ...); one with its own loop (`LoopTask`) rolls out itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


# (item, the target's final reply) -> (the answer found in it, its score)
ScoreFn = Callable[[Item, str], tuple[str, Score]]


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
    # What the harness saw of how the run ended (a reply cut at the token limit, an agent out
    # of steps, how it used its tools): appended to the scorer's feedback for the optimizer.
    notes: list[str] = field(default_factory=list)
    # The agent was stopped at the harness's wall-clock limit (an agent CLI still working):
    # scored 0, the target failed the item; kept apart so a summary can say how many.
    timed_out: bool = False
    # False when `usage` counts only part of what the run spent (a run stopped mid-call
    # reports no usage for the calls it had not finished): a lower bound, not the cost.
    usage_complete: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None and self.score is not None


Splits = Mapping[SplitName, Sequence[Item]]


class ToolError(Exception):
    """A tool call the model got wrong (unknown file, bad argument): the message is shown to the
    model as the tool's result, and the run continues."""


@dataclass(frozen=True)
class Tool:
    """A function the agent may call. `parameters` is the JSON schema of its arguments (an
    object schema); `run` receives the validated argument dict and returns text for the model."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    run: Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Environment:
    """What a harness needs to let a target act on one item; the task's side of the seam.

    The skill is not part of it: the harness puts the skill where its agent reads skills (the
    system prompt for chat and agent), then `instructions` (the task's fixed text), and sends
    `prompt` (the item) as the user's turn. `tools` are the functions the task allows (the
    agent harness offers them); `files` are the files an agent working in a workspace gets
    (workspace path -> file or folder on disk; the agent harness reaches them through `tools`).
    `needs_tools`: the item cannot be done without its tools, so a harness without tools
    refuses it instead of scoring an agent that could not look. An agent's final answer reaches
    the scorer as `answer_template` with `{answer}` replaced, so a task whose scorer reads an
    `Answer:` line scores an answer action the same way as a chat reply."""

    item_id: str
    prompt: str
    instructions: str = ""
    task: str = ""
    tools: tuple[Tool, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    needs_tools: bool = False
    max_tokens: int = 512
    temperature: float = 0.0
    max_steps: int = 8
    max_context_chars: int | None = None
    answer_template: str = "{answer}"

    def as_reply(self, answer: str) -> str:
        """An agent's final answer written as the reply the task's scorer reads."""
        return self.answer_template.replace("{answer}", answer)


@runtime_checkable
class Task(Protocol):
    """Items in splits, and a starting skill. A task is run in one of two ways: it gives an
    environment per item and a scorer (`EnvironmentTask`, run by any harness), or it runs its
    own loop (`LoopTask`). Either way it never imports a harness: the harness runs the task."""

    @property
    def name(self) -> str: ...

    @property
    def initial_skill(self) -> str:
        """The human-written starting skill for this task (may be empty)."""
        ...

    def splits(self) -> Splits:
        """Disjoint train / val / test items, fixed by the task's seed."""
        ...


@runtime_checkable
class LoopTask(Task, Protocol):
    """A task that runs its own loop (a game, a sandboxed program): it makes the target's
    calls itself, so it runs under the default harness only."""

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        """Let `model` act on `item` with `skill` in context and score the result.
        Infrastructure errors are caught and recorded in `Trajectory.error`."""
        ...


@runtime_checkable
class EnvironmentTask(Task, Protocol):
    """A task that any harness can run: an environment per item, a scorer of the final reply.
    (`skillfit.harness.run_item` runs one item; `skillfit.train.rollout.rollout_one` is the
    one call training, the gate and evaluation make.)"""

    def environment(self, item: Item) -> Environment:
        """What the target gets for `item`: prompt, instructions, tools, files, limits."""
        ...

    def score(self, item: Item, reply: str) -> tuple[str, Score]:
        """(the answer found in `reply`, its Score)."""
        ...


class TaskDataError(ValueError):
    """Task data that is missing, malformed or inconsistent; the message names file and item."""
