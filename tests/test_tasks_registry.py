"""Task registry: names, families, options, errors, and single-file registration."""

import warnings

import pytest

from skillfit.tasks import (
    Item,
    Task,
    TaskDataError,
    TaskOptionError,
    get_task,
    list_tasks,
    registry,
)
from skillfit.tasks.common import SingleTurnTask
from skillfit.tasks.scoring import binary_score, extract_answer


def test_list_tasks_covers_bundled_tasks_with_counts() -> None:
    rows = {info.name: info for info in list_tasks()}
    assert sum(name.startswith("bbh/") for name in rows) == 20
    assert rows["bbh/web_of_lies"].n_items == 250
    assert rows["gsm8k"].n_items == 7473
    assert rows["reasoning_gym/<name>"].n_items is None
    assert all(info.description for info in rows.values())


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("bbh/web_of_lie", "bbh/web_of_lies"),
        ("gsm8", "gsm8k"),
        ("web_of_lies", "bbh/web_of_lies"),
        ("reasoning_gym/leg_countin", "reasoning_gym/leg_counting"),
    ],
)
def test_unknown_name_lists_close_names(name: str, suggestion: str) -> None:
    with pytest.raises(TaskDataError, match="unknown task") as info:
        get_task(name)
    assert suggestion in str(info.value)


def test_unknown_option_lists_valid_ones() -> None:
    with pytest.raises(TaskOptionError, match="n_trian") as info:
        get_task("bbh/snarks", n_trian=5)
    assert "n_train" in str(info.value)


@pytest.mark.parametrize(
    "options",
    [
        {"n_train": -1},
        {"n_train": 2.5},
        {"n_train": True},
        {"seed": "zero"},
        {"max_tokens": 0},
        {"temperature": 5},
        {"n_train": 200},  # snarks holds 178
    ],
)
def test_bad_option_values_are_clear_errors(options: dict[str, object]) -> None:
    with pytest.raises(TaskOptionError, match="bbh/snarks"):
        get_task("bbh/snarks", **options)


def test_bbh_family_rejects_unknown_subtask() -> None:
    with pytest.raises(TaskOptionError, match="nope"):
        get_task("bbh", tasks=["web_of_lies", "nope"])
    with pytest.raises(TaskOptionError, match="list of task names"):
        get_task("bbh", tasks=3)


def test_bbh_family_accepts_a_comma_separated_string() -> None:
    task = get_task("bbh", tasks="web_of_lies, snarks", n_train=1, n_val=1, n_test=1)
    assert task.split_manifest()["options"]["tasks"] == ["web_of_lies", "snarks"]  # type: ignore[attr-defined]


def _tiny_task(*, seed: int = 0) -> Task:
    items = [Item(f"t-{i}", f"question {i}", str(i)) for i in range(3)]

    def score(item: Item, reply: str):  # type: ignore[no-untyped-def]
        ex = extract_answer(reply)
        return ex.answer, binary_score(
            ex.answer == item.target, given=ex.answer, expected=item.target, extraction=ex
        )

    return SingleTurnTask(
        name="tiny",
        splits={"train": items[:1], "val": items[1:2], "test": items[2:]},
        score=score,
        seed=seed,
    )


def test_register_a_task_and_a_family(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register_task("tiny", _tiny_task, description="A tiny task", n_items=3)

    @registry.register_task("fam/", description="member {member}", members=lambda: ["a", "b"])
    def make_member(member: str, *, seed: int = 0) -> Task:
        return _tiny_task(seed=seed)

    assert get_task("tiny", seed=3).name == "tiny"
    assert isinstance(get_task("fam/a"), SingleTurnTask)
    names = {info.name: info for info in list_tasks()}
    assert names["tiny"].n_items == 3
    assert names["fam/b"].description == "member b"
    with pytest.raises(TaskDataError, match="fam/a"):
        get_task("fam/c")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_task("tiny", lambda: _tiny_task())


def test_missing_optional_task_package_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_OPTIONAL_MODULES", ("skillfit.tasks.no_such_package",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # absence is normal: no warning either
        assert any(info.name == "gsm8k" for info in list_tasks())


def test_a_failing_item_count_does_not_break_the_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    def broken() -> int:
        raise OSError("data file missing")

    registry.register_task("broken", _tiny_task, n_items=broken)
    with pytest.warns(UserWarning, match="data file missing"):
        rows = {info.name: info for info in list_tasks()}
    assert rows["broken"].n_items is None and rows["gsm8k"].n_items == 7473
