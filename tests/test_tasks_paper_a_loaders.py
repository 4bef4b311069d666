"""Paper benchmarks: loading split directories into tasks (SearchQA, LiveMath, DocVQA, OfficeQA)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from skillfit.tasks.base import Task, TaskDataError
from skillfit.tasks.registry import get_task

FIX = Path(__file__).parent / "fixtures" / "paper"


def make_docvqa_split(root: Path) -> Path:
    """A two-page DocVQA split directory with PNGs drawn by Pillow."""
    (root / "images").mkdir(parents=True)
    rows = {
        "train": [{"id": "1", "question": "What is the date?", "answers": ["May 1, 1990"]}],
        "val": [{"id": "2", "question": "Who signed?", "answers": ["J. Smith", "John Smith"]}],
        "test": [{"id": "3", "question": "Total?", "answers": ["$40"]}],
    }
    for split, items in rows.items():
        for item in items:
            img = Image.new("RGB", (64, 32), "white")
            ImageDraw.Draw(img).text((2, 10), item["answers"][0][:8], fill="black")
            img.save(root / "images" / f"q{item['id']}.png")
            item["image_path"] = f"images/q{item['id']}.png"
        (root / split).mkdir()
        (root / split / "items.json").write_text(json.dumps(items))
    return root


def test_searchqa_loads_the_split_directory_in_manifest_order() -> None:
    task = get_task("searchqa", split_dir=str(FIX / "searchqa" / "split"))
    assert isinstance(task, Task)
    splits = task.splits()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [3, 2, 2]
    first = splits["train"][0]
    assert first.id == "sq-tr-1"
    assert "Father of Geometry" in first.input and "Euclid, sometimes called" in first.input
    assert first.target == ["Euclid"]
    assert task.initial_skill.startswith("# SearchQA")


def test_searchqa_options_cap_splits_and_context() -> None:
    task = get_task(
        "searchqa",
        split_dir=str(FIX / "searchqa" / "split"),
        n_train=1,
        n_test=0,
        max_context_chars=20,
    )
    splits = task.splits()
    assert [it.id for it in splits["train"]] == ["sq-tr-1"]
    assert splits["test"] == [] and len(splits["val"]) == 2
    assert splits["train"][0].input.endswith(" ...")
    manifest = task.split_manifest()  # type: ignore[attr-defined]
    assert manifest["splits"]["train"] == ["sq-tr-1"]


def test_missing_split_dir_option_says_how_to_build_one() -> None:
    for name in ("searchqa", "livemathematicianbench", "docvqa", "officeqa"):
        with pytest.raises(TaskDataError, match="materialize"):
            get_task(name)


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(TaskDataError, match="does not take"):
        get_task("searchqa", split_dir=str(FIX / "searchqa" / "split"), bogus=1)


def test_livemath_shuffles_choices_deterministically_per_seed() -> None:
    split_dir = str(FIX / "livemath" / "split")
    a = get_task("livemathematicianbench", split_dir=split_dir, seed=1).splits()
    b = get_task("livemathematicianbench", split_dir=split_dir, seed=1).splits()
    assert [it.input for it in a["test"]] == [it.input for it in b["test"]]
    orders = {
        seed: [
            it.input
            for s in ("train", "val", "test")
            for it in get_task("livemathematicianbench", split_dir=split_dir, seed=seed).splits()[s]
        ]
        for seed in range(4)
    }
    assert len({tuple(v) for v in orders.values()}) > 1  # some seed changes some order
    originals = {
        row["id"]: row["correct_choice"]["text"]
        for s in ("train", "val", "test")
        for row in json.loads((FIX / "livemath" / "split" / s / "items.json").read_text())
    }
    for seed in range(4):
        task = get_task("livemathematicianbench", split_dir=split_dir, seed=seed)
        for items in task.splits().values():
            for it in items:
                label, text = it.target["label"], it.target["text"]
                assert text == originals[it.id]  # the right text survives the shuffle
                assert f"({label}) {text}" in it.input
                assert it.meta["choices"][label] == text


def test_livemath_without_shuffle_keeps_the_published_labels() -> None:
    task = get_task(
        "livemathematicianbench", split_dir=str(FIX / "livemath" / "split"), shuffle_choices=False
    )
    item = task.splits()["train"][1]
    assert item.target == {"label": "B", "text": "2x"}
    assert "(A) x\n(B) 2x\n(C) x^2\n(D) 2" in item.input


def test_docvqa_loads_items_with_resolved_image_paths(tmp_path: Path) -> None:
    root = make_docvqa_split(tmp_path / "docvqa")
    task = get_task("docvqa", split_dir=str(root))
    item = task.splits()["val"][0]
    assert item.target == ["J. Smith", "John Smith"]
    assert Path(item.meta["image_path"]).is_file()
    assert Path(item.meta["image_path"]).is_absolute()
    assert "Who signed?" in item.input


def test_officeqa_loads_items_with_their_document_folders() -> None:
    task = get_task("officeqa", split_dir=str(FIX / "officeqa" / "split"))
    splits = task.splits()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    item = splits["val"][0]
    assert item.id == "UID0003" and item.target == "58525"
    assert item.meta["source_files"] == [
        "treasury_bulletin_1944_01.txt",
        "treasury_bulletin_1950_02.txt",
    ]
    assert (
        sorted(p.name for p in Path(item.meta["docs_dir"]).iterdir()) == item.meta["source_files"]
    )
    assert "treasury_bulletin_1950_02.txt" in item.input and "fraser.stlouisfed.org/b" in item.input


def test_officeqa_shared_docs_dir_option(tmp_path: Path) -> None:
    split = tmp_path / "split"
    for s in ("train", "val", "test"):
        shutil.copytree(FIX / "officeqa" / "split" / s, split / s)
    corpus = FIX / "officeqa" / "raw" / "treasury_bulletins_parsed" / "transformed"
    with pytest.raises(TaskDataError, match="document folder"):
        get_task("officeqa", split_dir=str(split))
    task = get_task("officeqa", split_dir=str(split), docs_dir=str(corpus))
    assert all(it.meta["docs_dir"] == str(corpus.resolve()) for it in task.splits()["train"])


def test_docvqa_image_root_option_for_reference_style_paths(tmp_path: Path) -> None:
    # The reference implementation's split files name images relative to its repository root.
    repo = tmp_path / "repo"
    (repo / "data" / "docvqa_images").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(repo / "data" / "docvqa_images" / "q1_d2.png")
    split = repo / "data" / "docvqa_split"
    for name, qid in (("train", "1"), ("val", "5"), ("test", "6")):
        (split / name).mkdir(parents=True)
        row = {"id": qid, "question": "q", "answers": ["a"]}
        row["image_path"] = "data/docvqa_images/q1_d2.png"
        (split / name / "items.json").write_text(json.dumps([row]))
    with pytest.raises(TaskDataError, match="not found"):
        get_task("docvqa", split_dir=str(split))
    task = get_task("docvqa", split_dir=str(split), image_root=str(repo))
    assert Path(task.splits()["val"][0].meta["image_path"]).is_file()
