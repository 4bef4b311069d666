"""SpreadsheetBench: materializer, loader, scorer and sandboxed rollout on a three-item fixture
release (tests/fixtures/paper/spreadsheetbench, rebuilt by its build.py)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tarfile
from pathlib import Path

import openpyxl
import pytest

from skillfit.models.base import InfraError
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.tasks.base import TaskDataError
from skillfit.tasks.paper import spreadsheetbench as ssb
from skillfit.tasks.paper.common import MissingRawDataError
from skillfit.tasks.sandbox import _probe_bwrap


@pytest.fixture(autouse=True)
def _sandbox_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check the task's logic; containment is tests/reliability/test_containment.py.
    Where bubblewrap cannot run, they opt in to the basic sandbox rather than be refused."""
    if _probe_bwrap() is None:
        monkeypatch.setenv("SKILLFIT_SANDBOX", "basic")


FIXTURE = Path(__file__).parent / "fixtures" / "paper" / "spreadsheetbench"
RAW = FIXTURE / "raw"
MANIFEST = FIXTURE / "manifest"

SOLUTIONS = {
    "101": """
import openpyxl
wb = openpyxl.load_workbook("input.xlsx")
ws = wb.active
ws["A5"] = "Total"
ws["B5"] = sum(ws.cell(row=r, column=2).value for r in range(2, 5))
wb.save("output.xlsx")
""",
    "202-1": """
import openpyxl
wb = openpyxl.load_workbook("input.xlsx")
ws = wb["Stock"]
for r in range(2, ws.max_row + 1):
    ws.cell(row=r, column=1).value = ws.cell(row=r, column=1).value.upper()
wb.save("output.xlsx")
""",
    "303": """
import openpyxl
wb = openpyxl.load_workbook("input.xlsx")
ws = wb.active
ws["C1"] = "Double"
for r in range(2, ws.max_row + 1):
    ws.cell(row=r, column=3).value = 2 * ws.cell(row=r, column=2).value
wb.save("output.xlsx")
""",
}


def solver(req: Request) -> str:
    """Answers each fixture item with working code, recognised by its instruction."""
    user = req.last_user
    key = "101" if "total quantity" in user else "202-1" if "upper case" in user else "303"
    return f"Here is the code:\n```python\n{SOLUTIONS[key]}```\n"


@pytest.fixture
def split_dir(tmp_path: Path) -> Path:
    out = tmp_path / "ssb"
    result = ssb.materialize(RAW, out, MANIFEST)
    assert result.counts == {"train": 1, "val": 1, "test": 1}
    return out


def test_materialize_builds_loadable_split_dir(split_dir: Path) -> None:
    items = ssb.load_items(split_dir)
    assert [it.id for s in ("train", "val", "test") for it in items[s]] == ["101", "202-1", "303"]
    test_item = items["test"][0]
    assert len(test_item.target["cases"]) == 2  # the original release's three-case layout
    assert test_item.meta["instruction_type"] == "Sheet-Level Manipulation"
    assert "Answer position: C1:C4" in test_item.input
    # Spreadsheet folders were copied next to items.json, so the split dir stands alone.
    assert (split_dir / "spreadsheet" / "101" / "1_101_init.xlsx").is_file()


def test_materialize_from_release_tarball(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    with tarfile.open(raw / "spreadsheetbench_verified_400.tar.gz", "w:gz") as tar:
        tar.add(RAW / "spreadsheetbench_verified_400", arcname="spreadsheetbench_verified_400")
    result = ssb.materialize(raw, tmp_path / "out", MANIFEST)
    assert sum(result.counts.values()) == 3


def test_materialize_with_paper_manifest_names_missing_files(tmp_path: Path) -> None:
    with pytest.raises(MissingRawDataError) as err:
        ssb.materialize(RAW, tmp_path / "out")  # the shipped 400-item manifest
    message = str(err.value)
    assert "dataset.json row with id" in message
    assert "huggingface.co/datasets/KAKA22/SpreadsheetBench" in message


def test_materialize_without_raw_dir(tmp_path: Path) -> None:
    with pytest.raises(MissingRawDataError, match="does not exist.*KAKA22"):
        ssb.materialize(tmp_path / "nowhere", tmp_path / "out", MANIFEST)


def test_materialize_raw_dir_without_release(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(MissingRawDataError, match="dataset.json"):
        ssb.materialize(tmp_path / "raw", tmp_path / "out", MANIFEST)


def test_rollout_runs_code_in_sandbox_and_scores(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir))
    model = ScriptedModel(solver)
    for split in ("train", "val", "test"):
        item = task.splits()[split][0]
        traj = task.rollout(model, "# Skill\nUse openpyxl.", item)
        assert traj.ok, traj.error
        assert traj.score is not None
        assert (traj.score.hard, traj.score.soft) == (1, 1.0), traj.score.feedback
        assert "All answer cells match" in traj.score.feedback
        assert traj.tool_calls and all(c["returncode"] == 0 for c in traj.tool_calls)
    # Prompt order: skill first in the system message, then the fixed instructions; the user
    # message carries the item with a cell preview of its input workbook.
    request = model.calls[0]
    assert request.system.startswith("# Skill")
    assert "output.xlsx" in request.system
    assert "row | A | B" in request.last_user and "apple" in request.last_user


def test_rollout_partial_credit_names_mismatching_cells(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir))
    item = task.splits()["train"][0]  # 101: A5 label and B5 total
    wrong = SOLUTIONS["101"].replace('ws["B5"] = sum', 'ws["B5"] = 1 + sum')
    traj = task.rollout(ScriptedModel(lambda r: f"```python\n{wrong}```"), "", item)
    assert traj.score is not None
    assert traj.score.hard == 0 and traj.score.soft == pytest.approx(0.5)
    assert "Sheet1!B5: expected 9.5, got 10.5" in traj.score.feedback


def test_rollout_exception_and_missing_output_in_feedback(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir))
    item = task.splits()["test"][0]
    code = "import openpyxl\nwb = openpyxl.load_workbook('input.xlsx')\nwb['Nope']\n"
    traj = task.rollout(ScriptedModel(lambda r: f"```python\n{code}```"), "", item)
    assert traj.score is not None and traj.score.hard == 0 and traj.score.soft == 0.0
    assert "KeyError" in traj.score.feedback
    assert "did not save output.xlsx" in traj.score.feedback
    assert "Test case 2" in traj.score.feedback  # both OJ-style cases reported


def test_rollout_timeout_in_feedback(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir), timeout_s=1)
    item = task.splits()["train"][0]
    traj = task.rollout(ScriptedModel(lambda r: "```python\nwhile True:\n    pass\n```"), "", item)
    assert traj.score is not None and traj.score.hard == 0
    assert "time limit" in traj.score.feedback
    assert traj.tool_calls[0]["killed_reason"] == "timeout"


def test_rollout_sandbox_blocks_escape(split_dir: Path, tmp_path: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir))
    item = task.splits()["train"][0]
    target = tmp_path / "escaped.txt"
    code = f"open({str(target)!r}, 'w').write('x')\n"
    traj = task.rollout(ScriptedModel(lambda r: f"```python\n{code}```"), "", item)
    assert not target.exists()
    assert traj.score is not None and traj.score.hard == 0


def test_rollout_code_cannot_read_the_gold_workbook(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir))
    item = task.splits()["train"][0]
    gold = item.target["cases"][0]["gold"]
    cheat = f"import shutil\nshutil.copyfile({gold!r}, 'output.xlsx')\n"
    traj = task.rollout(ScriptedModel(lambda r: f"```python\n{cheat}```"), "", item)
    assert traj.score is not None and traj.score.hard == 0
    assert traj.score.soft == 0.0


def test_rollout_without_code_block(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir))
    item = task.splits()["train"][0]
    traj = task.rollout(ScriptedModel(lambda r: "I would sum the column."), "", item)
    assert traj.score is not None and traj.score.hard == 0
    assert "No ```python code block" in traj.score.feedback
    assert traj.tool_calls == []


def test_rollout_infra_error_is_not_a_score(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir))

    def broken(req: Request) -> str:
        raise InfraError("server down")

    traj = task.rollout(ScriptedModel(broken), "", task.splits()["train"][0])
    assert not traj.ok and traj.score is None and "server down" in (traj.error or "")


def test_retry_after_a_crash_sees_the_error_not_the_answer(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir), max_attempts=3)
    item = task.splits()["train"][0]
    crash = "```python\nwb = openpyxl.load_workbook('input.xlsx')\n```"
    replies = iter([crash, f"```python\n{SOLUTIONS['101']}```"])
    model = ScriptedModel(lambda r: next(replies))
    traj = task.rollout(model, "", item)
    assert traj.score is not None and traj.score.hard == 1
    assert traj.score.feedback.endswith("(attempt 2)")
    retry = model.calls[1].last_user
    assert "NameError" in retry and "corrected" in retry
    assert "9.5" not in retry  # the expected cell values never reach the model
    assert [c["attempt"] for c in traj.tool_calls] == [1, 2]


def test_no_retry_when_code_runs_but_is_wrong(split_dir: Path) -> None:
    task = ssb.make_task(split_dir=str(split_dir), max_attempts=3)
    item = task.splits()["train"][0]
    wrong = SOLUTIONS["101"].replace('ws["B5"] = sum', 'ws["B5"] = 1 + sum')
    model = ScriptedModel(lambda r: f"```python\n{wrong}```")
    traj = task.rollout(model, "", item)
    assert traj.score is not None and traj.score.hard == 0 and len(model.calls) == 1


def test_registered_and_sizes(split_dir: Path) -> None:
    from skillfit.tasks.registry import get_task

    task = get_task("spreadsheetbench", split_dir=str(split_dir), n_test=0)
    assert task.name == "spreadsheetbench"
    assert [len(task.splits()[s]) for s in ("train", "val", "test")] == [1, 1, 0]
    assert "openpyxl" in task.initial_skill


# ----------------------------------------------------------------------------- scorer


def make_book(path: Path, cells: dict[str, object], title: str = "Sheet1") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    for ref, value in cells.items():
        ws[ref] = value
    wb.save(path)
    return path


def test_values_match_normalization() -> None:
    assert ssb.values_match(3, 3.0)
    assert ssb.values_match(1.234, 1.2341)
    assert not ssb.values_match(1.23, 1.25)
    assert ssb.values_match(" total ", "total")
    assert ssb.values_match("", None)
    assert ssb.values_match("12", 12)
    assert not ssb.values_match("abc", "ABC")
    assert ssb.values_match(dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 2))
    assert not ssb.values_match(True, "True")


def test_compare_workbooks(tmp_path: Path) -> None:
    gold = make_book(tmp_path / "g.xlsx", {"A1": 1, "A2": "x", "B1": 2.5, "B2": None})
    out = make_book(tmp_path / "o.xlsx", {"A1": 1.0, "A2": "x ", "B1": "=A1*2.5", "B2": ""})
    result = ssb.compare_workbooks(gold, out, "A1:B2")
    assert (result.n_cells, result.n_match) == (4, 3)
    assert result.mismatches == [
        "Sheet1!B1: expected 2.5, got formula '=A1*2.5' (not evaluated; write the value)"
    ]
    missing = ssb.compare_workbooks(gold, tmp_path / "none.xlsx", "A1:B2")
    assert missing.n_cells == 4 and missing.n_match == 0 and "did not save" in missing.problem


def test_compare_highlight_colors(tmp_path: Path) -> None:
    from openpyxl.styles import Font, PatternFill

    def book(path: Path, red: bool) -> Path:
        wb = openpyxl.Workbook()
        ws = wb.active
        assert ws is not None
        ws["A1"], ws["A2"] = 1, 2
        if red:
            ws["A2"].fill = PatternFill("solid", fgColor="FFFF0000")
            ws["A1"].font = Font(color="FF0000FF")
        wb.save(path)
        return path

    gold = book(tmp_path / "g.xlsx", red=True)
    assert ssb.compare_workbooks(gold, book(tmp_path / "same.xlsx", red=True), "A1:A2").n_match == 2
    plain = ssb.compare_workbooks(gold, book(tmp_path / "plain.xlsx", red=False), "A1:A2")
    assert plain.n_match == 0
    assert plain.mismatches == [
        "Sheet!A1: value right but font color is 000000, expected 0000FF",
        "Sheet!A2: value right but fill color is 000000, expected FF0000",
    ]


def test_compare_named_sheets_and_whole_columns(tmp_path: Path) -> None:
    gold = make_book(tmp_path / "g.xlsx", {"A1": "h", "A2": 1, "A3": 2}, title="Data")
    out = make_book(tmp_path / "o.xlsx", {"A1": "h", "A2": 1, "A3": 3}, title="Data")
    result = ssb.compare_workbooks(gold, out, "'Data'!A:A")
    assert (result.n_cells, result.n_match) == (3, 2)
    other = make_book(tmp_path / "x.xlsx", {"A1": "h"}, title="Other")
    assert "missing" in ssb.compare_workbooks(gold, other, "Data!A1:A3").mismatches[0]


def test_parse_answer_position() -> None:
    assert ssb.parse_answer_position("A1:C5", "S") == [("S", "A1:C5")]
    assert ssb.parse_answer_position("'My, sheet'!$B$2,Sheet2!C3:D4", "S") == [
        ("My, sheet", "B2"),
        ("Sheet2", "C3:D4"),
    ]
    with pytest.raises(ValueError):
        ssb.parse_answer_position("not a range!", "S")


def test_extract_code() -> None:
    assert ssb.extract_code("x\n```python\nprint(1)\n```\n```\nprint(2)\n```") == "print(1)\n"
    assert ssb.extract_code("```\nprint(2)\n```") == "print(2)\n"
    assert ssb.extract_code("```python\nprint(3)\n# cut off") == "print(3)\n# cut off"
    assert ssb.extract_code("no code here") is None


# ----------------------------------------------------------------------------- bad data


def write_split(root: Path, rows_by_split: dict[str, list[object]]) -> Path:
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / "items.json").write_text(json.dumps(rows_by_split.get(split, [])))
    return root


def good_row(split_dir: Path, item_id: str = "101") -> dict[str, object]:
    return {
        "id": item_id,
        "instruction": "x",
        "answer_position": "A1",
        "spreadsheet_path": str(split_dir / "spreadsheet" / "101"),
    }


def test_bad_data_missing_field(split_dir: Path, tmp_path: Path) -> None:
    row = good_row(split_dir)
    del row["instruction"]
    root = write_split(tmp_path / "bad", {"train": [row]})
    with pytest.raises(
        TaskDataError, match=r"train/items.json item 0 \(id '101'\): missing field 'instruction'"
    ):
        ssb.load_items(root)


def test_bad_data_wrong_type(split_dir: Path, tmp_path: Path) -> None:
    row = {**good_row(split_dir), "answer_position": 5}
    root = write_split(tmp_path / "bad", {"val": [row]})
    with pytest.raises(TaskDataError, match=r"val/items.json.*'answer_position' must be str"):
        ssb.load_items(root)


def test_bad_data_duplicate_id(split_dir: Path, tmp_path: Path) -> None:
    root = write_split(
        tmp_path / "bad", {"train": [good_row(split_dir)], "test": [good_row(split_dir)]}
    )
    with pytest.raises(TaskDataError, match=r"test/items.json item 0: duplicate id '101'"):
        ssb.load_items(root)


def test_bad_data_missing_spreadsheet(split_dir: Path, tmp_path: Path) -> None:
    row = {**good_row(split_dir, "555")}
    root = write_split(tmp_path / "bad", {"train": [row]})
    with pytest.raises(TaskDataError, match=r"id '555'.*no test cases"):
        ssb.load_items(root)
    shutil.rmtree(split_dir / "spreadsheet" / "101")
    with pytest.raises(TaskDataError, match="no test cases"):
        ssb.load_items(split_dir)


def test_bad_answer_position(split_dir: Path, tmp_path: Path) -> None:
    row = {**good_row(split_dir), "answer_position": "Sheet1!"}
    root = write_split(tmp_path / "bad", {"train": [row]})
    with pytest.raises(TaskDataError, match=r"id '101'.*bad answer_position"):
        ssb.load_items(root)


def test_split_dir_required() -> None:
    with pytest.raises(TaskDataError, match="split_dir is required"):
        ssb.make_task()
