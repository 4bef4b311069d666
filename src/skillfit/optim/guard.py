"""The guard: edits that must never reach a candidate skill, whatever the gate would say.

- empty edits and edits that repeat the optimizer's own prompt or copy its listing of
  attempted tasks (a small model parrots both);
- edits quoting a training or validation item's input or expected answer (that is memorising
  the data, and the val gate would reward it for the wrong reason);
- edits copying the scorer's feedback ("The reply hit the 64-token limit and was cut off.",
  "Expected: 'No'. Given: 'Yes'.") instead of drawing a lesson from it;
- edits that talk about the skill document ("Follow the guide", "before adding a new
  section...", "(val score change +0.00)") instead of the task;
- edits that repeat a line: the same line twice in the edit, or a line (or a reordering of
  its words) already in the skill;
- edits talking of grading the answer ("check it against the correct answer", "the model's
  answer", "the expected answer"): the target never sees the answer it is graded against;
- edits quoting text foreign to the task: a quoted span ("What is the capital of France?")
  of at least FOREIGN_WORDS content words none of which the task's own text uses (a small
  optimizer makes up an off-task example and the steps copy it);
- edits that would push the skill past its token budget.

The families of checks live beside this module: `needles` (item text, planted instructions,
the scorer's feedback, the prompt's task listing), `meta_text`, `vocabulary` (an item's
particulars, the prompt's example topic, foreign quotes), `repetition` and `grading`. This
module runs them on each proposed edit, in order, and keeps the higher-ranked of two
candidates that repeat each other (`drop_overlaps`).

The feedback check needs the feedback the optimizer saw; the caller passes it as needles::

    fb = feedback_needles(trajectories)  # optim.needles; the rollouts shown to the optimizer
    kept, rejected = guard(proposals, skill, needles=..., max_tokens=..., feedback=fb)

Without `feedback` only the fixed scorer and harness phrases are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skillfit.optim.grading import grading_talk
from skillfit.optim.marked import MARKER, ExampleCheck, without_examples
from skillfit.optim.merge import Candidate, similar
from skillfit.optim.meta_text import META_TEXT
from skillfit.optim.needles import FEEDBACK_LABELS, FIXED_FEEDBACK, MIN_QUOTE, SCAFFOLDING
from skillfit.optim.prompting import boilerplate_needles
from skillfit.optim.repetition import line_key, overlapping, repeats_itself, repeats_skill
from skillfit.optim.vocabulary import (
    ItemWords,
    borrows_example_topic,
    names_an_item,
    quotes_foreign,
)
from skillfit.skill import Edit, Skill, mentions_any


@dataclass(frozen=True)
class Rejection:
    edit: Edit | dict[str, Any]  # a dict when the proposal was not even a valid Edit
    reason: str
    source: int = -1  # the minibatch that proposed it

    def to_dict(self) -> dict[str, Any]:
        edit = self.edit.model_dump(mode="json") if isinstance(self.edit, Edit) else self.edit
        return {"edit": edit, "reason": self.reason, "source": self.source}


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _fresh(content: str, skill: Skill) -> str:
    """The lines of `content` that are not already lines of `skill` (a replace may keep
    some of the old text: that text was judged when it came in)."""
    old = {line_key(line) for line in skill.text.splitlines()}
    return "\n".join(line for line in content.splitlines() if line_key(line) not in old)


def check_edit(
    edit: Edit,
    skill: Skill,
    *,
    needles: Sequence[str],
    max_tokens: int,
    rejected: Sequence[Edit] = (),
    feedback: Sequence[str] = (),
    words: ItemWords | None = None,
    examples: ExampleCheck | None = None,
) -> str | None:
    """Why `edit` must be rejected, or None when it may go on. `rejected` holds edits the gate
    already turned down on this very skill: trying one again would only repeat the verdict.
    `feedback` holds the feedback_needles of the rollouts the optimizer saw. `examples`
    (optim.examples, when the run takes worked examples of training items) judges the marked
    examples an edit writes or changes; the rest of the edit is checked as any other, and
    without it a marked example is item text like any other."""
    if any(similar(edit, r) for r in rejected):
        return "already tried on this skill and rejected by the gate"
    if examples is not None and (MARKER.search(edit.content) or MARKER.search(skill.text)):
        problem = examples.problem(edit, skill, feedback)
        if problem:
            return problem
        if MARKER.search(edit.content):
            rest = without_examples(edit.content)
            if any(not line.lstrip().startswith("#") for line in rest.splitlines() if line.strip()):
                problem = _check_content(
                    edit.model_copy(update={"content": rest}),
                    skill,
                    needles=needles,
                    max_tokens=max_tokens,
                    feedback=feedback,
                    words=words,
                )
                if problem:
                    return problem
            return _too_big(edit, skill, max_tokens)
    return _check_content(
        edit, skill, needles=needles, max_tokens=max_tokens, feedback=feedback, words=words
    )


def _too_big(edit: Edit, skill: Skill, max_tokens: int) -> str | None:
    result = skill.apply([edit])
    if result.applied and result.skill.n_tokens() > max_tokens:
        return f"would grow the skill to {result.skill.n_tokens()} tokens (limit {max_tokens})"
    return None


def _check_content(
    edit: Edit,
    skill: Skill,
    *,
    needles: Sequence[str],
    max_tokens: int,
    feedback: Sequence[str],
    words: ItemWords | None,
) -> str | None:
    content = edit.content.strip()
    if edit.op in ("add", "replace") and not re.search(r"\w", content):
        return "empty content"
    if content and mentions_any(content, needles, min_len=MIN_QUOTE):
        return "quotes a training or validation item (input or expected answer)"
    if edit.op != "delete" and words and names_an_item(_fresh(content, skill), words):
        return "names the particulars of a training or validation item"
    if content and mentions_any(content, boilerplate_needles(), min_len=MIN_QUOTE):
        return "repeats the optimizer prompt"
    if edit.op != "delete" and borrows_example_topic(_fresh(content, skill), words):
        return "writes about the optimizer prompt's example topic, not the task"
    foreign = quotes_foreign(_fresh(content, skill), words) if edit.op != "delete" else None
    if foreign:
        return f"quotes text foreign to the task: {_clip(foreign)!r}"
    if content and SCAFFOLDING.search(content):
        return "copies the listing of attempted tasks instead of stating a lesson"
    fresh = _fresh(content, skill) if edit.op != "delete" else ""
    if fresh and (
        FEEDBACK_LABELS.search(fresh)
        or mentions_any(fresh, (*FIXED_FEEDBACK, *feedback), min_len=MIN_QUOTE)
    ):
        return "copies the scorer's feedback"
    if fresh and META_TEXT.search(fresh):
        return "talks about the skill document instead of the task"
    graded = grading_talk(fresh, words.vocabulary if words else ()) if fresh else None
    if graded:
        return f"talks of grading the answer, which the target never sees: {_clip(graded)!r}"
    if edit.op in ("add", "replace") and all(
        line.lstrip().startswith("#") for line in content.splitlines() if line.strip()
    ):
        return "a heading with no rule under it"
    if edit.op == "add" and content and _norm(content) in _norm(skill.text):
        return "already in the skill"
    if edit.op != "delete" and repeats_itself(content):
        return "repeats a line within the edit"
    if edit.op != "delete":
        result = skill.apply([edit])
        if result.applied and repeats_skill(edit, result.skill):
            return "repeats a line already in the skill"
        return _too_big(edit, skill, max_tokens)
    return None


def guard(
    proposals: Sequence[tuple[int, Edit]],
    skill: Skill,
    *,
    needles: Sequence[str],
    max_tokens: int,
    tried: Sequence[Edit] = (),
    feedback: Sequence[str] = (),
    words: ItemWords | None = None,
    examples: ExampleCheck | None = None,
) -> tuple[list[tuple[int, Edit]], list[Rejection]]:
    """Split (source, edit) pairs into those that pass and those rejected with a reason.
    `feedback`: feedback_needles(...) of the rollouts the optimizer saw (see check_edit)."""
    kept: list[tuple[int, Edit]] = []
    rejected: list[Rejection] = []
    for source, edit in proposals:
        reason = check_edit(
            edit,
            skill,
            needles=needles,
            max_tokens=max_tokens,
            rejected=tried,
            feedback=feedback,
            words=words,
            examples=examples,
        )
        if reason is None:
            kept.append((source, edit))
        else:
            rejected.append(Rejection(edit, reason, source))
    return kept, rejected


def _ruled_text(edit: Edit) -> str:
    """The text of `edit` that states rules: its marked examples of training items left out.
    An example is item text on purpose, and its working may well follow the procedure of the
    same step: that is no rule written twice."""
    content = edit.content or ""
    return without_examples(content) if MARKER.search(content) else content


def drop_overlaps(ranked: Sequence[Candidate]) -> tuple[list[Candidate], list[Rejection]]:
    """Keep the higher-ranked of two candidates whose texts repeat each other: applied
    together they would put the same rule in the skill twice. Marked examples are compared
    without their examples (`_ruled_text`)."""
    kept: list[Candidate] = []
    dropped: list[Rejection] = []
    for cand in ranked:
        if any(overlapping(_ruled_text(cand.edit), _ruled_text(k.edit)) for k in kept):
            source = cand.sources[0] if cand.sources else -1
            dropped.append(Rejection(cand.edit, "repeats a higher-ranked edit", source))
        else:
            kept.append(cand)
    return kept, dropped
