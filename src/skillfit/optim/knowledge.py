"""The knowledge pass: the facts of the subject a solver applies, stated once in the skill.

Rules written from diagnoses alone stay vague ("use the correct logical operator"); the
optimizer often knows the fact behind such a mistake (the order adjectives go in, which
operator binds first) and is asked for it directly, from what the questions ask, the mistakes
and the shape of two questions. Each fact must pass the same filters as a procedure step: no
item text, no particular of a diagnosed item, nothing about the model or its answers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from skillfit.models.base import ChatModel, Message
from skillfit.optim.marked import gold_answer
from skillfit.optim.optimizer import RATIONALE_CHARS, OptimizerSettings, SectionProposal
from skillfit.optim.prompting import load_prompt
from skillfit.skill import Edit, slugify
from skillfit.tasks.base import Item

KNOWLEDGE_HEADING = "What to know"
FACT_CHARS, MAX_FACTS = 200, 4

# (raw facts) -> (usable facts, refused facts with why)
FactFilter = Callable[[Sequence[str]], tuple[list[str], list[dict[str, Any]]]]


class Knowledge(BaseModel):
    """The reply of the knowledge pass."""

    facts: list[Annotated[str, Field(min_length=10, max_length=FACT_CHARS)]] = Field(
        ..., min_length=1, max_length=MAX_FACTS
    )


def knowledge_text(facts: Sequence[str]) -> str:
    """A knowledge section: the heading, then one fact per bullet."""
    lines = [f"## {KNOWLEDGE_HEADING}"]
    lines += [f"- {' '.join(f.split()).rstrip('.')}." for f in facts]
    return "\n".join(lines)


def has_knowledge(section_ids: Sequence[str]) -> bool:
    """Whether a skill with these section ids already states the facts (see `knowledge_text`)."""
    return slugify(KNOWLEDGE_HEADING) in section_ids


# The words and numbers a particular-word filter looks at (see diagnosis.holds_particular).
_TOKEN = re.compile(r"[a-z]{4,}|\d[\d,.]*\d")
MAX_LABELS = 20


@dataclass(frozen=True)
class AnswerVocabulary:
    """The task's answer vocabulary: gold answers that recur across two or more training items
    (labels, codes, option forms), commonest first. They are the task's, not an item's: a fact
    may name them. `listed` says whether they look like a label set worth showing the
    optimizer (they answer at least half of the training items and are few)."""

    labels: tuple[str, ...] = ()
    listed: bool = False

    @property
    def tokens(self) -> frozenset[str]:
        return frozenset(t for label in self.labels for t in _TOKEN.findall(label.casefold()))

    def particular_answers(self, items: Iterable[Item]) -> frozenset[str]:
        """The words and numbers of these items' gold answers that are no label: one item's
        answer ("4172"), which a fact for every question never holds."""
        found = {t for it in items for t in _TOKEN.findall(gold_answer(it.target).casefold())}
        return frozenset(found - self.tokens)


def answer_vocabulary(train: Sequence[Item]) -> AnswerVocabulary:
    """The gold answers given by two or more of the `train` items (see AnswerVocabulary)."""
    counts = Counter(gold_answer(it.target) for it in train if it.target is not None)
    labels = tuple(a for a, n in counts.most_common() if n >= 2 and a)
    covered = sum(counts[a] for a in labels)
    listed = bool(labels) and len(labels) <= MAX_LABELS and 2 * covered >= len(train)
    return AnswerVocabulary(labels=labels, listed=listed)


def knowledge_messages(
    findings: str, questions: Sequence[str] = (), labels: Sequence[str] = ()
) -> list[Message]:
    """What the questions ask and the mistakes (`findings`, rendered), two questions for
    their shape and the task's answer labels when it has a small set (`labels`, see
    AnswerVocabulary); no item's answer, reply or feedback in view."""
    parts = [findings]
    if questions:
        shown = "\n\n".join(f"Question {i}:\n{q}" for i, q in enumerate(questions, 1))
        parts.append(f"# Two of the questions, for their shape only\n{shown}")
    if labels:
        parts.append(
            "# The answers this task takes\nEach is the answer of several questions; a fact may "
            "say what each one means or when it applies: " + ", ".join(labels)
        )
    parts.append("Write the facts. Reply with JSON only.")
    return [
        {"role": "system", "content": load_prompt("knowledge")},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


KnowledgeProposal = SectionProposal


def ask_knowledge(
    optimizer: ChatModel,
    findings: str,
    task: str,
    settings: OptimizerSettings,
    usable: FactFilter,
    *,
    questions: Sequence[str] = (),
    labels: Sequence[str] = (),
) -> KnowledgeProposal:
    """A knowledge section from `findings`, the shape of `questions` and the task's answer
    `labels`; facts `usable` refuses are dropped, and a reply with none left is asked for
    again with another sample."""
    messages = knowledge_messages(findings, questions, labels)

    def none_usable(reply: Knowledge) -> str | None:
        kept, refused = usable(reply.facts)
        if kept:
            return None
        return "no usable fact (" + "; ".join(sorted({r["reason"] for r in refused})) + ")"

    answer = settings.ask(optimizer, messages, Knowledge, none_usable)
    proposal = KnowledgeProposal(messages=messages, answer=answer)
    if answer.ok:
        facts, proposal.invalid = usable(answer.parsed.facts)
        proposal.edit = Edit(
            op="add",
            content=knowledge_text(facts),
            rationale=f"what a solver must know: {task}"[:RATIONALE_CHARS],
        )
    return proposal
