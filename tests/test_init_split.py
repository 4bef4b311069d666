"""`skillfit init --split`: the splits from the data's own column, or drawn by seed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import skillfit.api
from skillfit.cli import app
from skillfit.tasks import get_task

runner = CliRunner()
SPLITS = ("train", "val", "test")


def write_csv(path: Path, labels: list[str], column: str = "split") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["question", "answer", column])
        for i, label in enumerate(labels):
            out.writerow([f"What is {i} plus 1?", str(i + 1), label])
    return path


def cycling(n: int = 90) -> list[str]:
    return [SPLITS[i % 3] for i in range(n)]


def init(directory: Path, data: Path, *args: str):
    return runner.invoke(app, ["init", str(directory), "--data", str(data), *args])


def loaded(project: Path):
    """The task the written config builds, with the options it holds."""
    cfg = skillfit.api.load(project / "skillfit.yaml")
    options = dict(cfg.task.options)
    task = get_task(cfg.task.name, **options, base_dir=cfg.task.base_dir)
    return options, task.splits()


def test_a_column_named_split_is_read_as_the_splits(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "apples.csv", cycling())
    result = init(tmp_path / "p", data)
    assert result.exit_code == 0, result.output
    said = "from the column `split`: train 30, val 30, test 30"
    assert f"data: ../apples.csv ({said})" in result.output
    assert "The splits come from the column `split`: train 30, val 30, test 30." in (
        (tmp_path / "p" / "README.md").read_text()
    )
    options, splits = loaded(tmp_path / "p")
    assert options["split"] == "split"
    assert {s: len(splits[s]) for s in SPLITS} == {"train": 30, "val": 30, "test": 30}
    # each row is in the split it names (row i says SPLITS[i % 3], its answer is i + 1)
    assert all(SPLITS[(int(item.target) - 1) % 3] == s for s in SPLITS for item in splits[s])


def test_split_none_draws_the_splits_by_seed_even_so(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "apples.csv", cycling())
    result = init(tmp_path / "p", data, "--split", "none")
    assert result.exit_code == 0, result.output
    assert "data: ../apples.csv (drawn from the file by seed: train 30, val 15, test 45)" in (
        result.output
    )
    assert "The splits are drawn from the file by seed: train 30, val 15, test 45." in (
        (tmp_path / "p" / "README.md").read_text()
    )
    options, splits = loaded(tmp_path / "p")
    assert "split" not in options
    assert {s: len(splits[s]) for s in SPLITS} == {"train": 30, "val": 15, "test": 45}


def test_a_named_column_and_a_split_column_that_is_not_one(tmp_path: Path) -> None:
    # `split` here is something else (a batch letter); `part` holds the splits, aliases and all
    part = ["training", "validation", "TEST", "dev", "train", "test"]
    rows = [
        {"question": f"q{i}", "answer": str(i), "split": "AB"[i % 2], "part": part[i % 6]}
        for i in range(60)
    ]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    auto = init(tmp_path / "auto", data)
    assert auto.exit_code == 0, auto.output
    assert "(drawn from the file by seed: " in auto.output
    assert "note: the column `split` is not read as the splits" in auto.output
    assert "mine.jsonl: line 1 says 'A', not train, val or test" in auto.output
    assert "split" not in loaded(tmp_path / "auto")[0]

    named = init(tmp_path / "named", data, "--split", "part")
    assert named.exit_code == 0, named.output
    assert "from the column `part`: train 20, val 20, test 20" in named.output
    options, splits = loaded(tmp_path / "named")
    assert options["split"] == "part"
    assert {s: len(splits[s]) for s in SPLITS} == {"train": 20, "val": 20, "test": 20}


def test_a_missing_column_is_refused_and_nothing_written(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "apples.csv", cycling())
    result = init(tmp_path / "p", data, "--split", "part")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {data}: no column 'part' (task option split); the file's columns are: "
        "question, answer, split"
    ]
    assert not (tmp_path / "p").exists()
    without = runner.invoke(app, ["init", str(tmp_path / "q"), "--split", "part"])
    assert without.exit_code == 2 and "give the file with --data" in without.output
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize("args", [(), ("--split", "split")])
def test_bad_values_in_a_split_column(tmp_path: Path, args: tuple[str, ...]) -> None:
    labels = cycling()
    labels[4] = "holdout"  # the file's line 6
    data = write_csv(tmp_path / "apples.csv", labels)
    result = init(tmp_path / "p", data, *args)
    if not args:  # found by its name only: left aside, and the user told why
        assert result.exit_code == 0, result.output
        assert "(drawn from the file by seed: " in result.output
        assert "apples.csv: line 6 says 'holdout', not train, val or test" in result.output
        return
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {data}: line 6: field 'split': unknown split 'holdout'; use train, val "
        "(or validation, dev) or test"
    )
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("swap", "message"),
    [
        ("val", "column 'split' names no val rows (train 60, val 0, test 30); mark some rows val"),
        (
            "test",
            "column 'split' names no test rows (train 60, val 30, test 0); mark some rows test",
        ),
    ],
)
def test_a_split_column_with_an_empty_split_is_refused(
    tmp_path: Path, swap: str, message: str
) -> None:
    data = write_csv(tmp_path / "apples.csv", ["train" if s == swap else s for s in cycling()])
    result = init(tmp_path / "p", data)
    assert result.exit_code == 2
    assert f"error: {data}: {message}; or --split none" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()
    assert init(tmp_path / "p", data, "--split", "none").exit_code == 0


def test_empty_cells_of_an_auto_split_column_are_named(tmp_path: Path) -> None:
    labels = cycling()
    labels[2] = ""
    data = write_csv(tmp_path / "apples.csv", labels)
    result = init(tmp_path / "p", data)
    assert result.exit_code == 2
    said = "line 4: field 'split' is empty (task option split); or --split none"
    assert f"error: {data}: {said}" in result.output


def test_a_column_name_yaml_would_misread_is_quoted(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "apples.csv", cycling(), column="null")
    result = init(tmp_path / "p", data, "--split", "null")
    assert result.exit_code == 0, result.output
    assert 'split: "null"' in (tmp_path / "p" / "skillfit.yaml").read_text()
    options, splits = loaded(tmp_path / "p")
    assert options["split"] == "null" and len(splits["val"]) == 30


def test_input_and_answer_columns_yaml_would_misread_are_quoted(tmp_path: Path) -> None:
    data = tmp_path / "yes.csv"
    data.write_text("yes,on: off\n" + "".join(f"What is {i} plus 1?,{i + 1}\n" for i in range(30)))
    result = init(tmp_path / "p", data, "--input", "yes", "--target", "on: off")
    assert result.exit_code == 0, result.output
    options, splits = loaded(tmp_path / "p")
    assert (options["input"], options["target"]) == ("yes", "on: off")
    assert sum(len(s) for s in splits.values()) == 30


def test_a_parquet_split_column_is_found(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"question": f"q{i}", "answer": str(i), "split": s} for i, s in enumerate(cycling(30))]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    result = init(tmp_path / "p", tmp_path / "d.parquet")
    assert result.exit_code == 0, result.output
    assert "from the column `split`: train 10, val 10, test 10" in result.output
    assert loaded(tmp_path / "p")[0]["split"] == "split"


@pytest.mark.parametrize("larger_installed", [True, False])
def test_the_larger_embedded_model_optimizes_for_the_small_one_when_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, larger_installed: bool
) -> None:
    import skillfit.models.local.weights as weights

    monkeypatch.setattr(weights, "installed", lambda info: larger_installed)
    data = write_csv(tmp_path / "apples.csv", cycling())
    result = init(tmp_path / "p", data)
    assert result.exit_code == 0, result.output
    cfg = skillfit.api.load(tmp_path / "p" / "skillfit.yaml")
    expected = "local:qwen2.5-coder-1.5b" if larger_installed else "local:qwen2.5-coder-0.5b"
    assert (cfg.target.model, cfg.optimizer.model) == ("local:qwen2.5-coder-0.5b", expected)
    assert f"optimizer {expected}" in result.output
    assert ("skillfit[local-1-5b]" in result.output) is not larger_installed

    # A hosted target optimizes itself, as before; a named optimizer is kept.
    result = init(tmp_path / "q", data, "--model", "openai:gpt-5.4-mini")
    assert skillfit.api.load(tmp_path / "q" / "skillfit.yaml").optimizer.model == (
        "openai:gpt-5.4-mini"
    )
