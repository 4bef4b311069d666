"""Running a task's item under a harness, and a task bound to the harness a run chose.

    traj = run_item(task, "agent", model, skill, item)      # environment -> harness -> scorer
    task = bind_harness(task, cfg.target.harness)          # every task.rollout uses it

A bound task is a `LoopTask`: training, the gate and evaluation call `task.rollout` (through
`skillfit.train.rollout.rollout_one`), and the harness the run chose does the work. A task
only gives environments and a scorer; it never runs itself under a harness. Tasks that run
their own loop (`LoopTask`, no `environment`) run unchanged under the default harness, and
refuse any other by name.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from skillfit.harness.base import Harness, HarnessError
from skillfit.harness.chat import ChatHarness
from skillfit.harness.registry import DEFAULT_HARNESS, get_harness
from skillfit.models.base import ChatModel
from skillfit.skill import SkillDir
from skillfit.tasks.base import (
    SPLIT_NAMES,
    Environment,
    EnvironmentTask,
    Item,
    Score,
    ScoreFn,
    Splits,
    Task,
    Trajectory,
)


def score_trajectory(traj: Trajectory, item: Item, score: ScoreFn) -> Trajectory:
    """Score the final reply in `traj.answer` (in place): the answer becomes what the scorer
    found in it, and the harness's notes are appended to the feedback. An errored trajectory
    stays unscored; one the harness scored itself (an agent CLI stopped at its wall-clock limit
    gave no answer to score) keeps its score."""
    if traj.error is not None:
        return traj
    if traj.score is not None:
        answer, result = traj.answer, traj.score
    else:
        answer, result = score(item, traj.answer)
    if traj.notes:
        result = dataclasses.replace(result, feedback=" ".join([result.feedback, *traj.notes]))
    traj.answer, traj.score = answer, result
    return traj


def run_item(
    task: EnvironmentTask,
    harness: str | Harness,
    model: ChatModel,
    skill: str,
    item: Item,
    *,
    sample: int = 0,
) -> Trajectory:
    """One rollout: the task's environment for `item`, run by `harness`, scored by the task."""
    traj = get_harness(harness).run(model, skill, task.environment(item), sample=sample)
    return score_trajectory(traj, item, task.score)


def uses_harness(task: Task) -> bool:
    """Whether `task` gives environments a harness can run (rather than its own loop)."""
    return isinstance(task, EnvironmentTask) and bool(getattr(task, "uses_harness", True))


def _first_item(task: Task) -> Item | None:
    splits = task.splits()
    for name in SPLIT_NAMES:
        for item in splits.get(name, ()):
            return item
    return None


def check_fit(task: EnvironmentTask, harness: Harness) -> None:
    """HarnessError when `harness` cannot run `task` (tools it does not offer)."""
    item = _first_item(task)
    if item is None or harness.offers_tools:
        return
    env: Environment = task.environment(item)
    if env.needs_tools:
        tools = ", ".join(t.name for t in env.tools) or "its tools"
        raise HarnessError(
            f"task {task.name} needs its tools ({tools}), which harness {harness.name} cannot "
            "offer: use --harness agent (target.harness: agent)"
        )


class HarnessedTask:
    """`task` with every rollout run by `harness`; everything else is the task's own."""

    def __init__(self, task: EnvironmentTask, harness: Harness) -> None:
        self.task = task
        self.harness = harness

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def initial_skill(self) -> str:
        return self.task.initial_skill

    def splits(self) -> Splits:
        return self.task.splits()

    def environment(self, item: Item) -> Environment:
        return self.task.environment(item)

    def score(self, item: Item, reply: str) -> tuple[str, Score]:
        return self.task.score(item, reply)

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        return run_item(self.task, self.harness, model, skill, item, sample=sample)

    def items(self) -> Iterator[Item]:
        for name in SPLIT_NAMES:
            yield from self.task.splits().get(name, ())

    def __getattr__(self, attr: str) -> Any:
        # split_manifest, options, seed...: the task's own (only reached for unknown names).
        if attr in ("task", "harness"):
            raise AttributeError(attr)
        return getattr(self.task, attr)

    def __repr__(self) -> str:
        return f"HarnessedTask({self.task.name!r}, harness={self.harness.name!r})"


def bind_harness(
    task: Task,
    harness: str | Harness | None = None,
    *,
    skill_dir: SkillDir | None = None,
    timeout: float | None = None,
) -> Task:
    """`task` with its rollouts run by `harness` (a name or a Harness; None: the default).
    A harness that installs skill folders (the agent CLIs) installs `skill_dir`'s frontmatter
    and files with each skill it runs as the body; without one it makes them from the task.
    A harness with a wall-clock limit per item (the agent CLIs) gets `timeout` seconds
    (`target.cli_timeout`; None keeps its own).

    A task with its own loop is returned as it is under the default harness and refused under
    any other; an unknown name or a task needing tools the harness lacks is a HarnessError."""
    if isinstance(task, HarnessedTask):
        task = task.task
    chosen = get_harness(harness if harness is not None else DEFAULT_HARNESS)
    if skill_dir is not None and hasattr(chosen, "skill_dir"):
        chosen.skill_dir = skill_dir
    if timeout is not None and hasattr(chosen, "timeout"):
        chosen.timeout = float(timeout)
    if not uses_harness(task):
        if chosen.name == DEFAULT_HARNESS:
            return task
        raise HarnessError(
            f"task {task.name} runs its own loop and cannot run under harness {chosen.name} "
            f"yet; leave target.harness at {DEFAULT_HARNESS}"
        )
    assert isinstance(task, EnvironmentTask)
    check_fit(task, chosen)
    return HarnessedTask(task, chosen)


def prepare_run(task: Task, model: ChatModel) -> None:
    """Before a run's first call: the harness `task` is bound to readies `model` (an agent CLI
    harness gives an embedded target's server the context the CLI needs, which it can no
    longer get once any call has started the server)."""
    prepare = getattr(getattr(task, "harness", None), "prepare", None)
    if callable(prepare):
        prepare(model)


def harness_name(task: Task) -> str:
    """The harness `task`'s rollouts run under ("chat" for a task with its own loop)."""
    if isinstance(task, HarnessedTask):
        return task.harness.name
    return str(getattr(task, "default_harness", DEFAULT_HARNESS))


def run_direct(
    model: ChatModel,
    skill: str,
    item: Item,
    *,
    instructions: str,
    score: ScoreFn,
    max_tokens: int = 512,
    temperature: float = 0.0,
    sample: int = 0,
) -> Trajectory:
    """Ask `model` about `item` once and score the reply (the chat harness plus a scorer).

    An `InfraError` from the model is recorded in `Trajectory.error` with no score: it says
    nothing about the skill. Any other exception is a bug and propagates."""
    env = Environment(
        item_id=item.id,
        prompt=item.input,
        instructions=instructions,
        max_tokens=max_tokens,
        temperature=temperature,
    )
    start = time.perf_counter()
    traj = ChatHarness().run(model, skill, env, sample=sample)
    traj = score_trajectory(traj, item, score)
    traj.seconds = time.perf_counter() - start
    return traj
