"""skillfit's own tool loop, which the `agent` harness runs: the model sees a tool list and
replies with one JSON action per turn until it answers or runs out of steps.

Each reply is constrained by a JSON schema (`response_format`), so even a small local model
produces a parseable action: `{"action": {"tool": "<name>", "args": {...}}}`. Answering is itself
an action (`{"tool": "answer", "args": {"answer": "..."}}`); on the last step the schema allows
nothing else, so a run ends with an answer unless the model or the infrastructure fails.

Everything is recorded: the conversation, every tool call (with its result or error), and the
token usage summed over all turns. With `max_context_chars`, the oldest tool results in the
conversation are replaced by a short note once it grows past that size, so long document work
fits a small model's context window (the full results stay in `tool_calls`). An `InfraError`
stops the run and is reported in `AgentRun.error`; it is never turned into a wrong answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillfit.models.base import ChatModel, InfraError, Message, Usage
from skillfit.tasks.base import Tool, ToolError

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

ANSWER_TOOL = "answer"


@dataclass
class AgentRun:
    """The outcome of one agent run. `answer` is None when the run stopped without answering."""

    answer: str | None
    messages: list[Message]
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    stopped: str = "answer"  # "answer" | "step_limit" | "infra_error"
    error: str | None = None
    seconds: float = 0.0


def _args_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {}, "required": [], **dict(parameters)}
    schema.setdefault("additionalProperties", False)
    return schema


def _answer_tool_schema() -> dict[str, Any]:
    return _args_schema({"properties": {"answer": {"type": "string"}}, "required": ["answer"]})


def action_schema(tools: Sequence[Tool], *, final: bool = False) -> dict[str, Any]:
    """The JSON schema of one reply. With `final`, only the answer action is allowed."""
    options: list[dict[str, Any]] = []
    pairs: list[tuple[str, dict[str, Any]]] = (
        [] if final else [(t.name, _args_schema(t.parameters)) for t in tools]
    )
    pairs.append((ANSWER_TOOL, _answer_tool_schema()))
    for name, args in pairs:
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"type": "string", "enum": [name]}, "args": args},
                "required": ["tool", "args"],
                "additionalProperties": False,
            }
        )
    action: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    return {
        "title": "agent_action",
        "type": "object",
        "properties": {"action": action},
        "required": ["action"],
        "additionalProperties": False,
    }


def describe_tools(tools: Sequence[Tool]) -> str:
    """The fixed tool protocol text appended to the task's instructions. With no tools the
    only action is the answer: the run is one chat turn whose reply is a JSON answer action."""
    if not tools:
        lines = [
            "## Tools",
            'Reply with exactly one JSON object: {"action": {"tool": "answer", "args": {...}}}.',
        ]
    else:
        lines = [
            "## Tools",
            "Reply with exactly one JSON object per turn: "
            '{"action": {"tool": "<tool name>", "args": {...}}}. '
            "You will get the tool's result and can call another tool.",
        ]
    for tool in tools:
        props = tool.parameters.get("properties", {})
        args = ", ".join(
            f"{name}: {spec.get('type', 'any')}"
            + (f" ({spec['description']})" if spec.get("description") else "")
            for name, spec in props.items()
        )
        lines.append(f"- {tool.name}({args}): {tool.description}")
    lines.append(
        f"- {ANSWER_TOOL}(answer: string): give your final answer and stop. "
        f'Example: {{"action": {{"tool": "{ANSWER_TOOL}", "args": {{"answer": "42"}}}}}}'
    )
    return "\n".join(lines)


def _parse_action(data: Any, text: str) -> tuple[str, dict[str, Any]]:
    """(tool name, args) from a reply; ValueError with a reason the model can act on."""
    if data is None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the reply is not JSON ({exc.msg})") from exc
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    action = data.get("action") if isinstance(data, dict) else None
    if not isinstance(action, dict):
        raise ValueError('expected {"action": {"tool": ..., "args": {...}}}')
    tool, args = action.get("tool"), action.get("args", {})
    if not isinstance(tool, str) or not isinstance(args, dict):
        raise ValueError('"tool" must be a string and "args" an object')
    return tool, args


def _steps_note(left: int) -> str:
    if left <= 1:
        return "This is your last step: reply with the answer action now."
    return f"({left} steps left.)"


def run_tool_agent(
    model: ChatModel,
    *,
    system: str,
    user: str,
    tools: Sequence[Tool],
    max_steps: int = 8,
    max_tokens: int = 384,
    temperature: float = 0.0,
    sample: int = 0,
    max_result_chars: int = 4000,
    max_context_chars: int | None = None,
) -> AgentRun:
    """Run the agent loop. `system` should already hold the skill first and the task's fixed
    instructions (see `describe_tools`); `user` holds the item."""
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    by_name = {t.name: t for t in tools}
    if ANSWER_TOOL in by_name:
        raise ValueError(f"a tool may not be called {ANSWER_TOOL!r}: that name ends the run")
    start = time.perf_counter()
    messages: list[Message] = [
        {"role": "system", "content": system},
        {"role": "user", "content": f"{user}\n\n{_steps_note(max_steps)}"},
    ]
    run = AgentRun(answer=None, messages=messages, stopped="step_limit")
    result_at: list[int] = []  # indexes of the tool-result messages, oldest first
    for step in range(1, max_steps + 1):
        final = step == max_steps
        if max_context_chars is not None:
            _trim(messages, result_at, max_context_chars)
        try:
            reply = model.complete(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                response_format=action_schema(tools, final=final),
                sample=sample,
            )
        except InfraError as exc:
            run.stopped, run.error = "infra_error", f"{type(exc).__name__}: {exc}"
            break
        run.steps = step
        run.usage = run.usage + reply.usage
        messages.append({"role": "assistant", "content": reply.text})
        call: dict[str, Any] = {"step": step}
        try:
            name, args = _parse_action(reply.parsed, reply.text)
        except ValueError as exc:
            call.update(tool=None, args=None, ok=False, result=f"Error: {exc}")
        else:
            call.update(tool=name, args=args)
            if name == ANSWER_TOOL:
                answer = args.get("answer")
                if isinstance(answer, str | int | float) and not isinstance(answer, bool):
                    run.answer, run.stopped = str(answer).strip(), "answer"
                    call.update(ok=True, result="")
                    run.tool_calls.append(call)
                    break
                call.update(ok=False, result='Error: the answer action needs "answer": a string')
            elif name not in by_name:
                known = ", ".join([*by_name, ANSWER_TOOL])
                call.update(ok=False, result=f"Error: unknown tool {name!r}; tools: {known}")
            else:
                call.update(_call_tool(by_name[name], args, max_result_chars))
                repeat = _same_call(run.tool_calls, name, args)
                if repeat is not None:
                    # Small models loop on one call; say so rather than silently repeating.
                    call["result"] = (
                        f"(Same call as step {repeat}: same result. Use what you have, try a "
                        f"different call, or answer.)\n{call['result']}"
                    )
        run.tool_calls.append(call)
        left = max_steps - step
        if left == 0:
            break
        label = call["tool"] or "your reply"
        result_at.append(len(messages))
        messages.append(
            {
                "role": "user",
                "content": f"Result of {label}:\n{call['result']}\n\n{_steps_note(left)}",
            }
        )
    run.seconds = time.perf_counter() - start
    return run


def _call_tool(tool: Tool, args: dict[str, Any], max_chars: int) -> dict[str, Any]:
    try:
        result = tool.run(args)
    except ToolError as exc:
        return {"ok": False, "result": f"Error: {exc}"}
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # arguments of a wrong shape
        return {"ok": False, "result": f"Error: bad arguments for {tool.name}: {exc}"}
    if len(result) > max_chars:
        result = result[:max_chars] + f"\n[... cut at {max_chars} characters]"
    return {"ok": True, "result": result}


def _same_call(calls: list[dict[str, Any]], name: str, args: dict[str, Any]) -> int | None:
    for earlier in calls:
        if earlier.get("tool") == name and earlier.get("args") == args:
            return int(earlier["step"])
    return None


def _trim(messages: list[Message], result_at: list[int], budget: int) -> None:
    """Elide the oldest tool results (never the latest) until the conversation fits `budget`
    characters. Messages are replaced, not edited, so earlier requests keep what they sent."""
    size = sum(len(m["content"]) for m in messages)
    for index in result_at[:-1]:
        if size <= budget:
            return
        old = messages[index]["content"]
        if old.startswith("[elided"):
            continue
        note = "[elided: an earlier tool result, removed to save context; call again if needed]"
        messages[index] = {"role": messages[index]["role"], "content": note}
        size -= len(old) - len(note)


def tool_summary(calls: list[dict[str, Any]]) -> str:
    """One line on how the agent worked, for the optimizer: the calls in order and what failed."""
    if not calls:
        return ""
    names = [str(c.get("tool") or "invalid reply") for c in calls]
    parts = [f"Tool use ({len(calls)} steps): {', '.join(names)}."]
    failed = [c for c in calls if not c.get("ok")]
    if failed:
        reasons = "; ".join(
            f"step {c['step']} {c.get('tool') or 'reply'}: {str(c.get('result', ''))[:120]}"
            for c in failed[:3]
        )
        parts.append(f"{len(failed)} failed ({reasons}).")
    return " ".join(parts)
