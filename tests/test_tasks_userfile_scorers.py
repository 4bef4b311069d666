"""Scorers chosen in a config: exact, numeric, choice, regex, contains, json_field, python."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillfit.tasks import Item, TaskDataError
from skillfit.tasks.userfile.scorers import build_scorer


def score(spec: object, target: object, reply: str, item_input: str = "q?", **kw: object):
    scorer = build_scorer(spec, **kw)  # type: ignore[arg-type]
    return scorer(Item("i1", item_input, target), reply)


def test_exact_normalizes_and_separates_form_from_substance() -> None:
    answer, s = score("exact", "Canberra", "Thinking...\nAnswer: **canberra.**")
    assert answer == "canberra." and s.hard == 1 and s.formatted is True
    _, s = score("exact", "Canberra", "Canberra")  # right, but no Answer: line
    assert s.hard == 1 and s.formatted is False and "Format" in s.feedback
    _, s = score("exact", "Canberra", "Answer: Sydney")  # well formed, wrong
    assert s.hard == 0 and s.formatted is True and "Expected: 'Canberra'" in s.feedback
    _, s = score("exact", ["NYC", "New York"], "Answer: new york")  # a list: any of them
    assert s.hard == 1
    _, s = score({"kind": "exact", "case_sensitive": True}, "Bern", "Answer: bern")
    assert s.hard == 0


def test_numeric_tolerance() -> None:
    assert score("numeric", "3.14", "Answer: about 3.140 metres")[1].hard == 1
    assert score({"kind": "numeric", "tolerance": 0.01}, 10, "Answer: 10.005")[1].hard == 1
    assert score({"kind": "numeric", "tolerance": 0.01}, 10, "Answer: 10.02")[1].hard == 0
    _, s = score("numeric", "1,234", "Answer: many")
    assert s.hard == 0 and s.formatted is False and "number" in s.feedback
    with pytest.raises(TaskDataError, match="tolerance"):
        build_scorer({"kind": "numeric", "tolerance": -1})


def test_choice_letter() -> None:
    q = "Which?\n(A) red\n(B) blue"
    assert score("choice", "B", "Answer: (B)", q)[1].hard == 1
    assert score("choice", "(B)", "Answer: blue", q)[1].hard == 1
    _, s = score("choice", "B", "Answer: purple", q)
    assert s.hard == 0 and s.formatted is False


def test_regex_from_target_or_config() -> None:
    assert score("regex", r"\d{3}-\d{4}", "Answer: 555-1234")[1].hard == 1
    assert score("regex", r"\d{3}-\d{4}", "Answer: call 555-1234")[1].hard == 0
    spec = {"kind": "regex", "pattern": r"yes|no", "mode": "search"}
    assert score(spec, None, "Answer: well, yes")[1].hard == 1
    with pytest.raises(TaskDataError, match="not a valid regular expression"):
        build_scorer({"kind": "regex", "pattern": "("})


def test_contains_whole_words() -> None:
    assert score("contains", "Paris", "Answer: It is Paris, France")[1].hard == 1
    assert score("contains", "Paris", "Answer: Parisian")[1].hard == 0


def test_json_field_partial_credit() -> None:
    target = {"city": "Paris", "population": 2100000}
    reply = 'Answer: {"city": "paris", "population": "2,100,000"}'
    assert score("json_field", target, reply)[1].hard == 1
    _, s = score(
        {"kind": "json_field", "fields": ["city", "population"]},
        target,
        'Answer: {"city": "Lyon", "population": 2100000}',
    )
    assert s.hard == 0 and s.soft == 0.5 and "city" in s.feedback
    _, s = score(
        "json_field", '{"a": 1}', '```json\n{"a": 1}\n```'
    )  # a JSON string target, a fenced block
    assert s.hard == 1 and s.formatted is False
    _, s = score("json_field", {"a": 1}, "Answer: not json")
    assert s.hard == 0 and s.formatted is False


def test_python_function_from_the_users_file(tmp_path: Path) -> None:
    (tmp_path / "grader.py").write_text(
        "def grade(answer, target):\n"
        "    return answer.lower().startswith(target.lower()), 'checked the prefix'\n"
        "def partial(answer, meta):\n"
        "    return {'score': 0.5, 'feedback': meta['hint']}\n"
        "def broken(answer):\n"
        "    raise ValueError('oops')\n"
    )
    _, s = score("grader.py:grade", "abc", "Answer: ABCdef", base_dir=tmp_path)
    assert s.hard == 1 and "checked the prefix" in s.feedback
    scorer = build_scorer(
        {"kind": "python", "function": "grader.py:partial", "pass_threshold": 0.5},
        base_dir=tmp_path,
    )
    _, s = scorer(Item("i", "q", "t", meta={"hint": "half"}), "Answer: x")
    assert s.hard == 1 and s.soft == 0.5 and "half" in s.feedback
    with pytest.raises(TaskDataError, match=r"grader.py:broken raised ValueError on item i1: oops"):
        score("grader.py:broken", "t", "Answer: x", base_dir=tmp_path)
    with pytest.raises(TaskDataError, match="no function 'missing'"):
        build_scorer("grader.py:missing", base_dir=tmp_path)
    with pytest.raises(TaskDataError, match="not found"):
        build_scorer("nothere.py:grade", base_dir=tmp_path)


def test_unknown_kinds_and_settings_are_named() -> None:
    with pytest.raises(TaskDataError, match="unknown scorer kind 'fuzzy'"):
        build_scorer("fuzzy")
    with pytest.raises(TaskDataError, match="its settings are: extract, tolerance, rel_tolerance"):
        build_scorer({"kind": "numeric", "tol": 1})
