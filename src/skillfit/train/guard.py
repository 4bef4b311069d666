"""The guard: edits that must never reach a candidate skill, whatever the gate would say.

- empty edits and edits that repeat the optimizer's own prompt or copy its listing of
  attempted tasks (a small model parrots both);
- edits quoting a training or validation item's input or expected answer (that is memorising
  the data, and the val gate would reward it for the wrong reason);
- edits that would push the skill past its token budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from skillfit.skill import Edit, Skill, mentions_any
from skillfit.tasks.base import Item
from skillfit.train.merge import similar
from skillfit.train.prompting import boilerplate_needles, render_target

MIN_QUOTE = 12  # shorter strings ("True", "(A)", "18") are vocabulary, not leakage
SHINGLE = 6  # words in a row taken from one item that count as quoting it
# The labels of the reflection prompt's task listing (see prompting.render_example). An edit
# carrying them copied the evidence into the skill instead of drawing a lesson from it.
SCAFFOLDING = re.compile(
    r"\b(?:task|question) \d+ \((?:right|wrong)\)|^\W*model answer:|\bgiven: '|^\W*feedback: ",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Rejection:
    edit: Edit | dict[str, Any]  # a dict when the proposal was not even a valid Edit
    reason: str
    source: int = -1  # the minibatch that proposed it

    def to_dict(self) -> dict[str, Any]:
        edit = self.edit.model_dump(mode="json") if isinstance(self.edit, Edit) else self.edit
        return {"edit": edit, "reason": self.reason, "source": self.source}


def leak_needles(items: Iterable[Item], shingle: int = SHINGLE) -> tuple[str, ...]:
    """What an edit must not quote: each item's input and answer, the input's lines and
    sentences, and every run of `shingle` words from it. Quoting part of a question is as much
    a leak as quoting all of it. Text shared by two or more items (a task's template, an
    "Options:" line) is not specific to any item and is left out."""
    owners: dict[str, set[str]] = {}
    for item in items:
        for text in (item.input, render_target(item.target)):
            flat = " ".join(text.split())
            parts = {flat, *(p.strip() for p in re.split(r"\n+|(?<=[.?!])\s+", text))}
            words = flat.split()
            parts.update(" ".join(words[i : i + shingle]) for i in range(len(words) - shingle + 1))
            for part in parts:
                key = " ".join(part.split()).casefold()
                if len(key) >= MIN_QUOTE:
                    owners.setdefault(key, set()).add(item.id)
    return tuple(sorted(k for k, ids in owners.items() if len(ids) == 1))


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def check_edit(
    edit: Edit,
    skill: Skill,
    *,
    needles: Sequence[str],
    max_tokens: int,
    rejected: Sequence[Edit] = (),
) -> str | None:
    """Why `edit` must be rejected, or None when it may go on. `rejected` holds edits the gate
    already turned down on this very skill: trying one again would only repeat the verdict."""
    content = edit.content.strip()
    if any(similar(edit, r) for r in rejected):
        return "already tried on this skill and rejected by the gate"
    if edit.op in ("add", "replace") and not re.search(r"\w", content):
        return "empty content"
    if content and mentions_any(content, needles, min_len=MIN_QUOTE):
        return "quotes a training or validation item (input or expected answer)"
    if content and mentions_any(content, boilerplate_needles(), min_len=MIN_QUOTE):
        return "repeats the optimizer prompt"
    if content and SCAFFOLDING.search(content):
        return "copies the listing of attempted tasks instead of stating a lesson"
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
    tried: Sequence[Edit] = (),
) -> tuple[list[tuple[int, Edit]], list[Rejection]]:
    """Split (source, edit) pairs into those that pass and those rejected with a reason."""
    kept: list[tuple[int, Edit]] = []
    rejected: list[Rejection] = []
    for source, edit in proposals:
        reason = check_edit(edit, skill, needles=needles, max_tokens=max_tokens, rejected=tried)
        if reason is None:
            kept.append((source, edit))
        else:
            rejected.append(Rejection(edit, reason, source))
    return kept, rejected
