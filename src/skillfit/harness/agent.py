"""The `agent` harness: skillfit's own tool loop (`tool_loop.run_tool_agent`) with the task's
tools, one schema-constrained action per turn and a step limit.

The system message holds the skill, then the task's instructions, then the tool protocol; the
user message holds the item. A task with no tools runs too: the answer is then the only action,
so the run is a chat turn whose reply is a JSON answer action. The final answer reaches the
task's scorer through `Environment.as_reply` (for single-turn tasks, as an `Answer:` line).
"""

from __future__ import annotations

import time

from skillfit.harness.tool_loop import describe_tools, run_tool_agent, tool_summary
from skillfit.models.base import ChatModel
from skillfit.tasks.base import Environment, Trajectory
from skillfit.tasks.messages import system_text


def out_of_steps_note(max_steps: int) -> str:
    return f"The agent used all {max_steps} steps without giving an answer."


class AgentHarness:
    """Runs the tool loop; `max_steps` (when set) overrides the environment's step limit."""

    name = "agent"
    offers_tools = True

    def __init__(self, *, max_steps: int | None = None) -> None:
        if max_steps is not None and max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.max_steps = max_steps

    def run(
        self, target: ChatModel, skill: str, environment: Environment, *, sample: int = 0
    ) -> Trajectory:
        env = environment
        tools = list(env.tools)
        max_steps = self.max_steps or env.max_steps
        protocol = describe_tools(tools)
        instructions = f"{env.instructions}\n\n{protocol}" if env.instructions else protocol
        start = time.perf_counter()
        run = run_tool_agent(
            target,
            system=system_text(skill, instructions),
            user=env.prompt,
            tools=tools,
            max_steps=max_steps,
            max_tokens=env.max_tokens,
            temperature=env.temperature,
            sample=sample,
            max_context_chars=env.max_context_chars,
        )
        trajectory = Trajectory(
            item_id=env.item_id,
            messages=run.messages,
            usage=run.usage,
            tool_calls=run.tool_calls,
            seconds=time.perf_counter() - start,
            sample=sample,
        )
        if run.error is not None:
            trajectory.error = run.error
            return trajectory
        trajectory.answer = env.as_reply(run.answer) if run.answer is not None else ""
        # How the agent worked: always worth saying with tools; without them only when a
        # reply went wrong (a single answer action says nothing new).
        if tools or any(not call.get("ok") for call in run.tool_calls):
            summary = tool_summary(run.tool_calls)
            if summary:
                trajectory.notes.append(summary)
        if run.answer is None:
            trajectory.notes.append(out_of_steps_note(max_steps))
        return trajectory
