"""BBH and GSM8K scoring and data validation."""

import pytest

from skillfit.tasks import Item, TaskDataError, get_task
from skillfit.tasks.bbh import BBH_TASKS, load_items, parse_examples, score_reply, usable_items
from skillfit.tasks.common import SingleTurnTask
from skillfit.tasks.gsm8k import parse_lines
from skillfit.tasks.gsm8k import score_reply as gsm8k_score
from skillfit.train.rollout import rollout_one

MC = Item("mc", "Which?\nOptions:\n(A) a cat\n(B) a dog", "(B)")


@pytest.mark.parametrize(
    ("reply", "hard"),
    [
        ("Answer: (B)", 1),
        ("Answer: B", 1),
        ("Answer: B) a dog", 1),
        ("Answer: a dog", 1),
        ("Answer: (A)", 0),
        ("Answer: I cannot tell", 0),
    ],
)
def test_bbh_multiple_choice(reply: str, hard: int) -> None:
    _, score = score_reply(MC, reply)
    assert score.hard == hard


def test_bbh_choice_hint_when_no_option_named() -> None:
    _, score = score_reply(MC, "Answer: I cannot tell")
    assert "option" in score.feedback


@pytest.mark.parametrize(
    ("target", "reply", "hard"),
    [
        ("True", "Answer: true", 1),
        ("True", "Answer: True.", 1),
        ("False", "Answer: True", 0),
        ("Yes", "Answer: yes, he tells the truth", 1),
        ("No", "Answer: YES", 0),
        ("valid", "Answer: Valid", 1),
        ("valid", "Answer: invalid", 0),
        ("invalid", "Answer: invalid", 1),
        ("-113", "Answer: -113", 1),
        ("-113", "Answer: 113", 0),
        ("] ]", "Answer: ]]", 1),
        ("Monsters, Inc", "Answer: monsters, inc.", 1),
    ],
)
def test_bbh_label_numeric_and_free_targets(target: str, reply: str, hard: int) -> None:
    _, score = score_reply(Item("x", "q", target), reply)
    assert score.hard == hard


def test_bbh_binary_hint_when_label_missing() -> None:
    _, score = score_reply(Item("x", "q", "True"), "Answer: maybe")
    assert "true or false" in score.feedback


def test_bbh_data_all_tasks_load() -> None:
    assert len(BBH_TASKS) == 20
    for task in BBH_TASKS:
        items = load_items(task)
        assert items and all(it.id.startswith(task + "-") for it in items)


def test_bbh_conflicting_duplicate_inputs_are_left_out() -> None:
    raw = load_items("causal_judgement")
    kept = usable_items("causal_judgement")
    assert len(raw) == 187 and len(kept) == 183
    assert len({it.input for it in kept}) == len(kept)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "'examples' list"),
        ({"examples": [{"input": "q"}]}, "example 0: missing field 'target'"),
        ({"examples": [{"input": "q", "target": 3}]}, "field 'target' must be a string"),
        ({"examples": ["q"]}, "example 0: expected an object"),
        ({"examples": [{"input": " ", "target": "x"}]}, "empty input"),
    ],
)
def test_bbh_validation_names_file_and_item(data: object, message: str) -> None:
    with pytest.raises(TaskDataError, match="bbh/x.json") as info:
        parse_examples(data, "x", "bbh/x.json")
    assert message in str(info.value)


def test_duplicate_item_ids_are_rejected() -> None:
    items = [Item("a", "q1", "1"), Item("a", "q2", "2")]
    with pytest.raises(TaskDataError, match="duplicate item id 'a'"):
        SingleTurnTask(name="t", splits={"train": items}, score=score_reply)


def test_gsm8k_scoring() -> None:
    item = Item("g", "How many?", "1200")
    assert gsm8k_score(item, "so...\nAnswer: $1,200")[1].hard == 1
    assert gsm8k_score(item, "Answer: 1200 dollars")[1].hard == 1
    _, wrong = gsm8k_score(item, "Answer: about a thousand")
    assert wrong.hard == 0 and "single number" in wrong.feedback


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 1: not valid JSON"),
        ('{"question": "q"}', "line 1: missing field 'answer'"),
        ('{"question": 1, "answer": "#### 2"}', "field 'question' must be a string"),
        ('{"question": "q", "answer": "no final line"}', "no numeric"),
    ],
)
def test_gsm8k_validation(line: str, message: str) -> None:
    with pytest.raises(TaskDataError, match="train.jsonl") as info:
        parse_lines([line], "gsm8k/train.jsonl")
    assert message in str(info.value)


def test_gsm8k_targets_are_numbers_without_commas() -> None:
    items = parse_lines(['{"question": "q", "answer": "work\\n#### 1,234"}'])
    assert items[0].target == "1234" and items[0].meta["solution"] == "work"
    task = get_task("gsm8k", n_train=3, n_val=2, n_test=1)
    assert all(it.target.lstrip("-").replace(".", "").isdigit() for it in task.splits()["train"])


@pytest.mark.parametrize(
    ("target", "reply", "formatted", "hard"),
    [
        ("No", "Answer: No", True, 1),
        ("No", "Answer: Yes", True, 0),  # well formed, wrong: substance
        ("No", "Answer: Bernita does not tell the truth.", False, 0),
        ("No", "I think no", False, 0),  # no Answer: line
        ("(B)", "Answer: (A)", True, 0),
        ("(B)", "Answer: I cannot tell", False, 0),
        ("-113", "Answer: minus something", False, 0),
        ("-113", "Answer: -112", True, 0),
    ],
)
def test_bbh_formatted_separates_form_from_substance(
    target: str, reply: str, formatted: bool, hard: int
) -> None:
    item = MC if target == "(B)" else Item("x", "q", target)
    _, score = score_reply(item, reply)
    assert (score.formatted, score.hard) == (formatted, hard)


def test_gsm8k_formatted() -> None:
    item = Item("g", "How many?", "1200")
    assert gsm8k_score(item, "Answer: 12")[1].formatted is True
    assert gsm8k_score(item, "Answer: about a thousand")[1].formatted is False
    assert gsm8k_score(item, "so it is 1200")[1].formatted is False


def test_a_cut_off_reply_keeps_its_format_verdict() -> None:
    from skillfit.models.scripted import ScriptedModel

    task = get_task("bbh/web_of_lies", n_train=2, n_val=2, n_test=2, max_tokens=8)
    item = task.splits()["test"][0]
    model = ScriptedModel(lambda request: "Answer: Yes")
    model_cut = _Truncating(model)
    traj = rollout_one(task, model_cut, "", item, 0)
    assert traj.score is not None and "token limit" in traj.score.feedback
    assert traj.score.formatted is True


class _Truncating:
    """Wraps a model so every reply reports finish_reason 'length'."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def complete(self, messages: object, **kwargs: object) -> object:
        import dataclasses

        reply = self.inner.complete(messages, **kwargs)  # type: ignore[attr-defined]
        return dataclasses.replace(reply, finish_reason="length")
