"""Backward pass: the optimizer reads minibatches of failures (and a few successes) and
proposes edits. A minibatch whose reply stays invalid after retries is recorded as failed;
the step goes on with the others.

Two ways to ask (`optimizer.reflection`):

- `diagnose` (default), an abstraction barrier: the optimizer first names the kind of each
  mistake in a few words per minibatch (and what the right answers did that the wrong ones did
  not); then, in one call for the step, it writes rules from those diagnoses alone, with no
  task item in view. A small optimizer shown items writes them back into the skill; one that
  never sees them in the writing call cannot.
- `direct`: one call per minibatch that sees the items and writes edits (the paper's shape).

After the rules, `diagnose` runs the passes declared in `PASSES` (procedure, knowledge,
example: each asked only while the skill lacks its section; the examples of training items,
with no optimizer call, while their section holds fewer than three); their edits lead the
step's in `LEAD_ORDER`. The stages themselves live in skillfit.optim: `diagnosis` (the findings
and their word filters), `procedure`, `example`, `examples`, `knowledge`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from skillfit.models.base import ChatModel, Message
from skillfit.optim.diagnosis import Diagnosis, Findings, item_numbers, particular_words
from skillfit.optim.example import ask_example
from skillfit.optim.examples import TrainExamples, propose_example, tried_items
from skillfit.optim.knowledge import AnswerVocabulary, ask_knowledge, has_knowledge
from skillfit.optim.needles import feedback_needles
from skillfit.optim.optimizer import (
    OptimizerAnswer,
    OptimizerSettings,
    edits_schema,
    example_section,
    parroted,
    per_reply,
    procedure_section,
    rules_schema,
    rules_to_edits,
    to_edits,
)
from skillfit.optim.procedure import (
    ask_procedure,
    question_names,
    shape_questions,
    usable_steps,
)
from skillfit.optim.prompting import (
    clip,
    load_prompt,
    render_examples,
    render_skill,
    render_target,
)
from skillfit.optim.repetition import echoes_prompt
from skillfit.optim.vocabulary import ItemWords
from skillfit.skill import Edit, Skill
from skillfit.tasks.base import Item, Trajectory
from skillfit.train.buffer import render_buffer
from skillfit.train.state import BufferEntry

Example = tuple[Item, Trajectory]


ReflectionMode = Literal["diagnose", "direct"]


@dataclass
class MinibatchProposal:
    index: int
    item_ids: list[str]
    n_failures: int
    messages: list[Message]
    answer: OptimizerAnswer
    edits: list[Edit] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    diagnoses: list[dict[str, Any]] = field(default_factory=list)  # `diagnose` mode only

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
            "diagnoses": self.diagnoses,
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


def memory_parts(meta_skill: str, buffer: Sequence[BufferEntry]) -> list[str]:
    """What the optimizer remembers across steps: the meta-skill notes and rejected edits."""
    parts = []
    if meta_skill.strip():
        parts.append(f"# Notes from earlier epochs\n{meta_skill.strip()}")
    if buffer:
        parts.append(f"# Edits already tried and rejected\n{render_buffer(buffer)}")
    return parts


def summary_parts(batch: Sequence[Example]) -> list[str]:
    """A short answered-vs-expected list and the feedback shared by several failures: small
    models see a pattern better in a short list next to the tasks than among their details."""
    parts = []
    wrong = [
        f'- answered "{clip(tr.answer, 60)}", expected "{clip(render_target(it.target), 60)}"'
        for it, tr in batch
        if tr.score is not None and not tr.score.hard
    ]
    if wrong:
        parts.append("# In short\n" + "\n".join(wrong))
    common = common_feedback(batch)
    if common:
        parts.append("# What the feedback says most often\n" + "\n".join(common))
    return parts


def reflection_messages(
    skill: Skill,
    batch: Sequence[Example],
    *,
    max_edits: int,
    buffer: Sequence[BufferEntry],
    meta_skill: str,
) -> list[Message]:
    parts = [f"# The guide\n{render_skill(skill)}", *memory_parts(meta_skill, buffer)]
    parts.append(f"# Tasks\n{render_examples(batch)}")
    parts += summary_parts(batch)
    k = per_reply(max_edits)
    parts.append(
        f"Propose at most {k} {'edit' if k == 1 else 'different edits'}. Reply with JSON only."
    )
    return [
        {"role": "system", "content": load_prompt("reflect")},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def diagnosis_messages(skill: Skill, batch: Sequence[Example]) -> list[Message]:
    """Stage one of `diagnose`: the items in view, only kinds of mistakes asked for."""
    parts = [f"# The guide\n{render_skill(skill)}", f"# Tasks\n{render_examples(batch)}"]
    parts += summary_parts(batch)
    n_wrong = sum(1 for _, tr in batch if tr.score is not None and not tr.score.hard)
    parts.append(
        f"Name the kind of mistake in each of the {n_wrong} wrong answers. Reply with JSON only."
    )
    return [
        {"role": "system", "content": load_prompt("diagnose")},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def rules_messages(
    skill: Skill,
    findings: Findings,
    *,
    max_edits: int,
    buffer: Sequence[BufferEntry],
    meta_skill: str,
    context: str = "",
) -> list[Message]:
    """Stage two of `diagnose`: rules from the diagnoses alone, no item in view."""
    parts = [f"# The guide\n{render_skill(skill)}"]
    if context.strip():
        parts.append(context.strip())
    parts.append(findings.render())
    parts += memory_parts(meta_skill, buffer)
    k = per_reply(max_edits)
    parts.append(
        f"Write {'one rule' if k == 1 else f'at most {k} rules, one per frequent mistake'}. "
        "Reply with JSON only."
    )
    return [
        {"role": "system", "content": load_prompt("rules")},
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
    mode: ReflectionMode = "diagnose",
    needles: Sequence[str] = (),
    context: str = "",
    words: ItemWords | None = None,
    examples_check: TrainExamples | None = None,
    answers: AnswerVocabulary | None = None,
) -> list[MinibatchProposal]:
    """Edits proposed for `skill` from `examples` (see the module docstring for the modes).

    `direct`: one proposal per minibatch, in minibatch order. `diagnose`: one proposal for the
    step, whose `diagnoses` keep every stage-one reply and every pass's; diagnoses quoting an
    item of `needles` are dropped before the rules are asked for. `context` (e.g. the skill's
    earlier version at an epoch end) is shown to the rules call. `words` (vocabulary.item_words)
    refuse procedure steps naming an item's particulars. `examples_check` (optim.examples)
    lets the example pass solve a training item the target got right; `answers` is the task's
    answer vocabulary, which the knowledge pass may state."""
    batches = make_minibatches(examples, minibatch_size)
    if not batches:
        return []
    asker = _EditAsker(optimizer, skill, max_edits, settings)
    run = map_fn if map_fn is not None else (lambda fn, xs: [fn(x) for x in xs])
    if mode == "direct":

        def one(indexed: tuple[int, list[Example]]) -> MinibatchProposal:
            index, batch = indexed
            messages = reflection_messages(
                skill, batch, max_edits=max_edits, buffer=buffer, meta_skill=meta_skill
            )
            answer, edits, invalid = asker.ask(messages)
            return MinibatchProposal(
                index=index,
                item_ids=[it.id for it, _ in batch],
                n_failures=_failures(batch),
                messages=messages,
                answer=answer,
                edits=edits,
                invalid=invalid,
            )

        return list(run(one, list(enumerate(batches))))
    correct = [(it, tr) for it, tr in examples if tr.ok and tr.score and tr.score.hard == 1]
    extra = _Extra(correct, examples_check, answers or AnswerVocabulary())
    if examples_check is not None:
        extra = replace(
            extra,
            feedback=feedback_needles(tr for _, tr in examples),
            tried_examples=tried_items([b.edit for b in buffer]),
        )
    return [
        _diagnose(
            asker,
            batches,
            run,
            buffer,
            meta_skill,
            needles=needles,
            context=context,
            words=words,
            extra=extra,
        )
    ]


@dataclass(frozen=True)
class _Extra:
    """What the passes see beyond the minibatches: every rollout of the step the target got
    right, the check of worked examples, the task's answer vocabulary; with the check, the
    feedback of the step's rollouts (no example may copy it) and the items whose examples the
    gate has turned down (tried after the others)."""

    correct: list[Example] = field(default_factory=list)
    examples_check: TrainExamples | None = None
    answers: AnswerVocabulary = field(default_factory=AnswerVocabulary)
    feedback: Sequence[str] = ()
    tried_examples: frozenset[str] = frozenset()


def _failures(batch: Sequence[Example]) -> int:
    return sum(1 for _, tr in batch if tr.score is not None and tr.score.hard == 0)


@dataclass
class _EditAsker:
    """One optimizer call for edits (`direct`) or rules (`diagnose`) on `skill`."""

    optimizer: ChatModel
    skill: Skill
    max_edits: int
    settings: OptimizerSettings

    def ask(
        self, messages: list[Message], as_rules: bool = False
    ) -> tuple[OptimizerAnswer, list[Edit], list[Any]]:
        ids = self.skill.section_ids
        schema = (
            rules_schema(ids, self.max_edits) if as_rules else edits_schema(ids, self.max_edits)
        )
        answer = self.settings.ask(self.optimizer, messages, schema, parroted)
        if not answer.ok:
            return answer, [], []
        edits, invalid = rules_to_edits(answer.parsed) if as_rules else to_edits(answer.parsed)
        if as_rules:
            kept = [e for e in edits if not echoes_prompt(e.content or "")]
            invalid += [
                {"edit": e.model_dump(mode="json"), "reason": "copies the prompt's example"}
                for e in edits
                if e not in kept
            ]
            edits = kept
        return answer, edits, invalid


def _diagnose(
    asker: _EditAsker,
    batches: list[list[Example]],
    run: Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]],
    buffer: Sequence[BufferEntry],
    meta_skill: str,
    *,
    needles: Sequence[str],
    context: str,
    words: ItemWords | None,
    extra: _Extra | None = None,
) -> MinibatchProposal:
    """`diagnose`: stage one per minibatch, then the rules from the pooled findings alone, then
    the passes (`PASSES`), whose edits lead the step's in `LEAD_ORDER`."""
    optimizer, skill, settings = asker.optimizer, asker.skill, asker.settings

    def diagnose(batch: list[Example]) -> tuple[list[Message], OptimizerAnswer]:
        messages = diagnosis_messages(skill, batch)
        return messages, settings.ask(optimizer, messages, Diagnosis)

    findings = Findings()
    records: list[dict[str, Any]] = []
    for batch, (messages, answer) in zip(batches, run(diagnose, batches), strict=True):
        if answer.ok:
            findings.add(
                answer.parsed,
                needles,
                # Diagnoses repeating the feedback stay: "The answer should be yes or no" is
                # the lesson on a task answered in sentences (dropping it lost web_of_lies its
                # only gain); the guard keeps the feedback's words out of the rules.
                echo=f"{load_prompt('diagnose')}\n{skill.text}",
                # Numbers of the answers shown count too: "the result of 110 was not used" is
                # about one reply, and led to a step about "the earnings for the evening".
                particular=item_numbers(
                    [f"{it.input}\n{tr.answer}\n{it.target}" for it, tr in batch]
                ),
                words=words,
            )
        records.append(
            {
                "item_ids": [it.id for it, _ in batch],
                "messages": messages,
                "optimizer": answer.to_dict(),
            }
        )
    all_examples = [e for b in batches for e in b]
    messages = rules_messages(
        skill,
        findings,
        max_edits=asker.max_edits,
        buffer=buffer,
        meta_skill=meta_skill,
        context=context,
    )
    if not findings.mistakes and not findings.contrasts:
        # Nothing survived stage one: asking for rules from nothing invites invention.
        answer, edits, invalid = OptimizerAnswer(), list[Edit](), list[Any]()
    else:
        answer, edits, invalid = asker.ask(messages, as_rules=True)
    # The working steps and the example need only what the task asks and its questions'
    # shape: a step whose mistakes all named an item's particulars still gets them.
    if findings.task or findings.mistakes or findings.contrasts:
        step = PassInput(
            optimizer, skill, findings, settings, all_examples, needles, words, extra or _Extra()
        )
        made: dict[str, Edit] = {}
        for name, run_pass in PASSES:
            outcome = run_pass(step, made)
            if outcome is None:
                continue
            record, edit = outcome
            records.append(record)
            if edit is not None:
                made[name] = edit
        lead = [made[name] for name in LEAD_ORDER if name in made]
        if lead:
            edits = [*lead, *edits][: max(1, asker.max_edits)]
    if findings.dropped:
        records.append({"dropped_for_quoting_an_item": findings.dropped})
    return MinibatchProposal(
        index=0,
        item_ids=list(dict.fromkeys(it.id for it, _ in all_examples)),
        n_failures=sum(_failures(b) for b in batches),
        messages=messages,
        answer=answer,
        edits=edits,
        invalid=invalid,
        diagnoses=records,
    )


# ---- the passes after the rules: each adds one section the skill lacks ------------------------


@dataclass(frozen=True)
class PassInput:
    """What every pass of a `diagnose` step sees (never an item's answer or the skill's rules)."""

    optimizer: ChatModel
    skill: Skill
    findings: Findings
    settings: OptimizerSettings
    examples: list[Example]  # the step's items, for the shape of their questions
    needles: Sequence[str]
    words: ItemWords | None
    extra: _Extra = field(default_factory=_Extra)

    @property
    def sections(self) -> list[tuple[str, str]]:
        return [(sec.id, sec.body) for sec in self.skill.sections]


# (the step, the edits earlier passes made by name) -> None when the pass does not apply, else
# (its record for proposals.json, its edit or None when refused)
ReflectionPass = Callable[
    [PassInput, Mapping[str, Edit]], tuple[dict[str, Any], Edit | None] | None
]


def procedure_pass(step: PassInput, made: Mapping[str, Edit]) -> Any:
    """While the skill has no procedure: the working steps (optimizer.procedure, on by default)."""
    if not step.settings.procedure or procedure_section(step.sections) is not None:
        return None
    procedure = ask_procedure(
        step.optimizer,
        step.findings,
        step.settings,
        questions=shape_questions(step.examples),
        needles=step.needles,
        words=step.words,
        seen=[it.input for it, _ in step.examples],
    )
    # Refused steps stay with the procedure's record: they are not edits, so they never reach
    # the rejected-edit buffer.
    record = {
        "procedure": procedure.answer.to_dict(),
        "messages": procedure.messages,
        "refused_steps": procedure.invalid,
    }
    return record, procedure.edit


def knowledge_pass(step: PassInput, made: Mapping[str, Edit]) -> Any:
    """While the skill states no facts of the subject: the facts (optimizer.knowledge)."""
    if not step.settings.knowledge or has_knowledge(step.skill.section_ids):
        return None
    shown = shape_questions(step.examples)
    answers = step.extra.answers
    # The task's answer labels are its vocabulary, a fact may name them; another answer of an
    # item the step saw is that item's, and no fact for every question holds it.
    particular = particular_words([*shown, *(it.input for it, _ in step.examples)], step.words)
    particular = (particular | answers.particular_answers(it for it, _ in step.examples)) - (
        answers.tokens
    )
    names = frozenset(n for n in question_names(shown) if n.casefold() not in answers.tokens)
    knowledge = ask_knowledge(
        step.optimizer,
        step.findings.render(),
        step.findings.task,
        step.settings,
        lambda facts: usable_steps(
            facts,
            needles=step.needles,
            words=step.words,
            names=names,
            particular=particular,
        ),
        questions=shown,
        labels=answers.labels if answers.listed else (),
    )
    record = {
        "knowledge": knowledge.answer.to_dict(),
        "messages": knowledge.messages,
        "refused_facts": knowledge.invalid,
    }
    return record, knowledge.edit


def example_pass(step: PassInput, made: Mapping[str, Edit]) -> Any:
    """While the skill has no worked example: one, following the skill's working steps (or
    the procedure this step made) (optimizer.example)."""
    sections = step.sections
    if not step.settings.example or example_section(sections) is not None:
        return None
    held = procedure_section(sections)
    steps = next((body for sid, body in sections if sid == held), "") if held else ""
    if not steps and "procedure" in made:
        steps = made["procedure"].content or ""
    example = ask_example(
        step.optimizer,
        step.findings,
        step.settings,
        questions=shape_questions(step.examples),
        steps=steps,
        needles=step.needles,
        words=step.words,
    )
    return {"example": example.answer.to_dict(), "messages": example.messages}, example.edit


def train_example_pass(step: PassInput, made: Mapping[str, Edit]) -> Any:
    """A training item the target got right in this step, solved as the target's reply solved
    it, for the `## Examples` section (optimizer.examples: train), while the section holds
    fewer than three. No optimizer call (see optim.examples.propose_example)."""
    check = step.extra.examples_check
    if step.settings.examples != "train" or check is None:
        return None
    proposal = propose_example(
        step.skill,
        step.extra.correct,
        check,
        tried=step.extra.tried_examples,
        feedback=step.extra.feedback,
    )
    if proposal is None:
        return None
    return {"train_example": proposal.record}, proposal.edit


# The passes in the order they run (each is asked only while the skill lacks its section; the
# examples of training items while the section holds fewer than three)...
PASSES: tuple[tuple[str, ReflectionPass], ...] = (
    ("procedure", procedure_pass),
    ("knowledge", knowledge_pass),
    ("example", example_pass),
    ("train_example", train_example_pass),
)
# ... and the order their edits lead the step's, before the rules: the procedure, the examples
# that illustrate it, the facts.
LEAD_ORDER = ("procedure", "example", "train_example", "knowledge")
