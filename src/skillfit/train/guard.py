"""The guard: edits that must never reach a candidate skill, whatever the gate would say.

- empty edits and edits that repeat the optimizer's own prompt (a small model parrots it);
- edits quoting a training or validation item's input or expected answer (that is memorising
  the data, and the val gate would reward it for the wrong reason);
- edits that would push the skill past its token budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skillfit.skill import Edit, Skill, mentions_any
from skillfit.tasks.base import Item
from skillfit.train.prompting import boilerplate_needles, render_target

MIN_QUOTE = 12  # shorter strings ("True", "(A)", "18") are vocabulary, not leakage


@dataclass(frozen=True)
class Rejection:
    edit: Edit
    reason: str
    source: int = -1  # the minibatch that proposed it

    def to_dict(self) -> dict[str, object]:
        return {
            "edit": self.edit.model_dump(mode="json"),
            "reason": self.reason,
            "source": self.source,
        }


def leak_needles(items: Iterable[Item]) -> tuple[str, ...]:
    """Item inputs and answers, plus each input's lines and sentences: an edit quoting part of
    a question is as much a leak as quoting all of it."""
    needles: set[str] = set()
    for item in items:
        for text in (item.input, render_target(item.target)):
            text = text.strip()
            if len(text) >= MIN_QUOTE:
                needles.add(text)
            for part in re.split(r"\n+|(?<=[.?!])\s+", text):
                part = part.strip()
                if len(part) >= MIN_QUOTE:
                    needles.add(part)
    return tuple(sorted(needles))


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def check_edit(edit: Edit, skill: Skill, *, needles: Sequence[str], max_tokens: int) -> str | None:
    """Why `edit` must be rejected, or None when it may go on."""
    content = edit.content.strip()
    if edit.op in ("add", "replace") and not re.search(r"\w", content):
        return "empty content"
    if content and mentions_any(content, needles, min_len=MIN_QUOTE):
        return "quotes a training or validation item (input or expected answer)"
    if content and mentions_any(content, boilerplate_needles(), min_len=MIN_QUOTE):
        return "repeats the optimizer prompt"
    if edit.op == "add" and content and _norm(content) in _norm(skill.text):
        return "already in the skill"
    if edit.op != "delete":
        result = skill.apply([edit])
        if result.applied and result.skill.n_tokens() > max_tokens:
            return f"would grow the skill to {result.skill.n_tokens()} tokens (limit {max_tokens})"
    return None


def guard(
    proposals: Sequence[tuple[int, Edit]],
    skill: Skill,
    *,
    needles: Sequence[str],
    max_tokens: int,
) -> tuple[list[tuple[int, Edit]], list[Rejection]]:
    """Split (source, edit) pairs into those that pass and those rejected with a reason."""
    kept: list[tuple[int, Edit]] = []
    rejected: list[Rejection] = []
    for source, edit in proposals:
        reason = check_edit(edit, skill, needles=needles, max_tokens=max_tokens)
        if reason is None:
            kept.append((source, edit))
        else:
            rejected.append(Rejection(edit, reason, source))
    return kept, rejected
