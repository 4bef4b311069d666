"""The `chat` harness: one request, one reply. The harness of every single-turn task.

The prompt order keeps the model's prefix cache warm across items: the system message holds the
skill first (the same for a whole batch), then the task's fixed instructions; the user message
holds only the item.
"""

from __future__ import annotations

import time

from skillfit.harness.base import HarnessError
from skillfit.models.base import ChatModel, InfraError
from skillfit.tasks.base import Environment, Trajectory
from skillfit.tasks.messages import build_messages, system_text, truncation_note

__all__ = ["ChatHarness", "build_messages", "system_text", "truncation_note"]


class ChatHarness:
    """The skill and the task's instructions as the system message, the item as the user
    message, one reply. The reply is the trajectory's answer (the task's scorer reads it)."""

    name = "chat"
    offers_tools = False

    def run(
        self, target: ChatModel, skill: str, environment: Environment, *, sample: int = 0
    ) -> Trajectory:
        env = environment
        if env.needs_tools:
            raise HarnessError(
                f"task {env.task or '?'} needs its tools "
                f"({', '.join(t.name for t in env.tools) or 'none given'}), which the chat "
                "harness cannot offer: run it with --harness agent (target.harness: agent)"
            )
        messages = build_messages(skill, env.instructions, env.prompt)
        start = time.perf_counter()
        try:
            reply = target.complete(
                messages, max_tokens=env.max_tokens, temperature=env.temperature, sample=sample
            )
        except InfraError as exc:
            return Trajectory(
                item_id=env.item_id,
                messages=messages,
                error=f"{type(exc).__name__}: {exc}",
                seconds=time.perf_counter() - start,
                sample=sample,
            )
        notes = [truncation_note(env.max_tokens)] if reply.finish_reason == "length" else []
        return Trajectory(
            item_id=env.item_id,
            messages=[*messages, {"role": "assistant", "content": reply.text}],
            answer=reply.text,
            usage=reply.usage,
            seconds=time.perf_counter() - start,
            sample=sample,
            notes=notes,
        )
