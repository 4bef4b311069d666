"""The procedure pass: the working steps a solver writes before the answer, asked from the
step's diagnoses and the shape of two of its questions, each step refused when it names an
item's particulars (`usable_steps`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from skillfit.models.base import ChatModel, Message
from skillfit.optim.diagnosis import Findings, holds_particular, particular_words
from skillfit.optim.grading import grading_talk
from skillfit.optim.needles import MIN_QUOTE
from skillfit.optim.optimizer import (
    MIN_STEPS,
    RATIONALE_CHARS,
    OptimizerAnswer,
    OptimizerSettings,
    Procedure,
    SectionProposal,
    procedure_text,
)
from skillfit.optim.prompting import (
    clip,
    load_prompt,
)
from skillfit.optim.repetition import echoes_prompt, near_duplicate
from skillfit.optim.vocabulary import (
    ItemWords,
    borrows_example_topic,
    names_an_item,
    quotes_foreign,
)
from skillfit.skill import Edit, mentions_any
from skillfit.tasks.base import Item, Trajectory

Example = tuple[Item, Trajectory]

# A small optimizer asked for the target's steps from a list of its mistakes writes its own
# job instead ("Analyze the wrong answers provided", "Identify the mistakes made").
REVIEWER_STEP = re.compile(
    r"\b(?:wrong|right|correct|incorrect|given|expected|provided) answers?\b|\bmistakes?\b"
    r"|\bfeedback\b|\bthe model\b|\bmodel's\b",
    re.IGNORECASE,
)


ProcedureProposal = SectionProposal
FOREIGN_STEP = "quotes text foreign to the task"


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
    example, repeats, steps of reviewing answers (or of grading them, see
    grading.grading_talk), steps quoting text foreign to the task
    (`words`, see vocabulary.quotes_foreign), and steps quoting an item (`needles`), naming
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
        elif REVIEWER_STEP.search(text) or grading_talk(text, words.vocabulary if words else ()):
            refused.append({"step": text, "reason": "a step of reviewing answers"})
        elif quotes_foreign(text, words):
            # A made-up example off the task ("Write the question: \"What is the capital of
            # France?\""): the 1.5B wrote one when asked from the diagnoses alone.
            refused.append({"step": text, "reason": FOREIGN_STEP})
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
        # Only a sample on the task itself: one that copied the prompt's example or made up an
        # off-task one ("What is the capital of France?", then "Write the answer: \"Paris\"")
        # is not, whatever steps of it are left.
        on_task = not any(
            r["reason"].startswith("copies the prompt") or r["reason"] == FOREIGN_STEP
            for r in refused
        )
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
