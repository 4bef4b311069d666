"""Moved to `skillfit.harness.tool_loop` (the agent harness's loop); kept so older imports
still work."""

from skillfit.harness.tool_loop import (
    ANSWER_TOOL,
    AgentRun,
    Tool,
    ToolError,
    action_schema,
    describe_tools,
    run_tool_agent,
    tool_summary,
)

__all__ = [
    "ANSWER_TOOL",
    "AgentRun",
    "Tool",
    "ToolError",
    "action_schema",
    "describe_tools",
    "run_tool_agent",
    "tool_summary",
]
