"""Harnesses: how a target model acts on a task's item with a skill loaded.

    from skillfit.harness import get_harness, bind_harness, run_item
    traj = run_item(task, "agent", model, skill_text, item)

`chat` sends one request (skill and instructions as the system message, the item as the user
message); `agent` runs skillfit's own tool loop with the task's tools and a step limit. See
`skillfit.harness.base` for the contract a new harness keeps.
"""

from skillfit.harness.agent import AgentHarness
from skillfit.harness.base import Harness, HarnessError
from skillfit.harness.chat import ChatHarness, build_messages, system_text
from skillfit.harness.registry import (
    DEFAULT_HARNESS,
    get_harness,
    harness_names,
    register_harness,
)
from skillfit.harness.run import (
    HarnessedTask,
    bind_harness,
    harness_name,
    prepare_run,
    run_direct,
    run_item,
    score_trajectory,
    uses_harness,
)

__all__ = [
    "DEFAULT_HARNESS",
    "AgentHarness",
    "ChatHarness",
    "Harness",
    "HarnessError",
    "HarnessedTask",
    "bind_harness",
    "build_messages",
    "get_harness",
    "harness_name",
    "harness_names",
    "prepare_run",
    "register_harness",
    "run_direct",
    "run_item",
    "score_trajectory",
    "system_text",
    "uses_harness",
]
