"""The harness contract: run a target model with a skill in a task's environment.

    trajectory = harness.run(target, skill, environment, sample=0)

A harness knows how one kind of agent is driven (a chat call, skillfit's own tool loop, an
agent CLI in a workspace); a task knows its items, the environment of an item and how to score
the outcome. N tasks and M harnesses, not N x M loops. The trajectory a harness returns is not
scored: `skillfit.harness.run.run_item` asks the task's scorer, then appends the harness's
`notes` to the feedback.

A new harness is one file: a class with `name`, `offers_tools` and `run`, registered with
`register_harness("name", factory)` (see `skillfit.harness.registry`). What every harness keeps:
- the skill reaches the agent the way that agent loads skills (the system prompt for chat and
  agent; a skill directory in the workspace for agent CLIs);
- an `InfraError` (network, server, a request's timeout) is recorded in `Trajectory.error`
  and never turned into a wrong answer; a problem the user must fix raises `HarnessError`; an
  agent that is still working at the harness's own wall-clock limit has failed the item;
- a harness may define `prepare(target)`, called once before a run's first model call;
- usage and time are read from what the agent did, never left at zero when it spent tokens.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from skillfit.models.base import ChatModel
from skillfit.tasks.base import Environment, Trajectory


class HarnessError(ValueError):
    """A harness that cannot run what it was given (unknown name, a task that needs tools the
    harness does not offer, a missing agent CLI): the message says what to do."""


@runtime_checkable
class Harness(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def offers_tools(self) -> bool:
        """Whether the harness can offer a task's tools (`Environment.tools`)."""
        ...

    def run(
        self, target: ChatModel, skill: str, environment: Environment, *, sample: int = 0
    ) -> Trajectory:
        """Let `target` act in `environment` with `skill` (the skill's markdown body) loaded.
        `Trajectory.answer` is the final reply the task's scorer reads; `score` stays None."""
        ...
