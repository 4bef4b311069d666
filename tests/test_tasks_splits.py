"""Splits: fixed by seed, disjoint (by id and by input), sizes honoured, manifest recorded."""

import pytest

from skillfit.tasks import SPLIT_NAMES, Item, TaskOptionError, get_task
from skillfit.tasks.common import dedupe_by_input, resolve_sizes, split_items


def _ids(task) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {s: [it.id for it in items] for s, items in task.splits().items()}


def _assert_disjoint(task) -> None:  # type: ignore[no-untyped-def]
    splits = task.splits()
    for a in SPLIT_NAMES:
        for b in SPLIT_NAMES:
            if a < b:
                assert not {it.id for it in splits[a]} & {it.id for it in splits[b]}
                assert not {it.input for it in splits[a]} & {it.input for it in splits[b]}


@pytest.mark.parametrize("name", ["bbh/boolean_expressions", "bbh/causal_judgement", "gsm8k"])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_splits_deterministic_disjoint_and_sized(name: str, seed: int) -> None:
    a = get_task(name, seed=seed)
    b = get_task(name, seed=seed)
    assert _ids(a) == _ids(b)
    assert {s: len(v) for s, v in _ids(a).items()} == {"train": 40, "val": 20, "test": 60}
    _assert_disjoint(a)


def test_different_seeds_give_different_splits() -> None:
    assert _ids(get_task("bbh/web_of_lies", seed=0)) != _ids(get_task("bbh/web_of_lies", seed=1))


def test_test_split_does_not_move_when_train_size_changes() -> None:
    small = get_task("bbh/hyperbaton", n_train=10, seed=4)
    large = get_task("bbh/hyperbaton", n_train=80, seed=4)
    assert _ids(small)["test"] == _ids(large)["test"]
    assert _ids(small)["val"] == _ids(large)["val"]


def test_family_prefixes_ids_with_subtask_and_matches_single_tasks() -> None:
    family = get_task(
        "bbh", tasks=["boolean_expressions", "web_of_lies"], n_train=5, n_val=3, n_test=4, seed=2
    )
    _assert_disjoint(family)
    ids = _ids(family)
    assert len(ids["train"]) == 10 and len(ids["test"]) == 8
    single = get_task("bbh/web_of_lies", n_train=5, n_val=3, n_test=4, seed=2)
    assert [i for i in ids["test"] if i.startswith("web_of_lies-")] == _ids(single)["test"]
    assert all(i.split("-")[0] in {"boolean_expressions", "web_of_lies"} for i in ids["train"])


def test_default_sizes_shrink_proportionally_for_small_data() -> None:
    assert resolve_sizes("t", 60) == (20, 10, 30)
    assert resolve_sizes("t", 500) == (40, 20, 60)
    assert resolve_sizes("t", 100, n_test=70) == (20, 10, 70)
    with pytest.raises(TaskOptionError, match="data holds 50"):
        resolve_sizes("t", 50, n_train=40, n_test=20)


def test_duplicate_inputs_never_straddle_splits() -> None:
    items = [Item(f"i{n}", f"q{n % 30}", str(n % 30)) for n in range(60)]
    kept, dropped = dedupe_by_input(items)
    assert len(kept) == 30 and len(dropped) == 30
    for seed in range(5):
        parts = split_items(kept, (10, 10, 10), seed)
        inputs = [it.input for s in SPLIT_NAMES for it in parts[s]]
        assert len(inputs) == len(set(inputs)) == 30


def test_split_manifest_records_name_options_seed_and_ids() -> None:
    task = get_task("bbh/snarks", n_train=4, n_val=2, n_test=3, seed=5)
    manifest = task.split_manifest()  # type: ignore[attr-defined]
    assert manifest["task"] == "bbh/snarks" and manifest["seed"] == 5
    assert manifest["options"]["n_train"] == 4
    assert manifest["splits"] == _ids(task)
    rebuilt = get_task(manifest["task"], **manifest["options"])
    assert rebuilt.split_manifest() == manifest  # type: ignore[attr-defined]


def test_labels_are_spread_evenly_over_the_splits() -> None:
    """A validation split that happens to hold mostly one label would make the gate adopt a
    skill that always gives it: with few distinct answers, each split mirrors the whole."""
    items = [Item(f"i{n}", f"q{n}", "Yes" if n % 4 else "No") for n in range(400)]
    for seed in range(5):
        parts = split_items(items, (40, 40, 100), seed, salt="t")
        for split, size in (("train", 40), ("val", 40), ("test", 100)):
            no = sum(it.target == "No" for it in parts[split])
            assert abs(no - size / 4) <= 1.5, (seed, split, no)
    real = get_task("bbh/web_of_lies", n_train=32, n_val=40, n_test=60, seed=0).splits()
    for split, part in real.items():
        yes = sum(it.target == "Yes" for it in part)
        assert abs(yes - len(part) / 2) <= 0.1 * len(part), (split, yes)


def test_numeric_answers_keep_the_splits_earlier_versions_drew() -> None:
    """Numbers are not labels: their tasks keep the plain seeded shuffle, so runs and cached
    replies made before splits were stratified stay valid."""
    gsm = get_task("gsm8k", n_train=32, n_val=40, n_test=60, seed=0).splits()
    assert [it.id for it in gsm["test"][:4]] == [
        "gsm8k-3282",
        "gsm8k-6082",
        "gsm8k-6236",
        "gsm8k-2139",
    ]
    arith = get_task("bbh/multistep_arithmetic_two", n_train=32, n_val=40, n_test=60, seed=0)
    assert [it.id for it in arith.splits()["val"][:2]] == [
        "multistep_arithmetic_two-106",
        "multistep_arithmetic_two-228",
    ]
