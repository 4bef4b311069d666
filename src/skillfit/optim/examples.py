"""Worked examples from the training data (`optimizer.examples: train`): what makes one
acceptable (`TrainExamples`, the guard's check) and the pass that proposes one (`ask_example`).

An example is one training item the target answered right in the step, solved: its input, a
few lines of working the optimizer writes, and the item's gold answer, in the skill's
`## Examples` section (see optim.marked). The guard lets a marked example through only when
its id is a training item (never a validation or test item), its question is that item's
input, its answer that item's gold answer and the task's own scorer accepts the reply; its
working may copy no feedback and quote no other item; the section holds at most
MAX_EXAMPLES. Anything else quoting an item is refused as before. The gate decides, as for
every edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from skillfit.models.base import ChatModel, Message
from skillfit.optim.guard import FEEDBACK_LABELS, MIN_QUOTE, feedback_sentences, leak_needles
from skillfit.optim.marked import (
    EXAMPLES_HEADING,
    EXAMPLES_SECTION,
    MARKER,
    MAX_EXAMPLES,
    MarkedExample,
    example_block,
    examples_section,
    flat,
    gold_answer,
    markable,
    parse_examples,
    skill_examples,
)
from skillfit.optim.optimizer import (
    EXAMPLE_LINES,
    RATIONALE_CHARS,
    STEP_CHARS,
    OptimizerAnswer,
    OptimizerSettings,
)
from skillfit.optim.prompting import clip, load_prompt
from skillfit.skill import Edit, Skill, mentions_any
from skillfit.tasks.base import Item, Score, Trajectory

Accepts = Callable[[Item, str], bool]
CANDIDATES_SHOWN = 3
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
    working may quote (guard.leak_needles of the items the guard knows)."""

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
        if example.question != flat(item.input):
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


def choice_schema(candidates: Sequence[str], held: Sequence[str]) -> type[BaseModel]:
    """The reply of the pass: which candidate, its working, and which held example it takes
    the place of (ids are enums, so decoding cannot name another item)."""
    held_type: Any = Literal[tuple(held)] | None if held else None
    item_type: Any = Literal[tuple(candidates)]
    return create_model(
        "ExampleChoice",
        item=(item_type, ...),
        working=(
            list[Annotated[str, Field(min_length=1, max_length=STEP_CHARS)]],
            Field(..., min_length=1, max_length=EXAMPLE_LINES),
        ),
        replaces=(held_type, None),
    )


def candidates(
    correct: Sequence[tuple[Item, Trajectory]], check: TrainExamples, held: Sequence[str]
) -> list[tuple[Item, Trajectory]]:
    """The step's rollouts the target got right whose items can become examples: training
    items not held already, shortest first (an example costs its length in every rollout)."""
    seen: set[str] = set(held)
    out = []
    for item, traj in sorted(correct, key=lambda e: (len(e[0].input), e[0].id)):
        if item.id in seen or check.item(item.id) is None or not markable(item.id, item.input):
            continue
        if traj.score is None or traj.score.hard != 1:
            continue
        seen.add(item.id)
        out.append((item, traj))
    return out[:CANDIDATES_SHOWN]


def example_messages(
    task: str,
    shown: Sequence[tuple[Item, Trajectory]],
    held: Sequence[MarkedExample],
    steps: str = "",
) -> list[Message]:
    parts = [f"# What the task asks\n{task or '(not described)'}"]
    if steps.strip():
        parts.append(f"# The working steps the example's lines follow\n{steps.strip()}")
    if held:
        listed = "\n\n".join(f"[{h.item_id}]\nQuestion: {clip(h.question, 300)}" for h in held)
        full = " (it is full)" if len(held) >= MAX_EXAMPLES else ""
        parts.append(f"# Examples the guide holds{full}\n{listed}")
    listed = "\n\n".join(
        f"[{item.id}]\nQuestion:\n{clip(item.input, 700)}\nModel reply:\n"
        f"{clip(traj.answer, 500)}\nKnown answer: {gold_answer(item.target)}"
        for item, traj in shown
    )
    parts.append(f"# Questions the model answered right\n{listed}")
    parts.append("Choose one and write its working. Reply with JSON only.")
    return [
        {"role": "system", "content": load_prompt("train_example")},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


@dataclass
class ExampleProposal:
    messages: list[Message]
    answer: OptimizerAnswer
    edit: Edit | None = None


def ask_example(
    optimizer: ChatModel,
    skill: Skill,
    correct: Sequence[tuple[Item, Trajectory]],
    check: TrainExamples,
    settings: OptimizerSettings,
    *,
    task: str = "",
    steps: str = "",
) -> ExampleProposal | None:
    """One training item the target got right, solved, as an edit of the `## Examples` section
    (a new section, an added example, or one taking a held example's place); None when no
    rollout of the step can be one. A reply the guard's check refuses is asked for again."""
    held = skill_examples(skill)
    shown = candidates(correct, check, [h.item_id for h in held])
    if not shown:
        return None
    messages = example_messages(task, shown, held, steps)
    schema = choice_schema([it.id for it, _ in shown], [h.item_id for h in held])
    by_id = {it.id: it for it, _ in shown}

    def working(reply: Any) -> list[str]:
        # The answer line is the item's own, added after the working; a marker would start
        # another example.
        lines = [flat(w) for w in reply.working if w.strip() and not MARKER.search(w)]
        return [w for w in lines if not w.startswith("Answer:")]

    def block(reply: Any) -> str:
        item = by_id[reply.item]
        return example_block(item.id, item.input, working(reply), gold_answer(item.target))

    def refuse(reply: Any) -> str | None:
        if not working(reply):
            return "no working besides the answer line"
        (example,) = parse_examples(block(reply))
        return check.example_problem(example)

    answer = settings.ask(optimizer, messages, schema, refuse)
    proposal = ExampleProposal(messages=messages, answer=answer)
    if not answer.ok:
        return proposal
    reply = answer.parsed
    text = block(reply)
    rationale = f"a solved training item ({reply.item}): {task}"[:RATIONALE_CHARS]
    if reply.replaces:
        old = next(h for h in held if h.item_id == reply.replaces)
        proposal.edit = Edit(
            op="replace",
            section=EXAMPLES_SECTION,
            anchor=old.text,
            content=text,
            rationale=rationale,
        )
    elif len(held) >= MAX_EXAMPLES:
        return proposal  # full, and the optimizer keeps the examples it has
    elif held or EXAMPLES_SECTION in skill.section_ids:
        proposal.edit = Edit(op="add", section=EXAMPLES_SECTION, content=text, rationale=rationale)
    else:
        proposal.edit = Edit(op="add", content=examples_section([text]), rationale=rationale)
    return proposal
