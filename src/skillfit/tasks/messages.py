"""The messages of a one-call chat: the skill and the task's fixed instructions as the system
message, the item as the user message.

The order keeps the model's prefix cache warm across items: the system message holds the skill
first (the same for a whole batch), then the task's fixed instructions; the user message holds
only the item. The chat harness sends them; a task with its own loop starts from them too.
"""

from __future__ import annotations

from skillfit.models.base import Message


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
