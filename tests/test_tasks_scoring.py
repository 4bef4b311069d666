"""Answer extraction, normalization, matching and optimizer-facing feedback."""

import pytest

from skillfit.tasks.scoring import (
    answer_letter,
    binary_score,
    exact_match,
    extract_answer,
    normalize,
    numeric_match,
    parse_number,
    parse_options,
    token_f1,
)


@pytest.mark.parametrize(
    ("reply", "answer", "method"),
    [
        ("Let me think.\nAnswer: (B)", "(B)", "answer_line"),
        ("Answer: first\nreconsidering...\nAnswer: second", "second", "answer_line"),
        ("**Answer:** True", "True", "answer_line"),
        ("Final answer: 42", "42", "answer_line"),
        ("answer : yes.", "yes.", "answer_line"),
        ("work\n\\boxed{17}\nso 17", "17", "boxed"),
        ("so the answer is (C).", "(C)", "answer_is"),
        ("False", "False", "whole_reply"),
        ("step one\nstep two\nNo", "No", "last_line"),
        ("", "", "empty"),
        ("   \n  ", "", "empty"),
    ],
)
def test_extract_answer_conventions(reply: str, answer: str, method: str) -> None:
    got = extract_answer(reply)
    assert (got.answer, got.method) == (answer, method)
    assert got.format_ok is (method == "answer_line")


def test_empty_answer_line_falls_back_to_an_earlier_one() -> None:
    assert extract_answer("Answer: 5\nAnswer:").answer == "5"


def test_normalize_and_exact_match() -> None:
    assert normalize("  **True.** ") == "true"
    assert normalize("'Yes'") == "yes"
    assert exact_match("VALID", "valid")
    assert not exact_match("invalid", "valid")


def test_multiple_choice_equivalences() -> None:
    question = "Which?\nOptions:\n(A) red ball\n(B) blue cube\n(C) green cone"
    options = parse_options(question)
    assert options == {"A": "red ball", "B": "blue cube", "C": "green cone"}
    for given in ("(B)", "B", "B)", "(B) blue cube", "B. blue cube", "blue cube", "Blue Cube."):
        assert answer_letter(given, options) == "B", given
    assert answer_letter("(Z)", options) is None
    assert answer_letter("I am not sure", options) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("$1,234.50", 1234.5),
        ("72 clips", 72.0),
        ("48 + 24 = 72", 72.0),
        ("-13", -13.0),
        ("−7", -7.0),
        (".5", 0.5),
        ("none", None),
    ],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


def test_numeric_match() -> None:
    assert numeric_match("$1,000 dollars", "1000")
    assert numeric_match("18.0", "18")
    assert not numeric_match("17", "18")
    assert not numeric_match("eighteen", "18")


def test_token_f1() -> None:
    assert token_f1("The Eiffel Tower", "eiffel tower") == 1.0
    assert token_f1("Paris France", "Paris") == pytest.approx(2 / 3)
    assert token_f1("London", "Paris") == 0.0
    assert token_f1("", "") == 1.0


def test_feedback_says_expected_given_and_format_problem() -> None:
    extraction = extract_answer("I think it is probably\nthe blue one")
    score = binary_score(False, given=extraction.answer, expected="(B)", extraction=extraction)
    assert score.hard == 0 and score.soft == 0.0
    assert "Expected: '(B)'" in score.feedback
    assert "Given: 'the blue one'" in score.feedback
    assert "no 'Answer:' line found" in score.feedback


def test_feedback_for_a_well_formatted_right_answer_has_no_format_note() -> None:
    extraction = extract_answer("Answer: (B)")
    score = binary_score(True, given="(B)", expected="(B)", extraction=extraction)
    assert score.hard == 1 and score.feedback.startswith("Correct.")
    assert "Format" not in score.feedback
