"""The example pass: one made-up question of the task's kind, solved line by line after the
skill's working steps; refused when it quotes or names an item (`example_problem`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skillfit.models.base import ChatModel, Message
from skillfit.optim.diagnosis import Findings, holds_particular, particular_words
from skillfit.optim.needles import MIN_QUOTE
from skillfit.optim.optimizer import (
    RATIONALE_CHARS,
    OptimizerAnswer,
    OptimizerSettings,
    WorkedExample,
    example_text,
)
from skillfit.optim.procedure import _NAME, question_names
from skillfit.optim.prompting import (
    boilerplate_needles,
    load_prompt,
)
from skillfit.optim.repetition import echoes_prompt
from skillfit.optim.vocabulary import ItemWords, names_an_item
from skillfit.skill import Edit, mentions_any


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
