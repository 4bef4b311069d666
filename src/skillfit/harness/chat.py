"""The `chat` harness: one request, one reply. The harness of every single-turn task.

The prompt order keeps the model's prefix cache warm across items: the system message holds the
skill first (the same for a whole batch), then the task's fixed instructions; the user message
holds only the item.
"""

from __future__ import annotations

import time

from skillfit.harness.base import HarnessError
from skillfit.models.base import ChatModel, InfraError, Message
from skillfit.tasks.base import Environment, Item, ScoreFn, Trajectory


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


def truncation_note(max_tokens: int) -> str:
    # A truncated reply often lacks its answer line; say why, so an optimizer can ask for
    # shorter reasoning instead of guessing at the format.
    return f"The reply hit the {max_tokens}-token limit and was cut off."


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
    from skillfit.harness.run import score_trajectory

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
