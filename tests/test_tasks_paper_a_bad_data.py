"""Paper benchmarks: malformed split directories raise TaskDataError naming file and item."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from skillfit.tasks.base import TaskDataError
from skillfit.tasks.registry import get_task

FIX = Path(__file__).parent / "fixtures" / "paper"


def _copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(FIX / name / "split", root)
    return root


def _edit(root: Path, split: str, change: Any) -> Path:
    path = root / split / "items.json"
    rows = json.loads(path.read_text())
    path.write_text(json.dumps(change(rows)))
    return path


def _set(index: int, **fields: Any) -> Any:
    def change(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for key, value in fields.items():
            if value is ...:
                rows[index].pop(key)
            else:
                rows[index][key] = value
        return rows

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(1, question=...), r"item 1 \(id 'sq-tr-2'\): missing field 'question'"),
        (
            _set(1, answers="Nile"),
            r"item 1 \(id 'sq-tr-2'\): field 'answers' must be list, got str",
        ),
        (_set(1, answers=[]), r"\(id 'sq-tr-2'\): 'answers' must be a non-empty list"),
        (_set(1, context=None), r"\(id 'sq-tr-2'\): missing field 'context'"),
        (_set(0, id=...), r"item 0: missing or invalid 'id'"),
        (
            _set(1, id="sq-va-1"),
            r"item 1: duplicate id 'sq-va-1' \(already used at .*val/items\.json item 0\)",
        ),
        (lambda rows: rows[:1] + [rows[0]], r"item 1: duplicate id 'sq-tr-1'"),
        (lambda rows: {"items": rows}, r"expected a JSON array of items, got dict"),
        (lambda rows: [*rows, "loose string"], r"item 3: expected a JSON object, got str"),
    ],
)
def test_searchqa_bad_rows(tmp_path: Path, change: Any, message: str) -> None:
    root = _copy("searchqa", tmp_path)
    split = "test" if "sq-va-1" in message else "train"
    path = _edit(root, split, change)
    with pytest.raises(TaskDataError, match=message) as err:
        get_task("searchqa", split_dir=str(root))
    assert str(path) in str(err.value)


def test_missing_split_file_and_broken_json(tmp_path: Path) -> None:
    root = _copy("searchqa", tmp_path)
    (root / "val" / "items.json").write_text("[{")
    with pytest.raises(TaskDataError, match=r"val/items\.json: not readable JSON"):
        get_task("searchqa", split_dir=str(root))
    (root / "val" / "items.json").unlink()
    with pytest.raises(TaskDataError, match=r"val/items\.json is missing"):
        get_task("searchqa", split_dir=str(root))
    with pytest.raises(TaskDataError, match="does not exist"):
        get_task("searchqa", split_dir=str(tmp_path / "nowhere"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(0, correct_choice={"label": "E", "text": "?"}), r"correct label 'E' is not one of"),
        (_set(0, choices=[]), r"'choices' must hold 1 to"),
        (_set(0, choices=[{"label": "A"}]), r"each choice must be an object with string label"),
        (_set(0, choices="A, B"), r"field 'choices' must be list, got str"),
        (_set(0, theorem_type=3), r"field 'theorem_type' must be list or str, got int"),
    ],
)
def test_livemath_bad_rows(tmp_path: Path, change: Any, message: str) -> None:
    root = _copy("livemath", tmp_path)
    path = _edit(root, "val", change)
    with pytest.raises(TaskDataError, match=message) as err:
        get_task("livemathematicianbench", split_dir=str(root))
    assert str(path) in str(err.value) and "202511:3" in str(err.value)


def test_officeqa_bad_rows(tmp_path: Path) -> None:
    root = _copy("officeqa", tmp_path)
    _edit(root, "test", _set(0, ground_truth=[1]))
    with pytest.raises(TaskDataError, match=r"\(id 'UID0004'\): field 'ground_truth' must be str"):
        get_task("officeqa", split_dir=str(root))
    _edit(root, "test", _set(0, ground_truth="1"))
    shutil.rmtree(root / "docs" / "UID0004")
    with pytest.raises(TaskDataError, match=r"test/items\.json \(id 'UID0004'\): document folder"):
        get_task("officeqa", split_dir=str(root))


def test_docvqa_missing_image_and_bad_answers(tmp_path: Path) -> None:
    root = tmp_path / "dv"
    for split, qid in (("train", "1"), ("val", "2"), ("test", "3")):
        (root / split).mkdir(parents=True)
        row = {"id": qid, "question": "q", "answers": ["a"], "image_path": f"images/{qid}.png"}
        (root / split / "items.json").write_text(json.dumps([row]))
    with pytest.raises(
        TaskDataError, match=r"train/items\.json \(id '1'\): image .*1\.png not found"
    ):
        get_task("docvqa", split_dir=str(root))
    (root / "train" / "items.json").write_text(
        json.dumps([{"id": "1", "question": "q", "answers": [3], "image_path": "x.png"}])
    )
    with pytest.raises(
        TaskDataError, match=r"\(id '1'\): 'answers' must be a non-empty list of strings"
    ):
        get_task("docvqa", split_dir=str(root))
