"""Paper benchmarks: scorers (SearchQA EM/F1, LiveMath letter, DocVQA ANLS, OfficeQA EM/F1)."""

from __future__ import annotations

import pytest

from skillfit.tasks.base import Item
from skillfit.tasks.paper import docvqa, livemath, officeqa, searchqa


def test_searchqa_exact_match_uses_squad_normalization() -> None:
    item = Item("x", "clue", target=["the Nile", "Nile"])
    answer, score = searchqa.score_reply(item, "It flows north.\nAnswer: The Nile.")
    assert answer == "The Nile."
    assert (score.hard, score.soft) == (1, 1.0)
    assert score.feedback.startswith("Correct.")


def test_searchqa_partial_answer_gets_f1_and_says_so() -> None:
    item = Item("x", "clue", target=["Leonardo da Vinci"])
    _, score = searchqa.score_reply(item, "Answer: da Vinci")
    assert score.hard == 0
    assert score.soft == pytest.approx(0.8)
    assert "Partly right" in score.feedback and "Leonardo da Vinci" in score.feedback


def test_searchqa_wrong_and_unformatted_reply_feedback() -> None:
    item = Item("x", "clue", target=["Mars"])
    _, score = searchqa.score_reply(item, "I think it is probably Venus, the planet")
    assert (score.hard, score.soft) == (0, 0.0)
    assert "Wrong." in score.feedback and "'Answer:'" in score.feedback


def _mcq() -> Item:
    choices = {"A": "n! <= n^n", "B": "2x", "C": "x^2"}
    return Item("m", "q", target={"label": "B", "text": "2x"}, meta={"choices": choices})


@pytest.mark.parametrize("reply", ["Answer: B", "Answer: (B)", "Answer: B. 2x", "Answer: 2x"])
def test_livemath_accepts_the_letter_in_common_forms(reply: str) -> None:
    letter, score = livemath.score_reply(_mcq(), reply)
    assert letter == "B"
    assert (score.hard, score.soft) == (1, 1.0)


def test_livemath_wrong_letter_names_both_choices() -> None:
    letter, score = livemath.score_reply(_mcq(), "Answer: C")
    assert letter == "C" and score.hard == 0
    assert "(B) 2x" in score.feedback and "(C) x^2" in score.feedback


def test_livemath_unreadable_answer_scores_zero() -> None:
    _, score = livemath.score_reply(_mcq(), "Answer: none of them")
    assert score.hard == 0 and "No choice letter" in score.feedback


def test_anls_follows_the_definition() -> None:
    assert docvqa.anls("May 1, 1990", ["may 1,  1990"]) == 1.0
    # one edit in 11 characters: 1 - 1/11
    assert docvqa.anls("May 1, 1991", ["May 1, 1990"]) == pytest.approx(1 - 1 / 11)
    assert docvqa.anls("completely else", ["May 1, 1990"]) == 0.0
    # best over the gold answers
    assert docvqa.anls("John Smith", ["J. Smith", "John Smith"]) == 1.0
    # a normalized distance of exactly 0.5 is cut to 0 (threshold 0.5)
    assert docvqa.anls("ab", ["ac"]) == 0.0
    assert docvqa.anls("abc", ["abd"]) == pytest.approx(2 / 3)


def test_docvqa_hard_is_exact_and_soft_is_anls() -> None:
    item = Item("d", "q", target=["$40"])
    _, exact = docvqa.score_reply(item, "Answer: $40")
    assert (exact.hard, exact.soft) == (1, 1.0)
    _, close = docvqa.score_reply(item, "Answer: $40.")
    assert close.hard == 0 and close.soft == pytest.approx(0.75)
    assert "Close but not exact" in close.feedback


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [
        ("22,282", "22282"),
        ("22282 million dollars", "22,282"),
        ("1234.0", "1,234"),
        ("$3,986", "3986"),
        ("12.5%", "12.5 %"),
    ],
)
def test_officeqa_normalized_exact_match(prediction: str, gold: str) -> None:
    assert officeqa.score_answer(prediction, gold) == (1, 1.0)


def test_officeqa_partial_and_wrong() -> None:
    em, f1 = officeqa.score_answer("Series E bonds 3986", "3986")
    assert em == 0 and 0 < f1 < 1
    assert officeqa.score_answer("4000", "3986") == (0, 0.0)
    _, score = officeqa.score_reply(Item("o", "q", target="3986"), "")
    assert score.hard == 0 and "Given: nothing" in score.feedback
