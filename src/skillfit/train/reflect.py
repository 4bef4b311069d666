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
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from skillfit.models.base import ChatModel, Message
from skillfit.optim.guard import (
    MIN_QUOTE,
    ItemWords,
    borrows_example_topic,
    echoes_prompt,
    names_an_item,
    near_duplicate,
)
from skillfit.optim.knowledge import ask_knowledge, has_knowledge
from skillfit.optim.optimizer import (
    MIN_STEPS,
    RATIONALE_CHARS,
    OptimizerAnswer,
    OptimizerSettings,
    Procedure,
    SectionProposal,
    WorkedExample,
    ask,
    edits_schema,
    example_section,
    example_text,
    parroted,
    per_reply,
    procedure_section,
    procedure_text,
    rules_schema,
    rules_to_edits,
    to_edits,
)
from skillfit.optim.prompting import (
    boilerplate_needles,
    clip,
    load_prompt,
    render_examples,
    render_skill,
    render_target,
)
from skillfit.skill import Edit, Skill, mentions_any
from skillfit.tasks.base import Item, Trajectory
from skillfit.train.buffer import render_buffer
from skillfit.train.state import BufferEntry

Example = tuple[Item, Trajectory]


ReflectionMode = Literal["diagnose", "direct"]

MISTAKE_CHARS = 120
MAX_MISTAKES = 8


class Diagnosis(BaseModel):
    """The first stage of `diagnose`: what went wrong, in words that carry no item."""

    task: str = Field(..., max_length=200)
    mistakes: list[Annotated[str, Field(max_length=MISTAKE_CHARS)]] = Field(
        ..., max_length=MAX_MISTAKES
    )
    contrast: str = Field("", max_length=250)


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


# Numbers of two or more digits ("98", "2,400", "0.50"): one item's quantities.
_NUMBER = re.compile(r"\d[\d,.]*\d")
_LOWER_WORD = re.compile(r"[a-z]{4,}")


def particular_words(texts: Sequence[str], words: ItemWords | None) -> frozenset[str]:
    """What in `texts` (items the optimizer was shown) belongs to those items rather than to
    the task: their uncommon words (see guard.item_words: "park", "ingredient", a name) and
    their numbers of two or more digits. Text the optimizer writes holding one of these
    describes an item it saw, not a kind of task or mistake."""
    found: set[str] = set()
    for text in texts:
        low = text.casefold()
        if words is not None:
            found.update(w for w in _LOWER_WORD.findall(low) if w in words.owners)
        found.update(_NUMBER.findall(low))
    return frozenset(found)


def item_numbers(texts: Sequence[str]) -> frozenset[str]:
    """The numbers of two or more digits in `texts`: in a diagnosis, one item's quantities."""
    return frozenset(n for text in texts for n in _NUMBER.findall(text.casefold()))


def holds_particular(text: str, particular: frozenset[str]) -> bool:
    """Whether `text` holds a word or number of `particular` (see `particular_words`)."""
    if not particular:
        return False
    low = text.casefold()
    return any(t in particular for t in (*_LOWER_WORD.findall(low), *_NUMBER.findall(low)))


# "In the first three tasks, the model ...": one diagnosis retelling a few shown items, not a
# kind of mistake (the rules written from it name those items' particulars: "find the total
# cost, not the total number of servings" came from one GSM8K question about servings).
_POINTS_AT_ITEMS = re.compile(
    r"\b(?:first|second|third|last|one|two|three|four|\d+)\s+(?:\w+\s+)?(?:tasks|questions)\b"
    r"|\b(?:first|second|third|last)\s+(?:task|question)\b",
    re.IGNORECASE,
)
# "The correct answer should be the total cost": what one item's answer is, which the
# diagnosis prompt asks not to write.
_STATES_THE_ANSWER = re.compile(
    r"\b(?:correct|right|expected)\s+(?:answer|result)\s+(?:should|would|is|was|must)\b",
    re.IGNORECASE,
)


@dataclass
class Findings:
    """What the diagnoses of one step say, pooled over minibatches; item quotes dropped."""

    task: str = ""
    mistakes: Counter[str] = field(default_factory=Counter)
    contrasts: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # quoted an item: never shown again

    def add(
        self,
        diagnosis: Diagnosis,
        needles: Sequence[str],
        echo: str = "",
        particular: frozenset[str] = frozenset(),
        words: ItemWords | None = None,
    ) -> None:
        """Pool one diagnosis. Text quoting an item (`needles`), naming an item's particulars
        (`words`, see guard.names_an_item) or holding a number of an item the optimizer was
        shown (`particular`, see `item_numbers`) is dropped and remembered; text found in `echo` (the instructions and the guide the optimizer was
        shown) or about the prompts' example topic (`words`, see guard.borrows_example_topic)
        is dropped too: a small model copies its prompt's examples instead of diagnosing."""
        echoed = " ".join(echo.split()).casefold()

        def clean(text: str) -> str | None:
            text = " ".join(text.split()).strip(" -.")
            if not text:
                return None
            if (
                (needles and mentions_any(text, needles))
                or holds_particular(text, particular)
                or names_an_item(text, words)
            ):
                self.dropped.append(text)
                return None
            if (len(text) >= 12 and text.casefold() in echoed) or borrows_example_topic(
                text, words
            ):
                return None
            if re.search(r"['\"“”‘’]|\btask \d", text, re.IGNORECASE):
                return None  # quotes an answer, or names the listing instead of a mistake
            if _POINTS_AT_ITEMS.search(text) or _STATES_THE_ANSWER.search(text):
                return None
            return text

        task = clean(diagnosis.task)
        if task and not self.task:
            self.task = task
        for mistake in diagnosis.mistakes:
            m = clean(mistake)
            if m:
                self.mistakes[m.casefold()] += 1
        contrast = clean(diagnosis.contrast)
        if contrast and contrast.casefold() not in {c.casefold() for c in self.contrasts}:
            self.contrasts.append(contrast)

    def render(self) -> str:
        lines = [
            f"- {m}" + (f" ({n} times)" if n > 1 else "") for m, n in self.mistakes.most_common()
        ]
        parts = [f"# What the task asks\n{self.task or '(not described)'}"]
        parts.append("# Mistakes the model made\n" + ("\n".join(lines) or "(none named)"))
        if self.contrasts:
            parts.append(
                "# What the right answers did\n" + "\n".join(f"- {c}" for c in self.contrasts)
            )
        return "\n\n".join(parts)


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


# A small optimizer asked for the target's steps from a list of its mistakes writes its own
# job instead ("Analyze the wrong answers provided", "Identify the mistakes made").
REVIEWER_STEP = re.compile(
    r"\b(?:wrong|right|correct|incorrect|given|expected|provided) answers?\b|\bmistakes?\b"
    r"|\bfeedback\b|\bthe model\b|\bmodel's\b",
    re.IGNORECASE,
)


ProcedureProposal = SectionProposal


QUESTIONS_SHOWN, QUESTION_CHARS = 2, 700


def shape_questions(examples: Sequence[Example]) -> list[str]:
    """The shortest distinct questions of the step, clipped: what a person designing the steps
    would read to see the task's shape (diagnoses alone leave a small model guessing it)."""
    # Ties in length go by text: a set's order changes with each process's hash seed, and the
    # prompt must be the same in every run (the response cache, exact resume).
    inputs = sorted(
        {it.input.strip() for it, _ in examples if it.input.strip()}, key=lambda t: (len(t), t)
    )
    return [clip(text, QUESTION_CHARS) for text in inputs[:QUESTIONS_SHOWN]]


def without_example(prompt: str) -> str:
    """`prompt` cut before its example ("This example is about a different task ...")."""
    cut = re.search(r"^This example is about", prompt, re.MULTILINE)
    return prompt[: cut.start()].rstrip() + "\n" if cut else prompt


def procedure_messages(
    findings: Findings, questions: Sequence[str] = (), *, example: bool = True
) -> list[Message]:
    """The procedure pass: working steps from the step's diagnoses and the shape of a few of its
    questions (no answer, reply or guide in view: the guide's wording would be paraphrased
    back). Steps naming a shown question's particulars are refused (`ask_procedure`).
    `example=False` leaves out the prompt's example (the schema still holds each step to a
    "Write ..." line)."""
    parts = [findings.render()]
    if questions:
        shown = "\n\n".join(f"Question {i}:\n{q}" for i, q in enumerate(questions, 1))
        parts.append(
            "# Two of the questions, for their shape only\n"
            "The steps must work for every question of this kind: never copy a name, number "
            f"or phrase from these.\n\n{shown}"
        )
    parts.append(
        'Write the steps a solver of these tasks writes out, each beginning with "Write". '
        "Reply with JSON only."
    )
    return [
        {
            "role": "system",
            "content": load_prompt("procedure")
            if example
            else without_example(load_prompt("procedure")),
        },
        {"role": "user", "content": "\n\n".join(parts)},
    ]


# A step for every question never points at one shown question or works one item's numbers
# ("for question 1", "7 * 8 = 56"): the 1.5B wrote both into an arithmetic task's steps.
ONE_QUESTION = re.compile(
    r"\b(?:question|task|item|example)\s*#?\d|\d\s*[-+*/×÷=]\s*-?\d"
    # "in the first question": the procedure prompt shows two, labelled Question 1 and 2.
    r"|\b(?:first|second|third|last|other|1st|2nd|3rd)\s+(?:question|task|item|example)s?\b",
    re.IGNORECASE,
)
# A capitalized word that does not begin the text or a sentence: in a question, a name.
_NAME = re.compile(r"(?<![.?!:] )(?<!^)\b[A-Z][a-z]+\b")


def question_names(questions: Sequence[str]) -> frozenset[str]:
    """Capitalized words of the shown questions that the procedure prompt does not use:
    names ("Sal", "Fidel"), which a step for every question of the kind never needs."""
    own = set(re.findall(r"[A-Za-z]+", load_prompt("procedure")))
    return frozenset(
        w for q in questions for w in _NAME.findall(q) if w not in own and w != "Question"
    )


def usable_steps(
    raw: Sequence[str],
    *,
    needles: Sequence[str] = (),
    words: ItemWords | None = None,
    names: frozenset[str] = frozenset(),
    particular: frozenset[str] = frozenset(),
) -> tuple[list[str], list[dict[str, Any]]]:
    """The steps a procedure may hold, and the refused ones with why: copies of the prompt's own
    example, repeats, steps of reviewing answers, and steps quoting an item (`needles`), naming
    an item's particulars (`words`), a name from a shown question (`names`) or an uncommon word
    or number of a shown question (`particular`, see `particular_words`)."""
    steps: list[str] = []
    refused: list[dict[str, Any]] = []
    for step in raw:
        text = " ".join(str(step).split())
        if (
            echoes_prompt(text)
            or borrows_example_topic(text, words)
            or any(near_duplicate(text, other) for other in steps)
        ):
            refused.append({"step": text, "reason": "copies the prompt or repeats a step"})
        elif REVIEWER_STEP.search(text):
            refused.append({"step": text, "reason": "a step of reviewing answers"})
        elif (
            mentions_any(text, needles, min_len=MIN_QUOTE)
            or names_an_item(text, words)
            or names.intersection(_NAME.findall(text))
            or ONE_QUESTION.search(text)
            or holds_particular(text, particular)
        ):
            refused.append({"step": text, "reason": "names an item's particulars"})
        else:
            steps.append(text)
    return steps, refused


def ask_procedure(
    optimizer: ChatModel,
    findings: Findings,
    settings: OptimizerSettings,
    *,
    questions: Sequence[str] = (),
    needles: Sequence[str] = (),
    words: ItemWords | None = None,
    seen: Sequence[str] = (),
) -> ProcedureProposal:
    """A procedure section proposed from `findings` and the shape of `questions`. A reply with
    fewer than two usable steps (see `usable_steps`) is asked for again with another sample: a
    small optimizer sometimes hands back the prompt's own example (scaling recipes, for an
    arithmetic task) or a shown question, and another sample often does not. When no sample
    gives two, the steps are asked for once more from the diagnoses alone; when that fails too,
    the sample with the most usable steps gives them, if it has one. `seen`: the inputs
    of every item the step diagnosed; a step holding one of their particulars (see
    `particular_words`) came through a diagnosis, and is refused like one from a question."""
    messages = procedure_messages(findings, questions)
    names = question_names(questions)
    particular = particular_words([*questions, *seen], words)

    def usable(raw: Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
        return usable_steps(raw, needles=needles, words=words, names=names, particular=particular)

    # The most usable steps any sample gave, with the refused ones: the fallback's fallback.
    best: list[tuple[list[str], list[dict[str, Any]]]] = []

    def too_few(reply: Procedure) -> str | None:
        steps, refused = usable(reply.steps)
        if len(steps) >= MIN_STEPS:
            return None
        # Only a sample on the task itself: one that copied the prompt's example is not.
        on_task = not any(r["reason"].startswith("copies the prompt") for r in refused)
        if steps and on_task and (not best or len(steps) > len(best[0][0])):
            best[:] = [(steps, refused)]
        reasons = "; ".join(sorted({r["reason"] for r in refused}))
        return f"fewer than {MIN_STEPS} usable steps ({reasons})"

    def ask_with(shown: list[Message]) -> OptimizerAnswer:
        return settings.ask(optimizer, shown, Procedure, too_few)

    answer = ask_with(messages)
    if not answer.ok and questions:
        # The 1.5B can fixate on a shown question and work it out in every sample ("Write the
        # area of the park"). Asked from the diagnoses alone, with no example either (with only
        # the prompt's recipe example in view it wrote recipe-scaling steps every time).
        earlier = answer.attempts
        messages = procedure_messages(findings, (), example=False)
        answer = ask_with(messages)
        answer.attempts = [*earlier, *answer.attempts]
    proposal = ProcedureProposal(messages=messages, answer=answer)
    if answer.ok:
        steps, proposal.invalid = usable(answer.parsed.steps)
    elif best:
        # Every sample named some item's particulars, but one usable step is still a
        # procedure: the scaffold around it makes the target write its working (on GSM8K the
        # only general step left, "Write the list of quantities given", came with one naming
        # "the earnings for the evening"; refusing both lost the step its procedure).
        steps, proposal.invalid = best[0]
    else:
        return proposal
    proposal.edit = Edit(
        op="add",
        content=procedure_text(steps),
        rationale=f"the lines to write before the answer: {findings.task}"[:RATIONALE_CHARS],
    )
    return proposal


@dataclass
class ExampleProposal:
    messages: list[Message]
    answer: OptimizerAnswer
    edit: Edit | None = None


def example_messages(
    findings: Findings, questions: Sequence[str] = (), steps: str = ""
) -> list[Message]:
    """The example pass: one made-up question of the task's kind, solved, from the step's
    diagnoses, the shape of a few of its questions and the skill's working steps (no answer,
    reply or feedback in view)."""
    parts = [findings.render()]
    if questions:
        shown = "\n\n".join(f"Question {i}:\n{q}" for i, q in enumerate(questions, 1))
        parts.append(
            "# Two of the questions, for their shape only\n"
            "Make up a new question: never copy a name, number or sentence from these.\n\n"
            f"{shown}"
        )
    if steps.strip():
        parts.append(f"# The working steps the example's lines follow\n{steps.strip()}")
    parts.append("Write the worked example. Reply with JSON only.")
    return [
        {"role": "system", "content": load_prompt("example")},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def example_problem(
    example: WorkedExample,
    *,
    needles: Sequence[str] = (),
    words: ItemWords | None = None,
    names: frozenset[str] = frozenset(),
    particular: frozenset[str] = frozenset(),
) -> str | None:
    """Why a worked example may not go into the skill, or None: it must be made up, so it
    quotes no item (`needles`), names no item's particulars (`words`), no name, uncommon word
    or number of a shown question (`names`, `particular`), and it does not copy the prompt's
    own example."""
    text = "\n".join([example.question, *example.working, example.answer])
    if echoes_prompt(text) or mentions_any(
        text, boilerplate_needles(("example",)), min_len=MIN_QUOTE
    ):
        return "copies the prompt's example"
    if mentions_any(text, needles, min_len=MIN_QUOTE):
        return "quotes an item"
    if (
        names_an_item(text, words)
        or names.intersection(_NAME.findall(example.question))
        or holds_particular(text, particular)
    ):
        return "names an item's particulars"
    return None


def ask_example(
    optimizer: ChatModel,
    findings: Findings,
    settings: OptimizerSettings,
    *,
    questions: Sequence[str] = (),
    steps: str = "",
    needles: Sequence[str] = (),
    words: ItemWords | None = None,
) -> ExampleProposal:
    """A worked-example section made up from `findings` and the shape of `questions` (see
    `example_problem` for what is refused; a refused reply is asked for again with another
    sample)."""
    messages = example_messages(findings, questions, steps)
    names = question_names(questions)
    particular = particular_words(questions, words)

    def refuse(reply: WorkedExample) -> str | None:
        return example_problem(
            reply, needles=needles, words=words, names=names, particular=particular
        )

    answer = settings.ask(optimizer, messages, WorkedExample, refuse)
    proposal = ExampleProposal(messages=messages, answer=answer)
    if answer.ok:
        proposal.edit = Edit(
            op="add",
            content=example_text(answer.parsed),
            rationale=f"a worked example: {findings.task}"[:RATIONALE_CHARS],
        )
    return proposal


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
) -> list[MinibatchProposal]:
    """Edits proposed for `skill` from `examples` (see the module docstring for the modes).

    `direct`: one proposal per minibatch, in minibatch order. `diagnose`: one proposal for the
    step, whose `diagnoses` keep every stage-one reply; diagnoses quoting an item of `needles`
    are dropped before the rules are asked for. `context` (e.g. the skill's earlier version at
    an epoch end) is shown to the rules call. `words` (guard.item_words) refuse procedure
    steps naming an item's particulars."""
    batches = make_minibatches(examples, minibatch_size)
    if not batches:
        return []
    schema = edits_schema(skill.section_ids, max_edits)
    run = map_fn if map_fn is not None else (lambda fn, xs: [fn(x) for x in xs])

    def ask_edits(
        messages: list[Message], as_rules: bool = False
    ) -> tuple[OptimizerAnswer, list[Edit], list[Any]]:
        answer = ask(
            optimizer,
            messages,
            rules_schema(skill.section_ids, max_edits) if as_rules else schema,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            retries=settings.retries,
            check=parroted,
        )
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

    def failures(batch: Sequence[Example]) -> int:
        return sum(1 for _, tr in batch if tr.score is not None and tr.score.hard == 0)

    if mode == "direct":

        def one(indexed: tuple[int, list[Example]]) -> MinibatchProposal:
            index, batch = indexed
            messages = reflection_messages(
                skill, batch, max_edits=max_edits, buffer=buffer, meta_skill=meta_skill
            )
            answer, edits, invalid = ask_edits(messages)
            return MinibatchProposal(
                index=index,
                item_ids=[it.id for it, _ in batch],
                n_failures=failures(batch),
                messages=messages,
                answer=answer,
                edits=edits,
                invalid=invalid,
            )

        return list(run(one, list(enumerate(batches))))

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
        max_edits=max_edits,
        buffer=buffer,
        meta_skill=meta_skill,
        context=context,
    )
    if not findings.mistakes and not findings.contrasts:
        # Nothing survived stage one: asking for rules from nothing invites invention.
        answer, edits, invalid = OptimizerAnswer(), list[Edit](), list[Any]()
    else:
        answer, edits, invalid = ask_edits(messages, as_rules=True)
    # The working steps and the example need only what the task asks and its questions'
    # shape: a step whose mistakes all named an item's particulars still gets them.
    if findings.task or findings.mistakes or findings.contrasts:
        if (
            settings.procedure
            and procedure_section([(sec.id, sec.body) for sec in skill.sections]) is None
        ):
            procedure = ask_procedure(
                optimizer,
                findings,
                settings,
                questions=shape_questions(all_examples),
                needles=needles,
                words=words,
                seen=[it.input for it, _ in all_examples],
            )
            # Refused steps stay with the procedure's record: they are not edits, so they
            # never reach the rejected-edit buffer.
            records.append(
                {
                    "procedure": procedure.answer.to_dict(),
                    "messages": procedure.messages,
                    "refused_steps": procedure.invalid,
                }
            )
            if procedure.edit is not None:
                # The procedure is the step's first edit; the rules fill the rest of the budget.
                edits = [procedure.edit, *edits][: max(1, max_edits)]
        if settings.knowledge and not has_knowledge(skill.section_ids):
            shown = shape_questions(all_examples)
            particular = particular_words([*shown, *(it.input for it, _ in all_examples)], words)
            knowledge = ask_knowledge(
                optimizer,
                findings.render(),
                findings.task,
                settings,
                lambda facts: usable_steps(
                    facts,
                    needles=needles,
                    words=words,
                    names=question_names(shown),
                    particular=particular,
                ),
                questions=shown,
            )
            records.append(
                {
                    "knowledge": knowledge.answer.to_dict(),
                    "messages": knowledge.messages,
                    "refused_facts": knowledge.invalid,
                }
            )
            if knowledge.edit is not None:
                # After the procedure, before the rules.
                lead = 1 if edits and procedure_section([("new", edits[0].content or "")]) else 0
                edits = [*edits[:lead], knowledge.edit, *edits[lead:]][: max(1, max_edits)]
        sections = [(sec.id, sec.body) for sec in skill.sections]
        if settings.example and example_section(sections) is None:
            held = procedure_section(sections)
            steps = next((body for sid, body in sections if sid == held), "") if held else ""
            if not steps and edits and procedure_section([("new", edits[0].content or "")]):
                steps = edits[0].content or ""
            example = ask_example(
                optimizer,
                findings,
                settings,
                questions=shape_questions(all_examples),
                steps=steps,
                needles=needles,
                words=words,
            )
            records.append({"example": example.answer.to_dict(), "messages": example.messages})
            if example.edit is not None:
                # After the procedure (which it illustrates), before the rules.
                lead = 1 if steps and edits and edits[0].content == steps else 0
                edits = [*edits[:lead], example.edit, *edits[lead:]][: max(1, max_edits)]
    if findings.dropped:
        records.append({"dropped_for_quoting_an_item": findings.dropped})
    return [
        MinibatchProposal(
            index=0,
            item_ids=list(dict.fromkeys(it.id for it, _ in all_examples)),
            n_failures=sum(failures(b) for b in batches),
            messages=messages,
            answer=answer,
            edits=edits,
            invalid=invalid,
            diagnoses=records,
        )
    ]
