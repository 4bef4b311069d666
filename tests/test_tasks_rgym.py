"""reasoning_gym/<name>: generated offline, seeded, disjoint, scored by the package's checker."""

import pytest

from skillfit.models.scripted import ScriptedModel
from skillfit.tasks import SPLIT_NAMES, TaskDataError, TaskOptionError, get_task
from skillfit.train.rollout import rollout_one


def test_round_trip_with_a_model_that_knows_the_answers() -> None:
    task = get_task("reasoning_gym/leg_counting", n_train=4, n_val=3, n_test=2, seed=11)
    splits = task.splits()
    assert [len(splits[s]) for s in SPLIT_NAMES] == [4, 3, 2]
    answers = {it.input: it.target for s in SPLIT_NAMES for it in splits[s]}
    right = ScriptedModel(lambda r: f"Counting...\nAnswer: {answers[r.last_user]}")
    wrong = ScriptedModel(lambda r: "Answer: -1")
    for item in splits["train"]:
        good = rollout_one(task, right, task.initial_skill, item, 0)
        bad = rollout_one(task, wrong, "", item, 0)
        assert good.score is not None and good.score.hard == 1 and good.score.soft == 1.0
        assert bad.score is not None and bad.score.hard == 0
        assert "Expected" in bad.score.feedback


def test_seeded_disjoint_and_stable_test_split() -> None:
    a = get_task("reasoning_gym/basic_arithmetic", n_train=10, n_val=5, n_test=5, seed=3)
    b = get_task("reasoning_gym/basic_arithmetic", n_train=30, n_val=5, n_test=5, seed=3)
    c = get_task("reasoning_gym/basic_arithmetic", n_train=10, n_val=5, n_test=5, seed=4)
    ids = lambda t, s: [it.id for it in t.splits()[s]]  # noqa: E731
    assert ids(a, "test") == ids(b, "test")
    assert ids(a, "test") != ids(c, "test")
    inputs = [it.input for s in SPLIT_NAMES for it in a.splits()[s]]
    assert len(inputs) == len(set(inputs))
    assert a.split_manifest()["splits"]["train"] == ids(a, "train")  # type: ignore[attr-defined]


def test_unknown_generator_and_bad_config() -> None:
    with pytest.raises(TaskDataError, match="leg_counting"):
        get_task("reasoning_gym/leg_countin")
    with pytest.raises(TaskOptionError, match="config"):
        get_task("reasoning_gym/leg_counting", n_test=1, config={"no_such_knob": 1})


def test_model_answers_never_run_as_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "ran"
    task = get_task("reasoning_gym/n_queens", n_train=1, n_val=0, n_test=0)
    item = task.splits()["train"][0]
    attack = f"Answer: __import__('pathlib').Path({str(marker)!r}).write_text('x')"
    _, score = task.score(item, attack)  # type: ignore[attr-defined]
    assert score.hard == 0
    assert not marker.exists()
    _, good = task.score(item, f"Answer:\n{item.target}")  # type: ignore[attr-defined]
    assert good.hard == 1


def test_multiline_targets_take_the_whole_answer_block() -> None:
    task = get_task("reasoning_gym/binary_matrix", n_train=1, n_val=0, n_test=0)
    item = task.splits()["train"][0]
    assert "\n" in item.target
    _, score = task.score(item, f"The distances are:\nAnswer:\n{item.target}\n")  # type: ignore[attr-defined]
    assert score.hard == 1
