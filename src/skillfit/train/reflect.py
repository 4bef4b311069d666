"""Backward pass: the optimizer reads minibatches of failures (and a few successes) and
proposes edits. A minibatch whose reply stays invalid after retries is recorded as failed;
the step goes on with the others."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillfit.models.base import ChatModel, Message
from skillfit.skill import Edit, Skill
from skillfit.tasks.base import Item, Trajectory
from skillfit.train.buffer import render_buffer
from skillfit.train.optimizer import (
    OptimizerAnswer,
    ask,
    edits_schema,
    parroted,
    per_reply,
    to_edits,
)
from skillfit.train.prompting import clip, load_prompt, render_examples, render_skill, render_target
from skillfit.train.state import BufferEntry

Example = tuple[Item, Trajectory]


@dataclass(frozen=True)
class OptimizerSettings:
    max_tokens: int = 1024
    temperature: float = 0.0
    retries: int = 2


@dataclass
class MinibatchProposal:
    index: int
    item_ids: list[str]
    n_failures: int
    messages: list[Message]
    answer: OptimizerAnswer
    edits: list[Edit] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.answer.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "ok": self.ok,
            "item_ids": self.item_ids,
            "n_failures": self.n_failures,
            "analysis": getattr(self.answer.parsed, "analysis", None),
            "edits": [e.model_dump(mode="json") for e in self.edits],
            "invalid_edits": self.invalid,
            "messages": self.messages,
            "optimizer": self.answer.to_dict(),
        }


def make_minibatches(examples: Sequence[Example], size: int) -> list[list[Example]]:
    """Minibatches built around the failures, each with a few successes for contrast.

    With no failures there is nothing to fix, so no minibatch. Finished rollouts only: an
    infra error says nothing about the skill."""
    done = [(it, tr) for it, tr in examples if tr.ok and tr.score is not None]
    failures = [e for e in done if e[1].score.hard == 0]  # type: ignore[union-attr]
    successes = [e for e in done if e[1].score.hard == 1]  # type: ignore[union-attr]
    if not failures:
        return []
    size = max(1, size)
    n_success = min(len(successes), size // 4)
    per_batch = max(1, size - n_success)
    n_batches = math.ceil(len(failures) / per_batch)
    batches = []
    for b in range(n_batches):
        batch = failures[b * per_batch : (b + 1) * per_batch]
        for j in range(n_success):
            batch.append(successes[(b * n_success + j) % len(successes)])
        batches.append(batch)
    return batches


def common_feedback(batch: Sequence[Example], top: int = 3) -> list[str]:
    """The feedback sentences shared by two or more of the batch's failures, most frequent
    first. Sentences quoting an item's own answer (they contain quotes) are left out: what
    recurs across items is the lesson, which a small optimizer misses among the details."""
    counts: Counter[str] = Counter()
    for _, tr in batch:
        if tr.score is None or tr.score.hard:
            continue
        sentences = re.split(r"(?<=[.!?])\s+", tr.score.feedback.strip())
        # A verdict word ("Wrong.") is no lesson; a quoted answer is specific to its item.
        counts.update({s for s in sentences if len(s.split()) >= 3 and not re.search(r"['\"]", s)})
    return [f"- ({n} tasks) {s}" for s, n in counts.most_common(top) if n >= 2]


def reflection_messages(
    skill: Skill,
    batch: Sequence[Example],
    *,
    max_edits: int,
    buffer: Sequence[BufferEntry],
    meta_skill: str,
) -> list[Message]:
    parts = [f"# The guide\n{render_skill(skill)}"]
    if meta_skill.strip():
        parts.append(f"# Notes from earlier epochs\n{meta_skill.strip()}")
    if buffer:
        parts.append(f"# Edits already tried and rejected\n{render_buffer(buffer)}")
    parts.append(f"# Tasks\n{render_examples(batch)}")
    wrong = [
        f'- answered "{clip(tr.answer, 60)}", expected "{clip(render_target(it.target), 60)}"'
        for it, tr in batch
        if tr.score is not None and not tr.score.hard
    ]
    if wrong:
        # Small models see a pattern better in a short list next to the question.
        parts.append("# In short\n" + "\n".join(wrong))
    common = common_feedback(batch)
    if common:
        parts.append("# What the feedback says most often\n" + "\n".join(common))
    k = per_reply(max_edits)
    parts.append(
        f"Propose at most {k} {'edit' if k == 1 else 'different edits'}. Reply with JSON only."
    )
    return [
        {"role": "system", "content": load_prompt("reflect")},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def reflect(
    optimizer: ChatModel,
    skill: Skill,
    examples: Sequence[Example],
    *,
    minibatch_size: int,
    max_edits: int,
    buffer: Sequence[BufferEntry],
    meta_skill: str,
    settings: OptimizerSettings,
    map_fn: Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]] | None = None,
) -> list[MinibatchProposal]:
    """One optimizer call per minibatch (concurrently through `map_fn`), in minibatch order."""
    batches = make_minibatches(examples, minibatch_size)
    schema = edits_schema(skill.section_ids, max_edits)

    def one(indexed: tuple[int, list[Example]]) -> MinibatchProposal:
        index, batch = indexed
        messages = reflection_messages(
            skill, batch, max_edits=max_edits, buffer=buffer, meta_skill=meta_skill
        )
        answer = ask(
            optimizer,
            messages,
            schema,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            retries=settings.retries,
            check=parroted,
        )
        edits, invalid = to_edits(answer.parsed) if answer.ok else ([], [])
        return MinibatchProposal(
            index=index,
            item_ids=[it.id for it, _ in batch],
            n_failures=sum(1 for _, tr in batch if tr.score is not None and tr.score.hard == 0),
            messages=messages,
            answer=answer,
            edits=edits,
            invalid=invalid,
        )

    jobs = list(enumerate(batches))
    return map_fn(one, jobs) if map_fn is not None else [one(j) for j in jobs]
