"""Auditing a trained skill as a user would read it, and the benchmark suite's own outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skillfit.app.audit import audit_text, repeated_lines
from skillfit.tasks.base import Item

ITEMS = [
    Item("a", "Question: Sherrie tells the truth. Does Vernell tell the truth?", "No"),
    Item("b", "Question: Kandi lies. Does Conception tell the truth?", "Yes"),
]
SUITE = Path(__file__).resolve().parent.parent / "bench" / "suite"


def test_a_clean_skill_passes() -> None:
    skill = (
        "# Truth chains\n\n## Method\n- Start from the person whose honesty is given.\n"
        "- For each next statement, flip the value if the speaker lies.\n"
        "- Answer Yes or No on the final line."
    )
    assert audit_text(skill, items=ITEMS) == []


@pytest.mark.parametrize(
    ("skill", "problem"),
    [
        ("## Example\nSherrie tells the truth. Does Vernell tell the truth?", "quotes a task item"),
        ("## Note\nThe reply hit the 64-token limit and was cut off.", "copies scorer feedback"),
        ("## Note\nFormat: no 'Answer:' line found; took the last line.", "copies scorer feedback"),
        ("- Work through each step.\n- Work through each step.", "repeats a line"),
    ],
)
def test_copied_or_repeated_text_is_named(skill: str, problem: str) -> None:
    assert any(problem in p for p in audit_text(skill, items=ITEMS))


def test_feedback_seen_in_the_run_is_caught_verbatim() -> None:
    feedback = ["The answer should name one option in parentheses."]
    skill = "## Format\nThe answer should name one option in parentheses."
    assert audit_text(skill, items=ITEMS, feedback=feedback)


def test_repeated_lines_ignore_list_marks_case_and_short_lines() -> None:
    text = "- Check the units.\n2. check the UNITS\nYes\nYes\n## Method\n## Method"
    assert repeated_lines(text) == ["2. check the UNITS"]


# Written before the audit looked for an item's particulars; the audit now finds them ("the
# order of hummingbird and cardinal"). Strict: the suite's rerun must make this test pass.
KNOWN_DEFECTS: set[str] = set()


def _suite_runs() -> list[Any]:
    if not SUITE.is_dir():
        return []
    return [
        pytest.param(
            name,
            marks=pytest.mark.xfail(strict=True, reason="meta-skill names an item's particulars"),
        )
        if name in KNOWN_DEFECTS
        else name
        for name in sorted(p.name for p in SUITE.iterdir())
    ]


def test_a_note_naming_two_particulars_of_one_item_is_caught() -> None:
    items = [
        Item(id=f"i{n}", input=f"A {a} sits left of a {b}. Which is leftmost?", target="(A)")
        for n, (a, b) in enumerate(
            [("hummingbird", "cardinal"), ("robin", "crow"), ("owl", "quail"), ("heron", "swan")]
            + [("kite", "wren")] * 40
        )
    ]
    note = "- Added rules on the order of hummingbird and cardinal."
    assert any("particulars" in p for p in audit_text(note, items=items, what="meta-skill"))
    assert audit_text("- Rules on the order of objects helped.", items=items) == []


@pytest.mark.skipif(not SUITE.is_dir(), reason="bench/suite.py has not been run")
@pytest.mark.parametrize("run", _suite_runs())
def test_the_benchmark_suites_trained_skills_are_clean(run: str) -> None:
    from skillfit.api import build_task
    from skillfit.train.config import validate_config

    folder = SUITE / run
    cfg = validate_config(json.loads((folder / "config.json").read_text()))
    task = build_task(cfg)
    splits = task.splits()
    items = [*splits["train"], *splits["val"], *splits["test"]]
    common = f"{task.initial_skill}\n{getattr(task, 'instructions', '')}"
    for name in ("best_skill.md", "meta_skill.md"):
        path = folder / name
        if path.is_file():
            problems = audit_text(
                path.read_text(),
                items=items,
                what=f"{run}/{name}",
                common=common,
                train=splits["train"],
                for_target=name == "best_skill.md",
            )
            assert problems == []


def test_two_rules_sharing_a_long_run_of_words_count_as_repeated() -> None:
    text = (
        "Before the answer line, write `Answer: <yes>` or `Answer: <no>`, giving the answer.\n"
        "Before the answer line, write `Answer: <yes>` or `Answer: <no>`, check the answer."
    )
    assert len(repeated_lines(text)) == 1


def test_a_step_extending_the_optimizer_prompts_example_is_named() -> None:
    items = [Item(id=f"i{n}", input=f"(({n} + 3) * 2) =", target=str(2 * n + 6)) for n in range(9)]
    skill = "## Working steps\n1. Write each amount times that factor for the first question."
    problems = audit_text(skill, items=items)
    assert any("copies the optimizer's prompt" in p for p in problems)


# The best skill of a real main-job run (bbh/web_of_lies, seed 0), working steps shortened.
RESTATING = """# Reasoning puzzle skill

## Answer format

Finish with one line `Answer: <answer>`, giving the answer in the form the question asks for.

## Write the answer in the correct format

Before the answer line, write the answer in the format specified by the question (e.g., yes or no, the correct number, etc.).

## Correct yes/no answer format

Before the answer line, write the answer as yes or no (yes or no).

## Check the answer format

Ensure the answer is in the correct format (yes or no).

## Review the answer

After the answer line, review the model's answer and check it against the correct answer.
"""


def test_talk_of_grading_is_named_and_rules_restating_a_section_are_not() -> None:
    problems = audit_text(RESTATING, items=ITEMS)
    assert problems == ['skill talks of grading the answer: "the model\'s answer"']
    # The meta-skill is the optimizer's: it may speak of the answers it was graded against.
    notes = (
        "## Notes\n- Rules that check the model's answer against the correct answer did not help."
    )
    assert audit_text(notes, items=ITEMS, what="meta-skill", for_target=False) == []


def test_a_quote_foreign_to_the_task_is_named() -> None:
    skill = '## Working steps\n1. Write the question: "What is the capital of France?".'
    assert audit_text(skill, items=ITEMS) == [
        "skill quotes text foreign to the task: 'What is the capital of France?'"
    ]
    assert (
        audit_text('## Claims\nWrite each claim as "Sherrie tells the truth".', items=ITEMS) == []
    )
