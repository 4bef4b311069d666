"""Direct chat: one request, one reply, scored. The harness of every single-turn task.

The prompt order keeps the model's prefix cache warm across items: the system message holds the
skill first (the same for a whole batch), then the task's fixed instructions; the user message
holds only the item.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from skillfit.models.base import ChatModel, InfraError, Message
from skillfit.tasks.base import Item, Score, Trajectory

# (item, reply text) -> (final answer, score)
ScoreFn = Callable[[Item, str], tuple[str, Score]]


def system_text(skill: str, instructions: str) -> str:
    """The system message of every task: the skill first, then the task's fixed instructions
    (an empty part is left out)."""
    return "\n\n".join(part.strip() for part in (skill, instructions) if part.strip())


def build_messages(skill: str, instructions: str, user: str) -> list[Message]:
    """[system: skill, then instructions; user: item input]. No system message is sent when
    both are empty."""
    system = system_text(skill, instructions)
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    return messages


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
    """Ask `model` about `item` once and score the reply.

    An `InfraError` from the model is recorded in `Trajectory.error` with no score: it says
    nothing about the skill. Any other exception is a bug and propagates."""
    messages = build_messages(skill, instructions, item.input)
    start = time.perf_counter()
    try:
        reply = model.complete(
            messages, max_tokens=max_tokens, temperature=temperature, sample=sample
        )
    except InfraError as exc:
        return Trajectory(
            item_id=item.id,
            messages=messages,
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - start,
            sample=sample,
        )
    answer, result = score(item, reply.text)
    if reply.finish_reason == "length":
        # A truncated reply often lacks its answer line; say why, so an optimizer can ask for
        # shorter reasoning instead of guessing at the format.
        result = dataclasses.replace(
            result,
            feedback=f"{result.feedback} The reply hit the {max_tokens}-token limit and was cut off.",
        )
    return Trajectory(
        item_id=item.id,
        messages=[*messages, {"role": "assistant", "content": reply.text}],
        answer=answer,
        score=result,
        usage=reply.usage,
        seconds=time.perf_counter() - start,
        sample=sample,
    )
