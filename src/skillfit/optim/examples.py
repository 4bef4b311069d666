"""Worked examples from the training data (`optimizer.examples: train`): what makes one
acceptable (`TrainExamples`, the guard's check) and the pass that proposes one
(`propose_example`).

An example is one training item the target answered right in the step, solved as the target
solved it: its input, the lines the target's own reply wrote before its answer line (cut at a
whole line to WORKING_CHARS), and the item's gold answer, in the skill's `## Examples`
section (see optim.marked). No optimizer call: the step's correct replies are the material,
and the choice among them is a rule (`solved_candidates`). The guard lets a marked example
through only when its id is a training item (never a validation or test item), its question
is that item's input, its answer that item's gold answer and the task's own scorer accepts
the reply; its working may copy no feedback and quote no other item; the section holds at
most MAX_EXAMPLES. Anything else quoting an item is refused as before. The gate decides, as
for every edit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillfit.optim.marked import (
    EXAMPLES_HEADING,
    EXAMPLES_SECTION,
    MAX_EXAMPLES,
    MarkedExample,
    example_block,
    examples_section,
    flat,
    gold_answer,
    item_question,
    markable,
    parse_examples,
    skill_examples,
)
from skillfit.optim.needles import FEEDBACK_LABELS, MIN_QUOTE, feedback_sentences, leak_needles
from skillfit.optim.repetition import line_key
from skillfit.skill import Edit, Skill, mentions_any
from skillfit.tasks.base import Item, Score, Trajectory
from skillfit.tasks.scoring import extract_answer

Accepts = Callable[[Item, str], bool]
# The working an example keeps of a reply, in characters: whole lines from its start up to
# this many (an example costs its length in every rollout; three of them, with their
# questions, stay near 700 tokens).
WORKING_CHARS = 600
_FIXED_FEEDBACK = feedback_sentences(())


def scorer_accepts(score: Callable[[Item, str], tuple[str, Score]]) -> Accepts:
    """An `Accepts` from a task's `score(item, reply)`: solved means a hard score of 1."""

    def accepts(item: Item, reply: str) -> bool:
        return score(item, reply)[1].hard == 1

    return accepts


@dataclass
class TrainExamples:
    """The guard's check of worked examples (optim.marked.ExampleCheck) for one run: `train`
    is the training split, `accepts` the task's scorer, `needles` the item text no example's
    working may quote (needles.leak_needles of the items the guard knows)."""

    train: Sequence[Item]
    accepts: Accepts
    needles: Sequence[str] = ()
    _by_id: dict[str, Item] = field(init=False, repr=False)
    _verdicts: dict[tuple[str, str], bool] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {item.id: item for item in self.train}

    def item(self, item_id: str) -> Item | None:
        return self._by_id.get(item_id)

    def solved(self, item: Item, reply: str) -> bool:
        """Whether the task's scorer accepts `reply` for `item` (asked once per reply)."""
        key = (item.id, reply)
        if key not in self._verdicts:
            self._verdicts[key] = bool(self.accepts(item, reply))
        return self._verdicts[key]

    def example_problem(self, example: MarkedExample, feedback: Sequence[str] = ()) -> str | None:
        """Why one marked example may not be in a skill, or None."""
        item = self.item(example.item_id)
        if item is None:
            return f"an example must be a training item ({example.item_id!r} is not one)"
        if not markable(item.id, item.input):
            return "this training item cannot be written as an example"
        if example.question != item_question(item.input):
            return "an example's question must be its training item's input, word for word"
        if example.answer != gold_answer(item.target):
            return "an example's answer must be its training item's gold answer"
        working = "\n".join(example.working)
        if FEEDBACK_LABELS.search(working) or mentions_any(
            working, (*_FIXED_FEEDBACK, *feedback), min_len=MIN_QUOTE
        ):
            return "an example's working copies the scorer's feedback"
        own = set(leak_needles([item]))
        if mentions_any(working, [n for n in self.needles if n not in own], min_len=MIN_QUOTE):
            return "an example's working quotes another item"
        if not self.solved(item, example.reply):
            return "the task's scorer does not accept the example's answer"
        return None

    def problem(self, edit: Edit, skill: Skill, feedback: Sequence[str] = ()) -> str | None:
        """Why `edit` may not change the skill's examples as it does, or None: the section
        holds at most MAX_EXAMPLES, each of a different item, none outside it, and every
        example the edit writes or changes passes `example_problem`."""
        result = skill.apply([edit])
        if not result.applied:
            return None  # the pipeline reports an edit that cannot apply
        candidate = result.skill
        marked = parse_examples(candidate.text)
        if not marked:
            return None
        if len(skill_examples(candidate)) != len(marked):
            return f"a marked example outside the ## {EXAMPLES_HEADING} section"
        if len(marked) > MAX_EXAMPLES:
            return f"more than {MAX_EXAMPLES} examples"
        if len({m.item_id for m in marked}) < len(marked):
            return "the same training item twice as an example"
        for example in marked:
            if example.text not in skill.text:  # new or changed: judged now
                problem = self.example_problem(example, feedback)
                if problem:
                    return problem
        return None


# ---- the pass --------------------------------------------------------------------------------


def final_reply(traj: Trajectory) -> str:
    """The target's last reply in a rollout (the text its answer was read from in a chat
    rollout); empty when it wrote none."""
    for message in reversed(traj.messages):
        if message.get("role") == "assistant" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


@dataclass(frozen=True)
class Working:
    """The lines of a reply before its answer line, cut at a whole line to WORKING_CHARS."""

    lines: tuple[str, ...]
    cut: bool  # lines of the working were left out to stay within the limit


def reply_working(reply: str, limit: int = WORKING_CHARS) -> Working | str:
    """The working of `reply`: its non-empty lines before its answer line (the last line the
    task's `Answer:` convention reads an answer from), whitespace collapsed, kept from the
    first while they fit in `limit` characters. A reply it cannot use gives why instead."""
    lines = reply.split("\n")
    at = next(
        (
            i
            for i in range(len(lines) - 1, -1, -1)
            if extract_answer(lines[i]).method == "answer_line"
        ),
        None,
    )
    if at is None:
        return "no answer line"
    before = [flat(line) for line in lines[:at] if line.strip()]
    if not before:
        return "no working before the answer line"
    kept: list[str] = []
    size = 0
    for line in before:
        size += len(line) + (1 if kept else 0)
        if size > limit:
            break
        kept.append(line)
    if not kept:
        return f"its first line of working is longer than {limit} characters"
    return Working(tuple(kept), cut=len(kept) < len(before))


@dataclass(frozen=True)
class Solved:
    """A rollout of the step that can become an example, as the block it would be."""

    item: Item
    sample: int
    working: Working
    block: str
    tried: bool  # an example of this item is in the rejected-edit buffer

    def key(self) -> tuple[bool, bool, int, str, int]:
        return (self.tried, self.working.cut, len(self.block), self.item.id, self.sample)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item.id,
            "sample": self.sample,
            "lines": len(self.working.lines),
            "cut": self.working.cut,
            "tried_before": self.tried,
        }


def copied_lines(working: Sequence[str], held: Sequence[MarkedExample]) -> bool:
    """Whether most of `working` (more than half of its lines of three words or more) repeats
    the working of examples the skill holds: a target that copied a held example's working
    (a 0.5B does, name for name) shows nothing the section does not already show."""
    mine = [k for k in (line_key(w) for w in working) if len(k.split()) >= 3]
    theirs = {line_key(w) for h in held for w in h.working}
    return bool(mine) and 2 * sum(k in theirs for k in mine) > len(mine)


def _solved(
    item: Item,
    traj: Trajectory,
    check: TrainExamples,
    held: Sequence[MarkedExample],
    feedback: Sequence[str],
) -> tuple[Working, str] | str:
    """The working and block a correct rollout gives as an example, or why it gives none."""
    if not markable(item.id, item.input):
        return "this training item cannot be written as an example"
    working = reply_working(final_reply(traj))
    if isinstance(working, str):
        return working
    if not markable(item.id, "\n".join(working.lines)):
        return "its working holds a heading, fence, comment or Reply:/Answer: line"
    if copied_lines(working.lines, held):
        return "its working copies a held example's"
    block = example_block(item.id, item.input, working.lines, gold_answer(item.target))
    (example,) = parse_examples(block)
    return check.example_problem(example, feedback) or (working, block)


def solved_candidates(
    correct: Sequence[tuple[Item, Trajectory]],
    check: TrainExamples,
    held: Sequence[MarkedExample] = (),
    *,
    tried: Collection[str] = (),
    feedback: Sequence[str] = (),
) -> tuple[list[Solved], list[dict[str, str]]]:
    """The step's rollouts the target got right that can become examples, best first, and
    why each other was passed over. A candidate is a training item not `held` already whose
    reply has working before its answer line (`reply_working`), not mostly copied from a held
    example (`copied_lines`), and whose block passes the guard's check
    (`TrainExamples.example_problem`). Best is: an item the gate has not turned down an
    example of (`tried`) before one it has, whole working before cut working, then the
    shortest block (an example costs its length in every rollout), then by id."""
    found: list[Solved] = []
    passed: list[dict[str, str]] = []
    held_ids = {h.item_id for h in held}
    for item, traj in correct:
        if traj.score is None or traj.score.hard != 1 or traj.error is not None:
            continue
        if item.id in held_ids or check.item(item.id) is None:
            continue
        solved = _solved(item, traj, check, held, feedback)
        if isinstance(solved, str):
            passed.append({"item": item.id, "sample": str(traj.sample), "why": solved})
        else:
            found.append(Solved(item, traj.sample, *solved, tried=item.id in tried))
    found.sort(key=Solved.key)
    return found, passed


@dataclass
class ExampleProposal:
    record: dict[str, Any]
    edit: Edit | None = None


def tried_items(edits: Sequence[dict[str, Any]]) -> frozenset[str]:
    """The items of the marked examples in `edits` (the rejected-edit buffer's)."""
    return frozenset(m.item_id for e in edits for m in parse_examples(str(e.get("content") or "")))


def propose_example(
    skill: Skill,
    correct: Sequence[tuple[Item, Trajectory]],
    check: TrainExamples,
    *,
    tried: Collection[str] = (),
    feedback: Sequence[str] = (),
) -> ExampleProposal | None:
    """One training item the target got right in the step, solved as its reply solved it, as
    an edit adding it to the `## Examples` section (or adding the section); None while the
    section is full (the examples it holds each passed the gate, and nothing in a step tells
    which of them is the worse). The best of `solved_candidates`; the record says which was
    chosen and why the others were passed over."""
    held = skill_examples(skill)
    if len(held) >= MAX_EXAMPLES:
        return None
    found, passed = solved_candidates(correct, check, held, tried=tried, feedback=feedback)
    record: dict[str, Any] = {
        "chosen": found[0].to_dict() if found else None,
        "candidates": len(found),
        "passed_over": passed,
    }
    proposal = ExampleProposal(record=record)
    if not found:
        return proposal
    best = found[0]
    rationale = f"a training item the target solved in this step ({best.item.id})"
    if held or EXAMPLES_SECTION in skill.section_ids:
        proposal.edit = Edit(
            op="add", section=EXAMPLES_SECTION, content=best.block, rationale=rationale
        )
    else:
        proposal.edit = Edit(op="add", content=examples_section([best.block]), rationale=rationale)
    return proposal
