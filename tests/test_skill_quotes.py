"""The guard that spots training items or answers quoted in an edit."""

from __future__ import annotations

from skillfit.skill import mentions_any

ITEM = "not ( True ) and ( True ) is"


def test_finds_quoted_item_ignoring_case_and_whitespace() -> None:
    text = "Remember:  NOT ( True )\n and ( True ) IS False."
    assert mentions_any(text, ["unrelated needle text", ITEM]) == ITEM


def test_returns_first_matching_needle_as_given() -> None:
    text = "alpha beta gamma delta epsilon"
    needles = ["Gamma Delta Epsilon", "alpha beta gamma"]
    assert mentions_any(text, needles) == "Gamma Delta Epsilon"


def test_short_needles_are_ignored() -> None:
    assert mentions_any("The answer is True.", ["True", "(A)", "  is   True  "]) is None
    assert mentions_any("The answer is True.", ["answer is True"], min_len=12) == "answer is True"
    assert mentions_any("The answer is True.", ["answer is True"], min_len=15) is None


def test_no_match_and_empty_inputs() -> None:
    assert mentions_any("Evaluate step by step.", [ITEM]) is None
    assert mentions_any("", [ITEM]) is None
    assert mentions_any("anything at all here", []) is None
    assert mentions_any("anything at all here", iter(["", "   "]), min_len=0) is None
