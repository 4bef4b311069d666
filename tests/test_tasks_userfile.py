"""The `file` task: a user's data file read, checked and split; paths relative to the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillfit.api import build_task
from skillfit.tasks import TaskDataError, get_task
from skillfit.train.config import config_hash, load_config


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def qa_rows(n: int, **extra: object) -> list[dict]:
    return [{"q": f"What is {i} plus {i}?", "a": str(2 * i), **extra} for i in range(n)]


def test_jsonl_with_a_split_column_keeps_each_rows_split(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "q": "one?", "a": "1", "part": "train"},
        {"id": "b", "q": "two?", "a": "2", "part": "validation"},
        {"id": "c", "q": "three?", "a": "3", "part": "test", "note": "kept"},
        {"id": "d", "q": "four?", "a": "4", "part": "TRAIN"},
    ]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    task = get_task("file", path=str(path), input="q", target="a", id="id", split="part")
    splits = task.splits()
    assert [i.id for i in splits["train"]] == ["a", "d"]
    assert [i.id for i in splits["val"]] == ["b"] and [i.id for i in splits["test"]] == ["c"]
    assert splits["test"][0].meta["note"] == "kept" and splits["test"][0].target == "3"
    manifest = task.split_manifest()  # type: ignore[attr-defined]
    assert manifest["task"] == "file" and len(manifest["data_sha256"]) == 64
    # n_* keep the first rows of a split
    small = get_task("file", path=str(path), input="q", target="a", split="part", n_train=1)
    assert len(small.splits()["train"]) == 1


def test_csv_splits_drawn_by_seed_are_disjoint_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("question,answer\n" + "".join(f"q{i}?,{i}\n" for i in range(30)))
    one = get_task("file", path=str(path), input="question", target="answer", seed=3)
    two = get_task("file", path=str(path), input="question", target="answer", seed=3)
    other = get_task("file", path=str(path), input="question", target="answer", seed=4)
    s1 = one.splits()
    ids = [set(i.id for i in s1[s]) for s in ("train", "val", "test")]
    assert sum(map(len, ids)) == len(set().union(*ids)) == 30  # 10 / 5 / 15, disjoint
    assert [len(x) for x in ids] == [10, 5, 15]
    assert one.split_manifest() == two.split_manifest()  # type: ignore[attr-defined]
    assert s1["test"] != other.splits()["test"]
    # the test split of a seed does not move when n_train changes
    fewer = get_task("file", path=str(path), input="question", target="answer", seed=3, n_train=4)
    test_ids = [i.id for i in s1["test"]]
    assert [i.id for i in fewer.splits()["test"]][: len(test_ids)] == test_ids


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"q": [f"q{i}?" for i in range(12)], "a": [float(i) for i in range(12)]})
    pq.write_table(table, tmp_path / "d.parquet")
    task = get_task(
        "file", path=str(tmp_path / "d.parquet"), input="q", target="a", scorer="numeric"
    )
    items = [i for s in task.splits().values() for i in s]
    assert len(items) == 12 and all(isinstance(i.target, int) for i in items)


@pytest.mark.parametrize(
    ("name", "content", "options", "message"),
    [
        (
            "d.jsonl",
            '{"q": "a?", "a": "1"}\n{"q": "b?"}\n',
            {},
            "d.jsonl: line 2: missing field 'a'",
        ),
        (
            "d.jsonl",
            '{"q": "a?", "a": "1"}\n{"q": "  ", "a": "2"}\n',
            {},
            "line 2: field 'q' is empty",
        ),
        (
            "d.jsonl",
            '{"id": 1, "q": "a?", "a": "1"}\n{"id": 1, "q": "b?", "a": "2"}\n',
            {"id": "id"},
            "line 2: field 'id': duplicate id '1' (first at line 1)",
        ),
        (
            "d.jsonl",
            '{"q": "a?", "a": "1", "s": "train"}\n{"q": "A?", "a": "1", "s": "test"}\n',
            {"split": "s"},
            "line 2: field 'q': this input is in split test and, at line 1, in split train",
        ),
        (
            "d.jsonl",
            '{"q": "a?", "a": "1"}\n\n{"q": "a? ", "a": "2"}\n',
            {},
            "line 3: field 'q': the same input as line 1",
        ),
        (
            "d.jsonl",
            '{"q": "a?", "a": "1", "s": "holdout"}\n',
            {"split": "s"},
            "unknown split 'holdout'",
        ),
        ("d.jsonl", "q,a\nx?,1\n", {}, "d.jsonl: line 1: not a JSON object per line"),
        ("d.csv", '{"q": "a?", "a": "1"}\n', {}, "holds JSON, not CSV"),
        (
            "d.csv",
            "q,b\nx?,1\n",
            {},
            "no column 'a' (task option target); the file's columns are: q, b",
        ),
        ("d.csv", "q,a\nx?,1\ny?\n", {}, "d.csv: line 3: missing field 'a'"),
        ("d.csv", "q,a\nx?,1\ny?,2,3\n", {}, "line 3: 3 fields but the header names 2"),
        ("d.parquet", '{"q": "a?"}\n', {}, "is not a Parquet file"),
        ("d.txt", "q,a\n", {}, "cannot tell the format from the extension '.txt'"),
    ],
)
def test_bad_data_is_refused_naming_file_line_and_field(
    tmp_path: Path, name: str, content: str, options: dict, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TaskDataError) as info:
        get_task("file", path=str(path), input="q", target="a", **options)
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value) or "extension" in str(info.value)


@pytest.mark.parametrize(("name", "sep"), [("d.csv", ","), ("d.tsv", "\t")])
def test_a_field_over_128_kb_is_read_like_the_same_field_in_jsonl(
    tmp_path: Path, name: str, sep: str
) -> None:
    """Issue 23: the csv module's default field limit (128 KB) called such a file "not valid
    CSV"; the file's own size limit is what bounds a field."""
    long = "word " * 60_000  # 300 KB
    (tmp_path / name).write_text(
        f"q{sep}a\n" + "".join(f'"{long}{i}?"{sep}{i}\n' for i in range(12))
    )
    write_jsonl(tmp_path / "d.jsonl", [{"q": f"{long}{i}?", "a": str(i)} for i in range(12)])
    got = get_task("file", path=str(tmp_path / name), input="q", target="a", seed=1).splits()
    ref = get_task("file", path=str(tmp_path / "d.jsonl"), input="q", target="a", seed=1).splits()
    assert {k: [(i.input, i.target) for i in v] for k, v in got.items()} == {
        k: [(i.input, i.target) for i in v] for k, v in ref.items()
    }
    assert len(got["train"][0].input) > 300_000


def test_targets_the_scorer_cannot_use_are_refused_before_a_run(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("q,a\nx?,12\ny?,twelve\n")
    with pytest.raises(TaskDataError, match=r"d.csv: line 3: field 'a': 'twelve' holds no number"):
        get_task("file", path=str(path), input="q", target="a", scorer="numeric")
    with pytest.raises(TaskDataError, match=r"line 2: field 'a': '12' is not an option letter"):
        get_task("file", path=str(path), input="q", target="a", scorer="choice")


def test_a_parquet_file_named_csv_and_binary_garbage_are_refused(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"PAR1\x00\x01binary")
    with pytest.raises(TaskDataError, match="is a Parquet file, not CSV"):
        get_task("file", path=str(tmp_path / "d.csv"), input="q", target="a")
    (tmp_path / "e.jsonl").write_bytes(b'{"q": "x"}\n\xff\xfe\n')
    with pytest.raises(TaskDataError, match=r"e.jsonl: line 2: not UTF-8"):
        get_task("file", path=str(tmp_path / "e.jsonl"), input="q", target="a")


def test_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_jsonl(project / "data.jsonl", qa_rows(12))
    (project / "start.md").write_text("# Start\n\n## Rule\nAdd carefully.\n")
    (project / "run.yaml").write_text(
        "task:\n  name: file\n  options: {path: data.jsonl, input: q, target: a, "
        "initial_skill: start.md}\n"
    )
    monkeypatch.chdir(tmp_path)  # elsewhere
    cfg = load_config(project / "run.yaml")
    assert cfg.task.base_dir == str(project.resolve())
    task = build_task(cfg)
    assert "Add carefully." in task.initial_skill
    assert sum(len(s) for s in task.splits().values()) == 12
    # moving the project does not change the run's identity
    moved = tmp_path / "moved"
    project.rename(moved)
    assert config_hash(load_config(moved / "run.yaml")) == config_hash(cfg)


def test_a_missing_target_column_is_allowed_only_for_a_rubric_judge(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"q": f"q{i}"} for i in range(6)])
    with pytest.raises(TaskDataError, match="compares with a target"):
        get_task("file", path=str(path), input="q", target=None)
    with pytest.raises(TaskDataError, match="needs a rubric"):
        get_task(
            "file",
            path=str(path),
            input="q",
            target=None,
            scorer={"kind": "judge", "model": "scripted:echo"},
        )
    task = get_task(
        "file",
        path=str(path),
        input="q",
        target=None,
        scorer={"kind": "judge", "model": "scripted:echo", "rubric": "Is it polite?"},
    )
    assert all(i.target is None for s in task.splits().values() for i in s)


def test_tiny_files_say_which_split_would_be_empty(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", qa_rows(2))
    with pytest.raises(TaskDataError, match="split would be empty"):
        get_task("file", path=str(path), input="q", target="a")


def test_a_split_column_naming_no_val_rows_says_so(tmp_path: Path) -> None:
    rows = [{"q": f"q{i}", "a": str(i), "part": "train" if i % 2 else "test"} for i in range(6)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(
        TaskDataError, match=r"d.jsonl: column 'part' names no val rows \(train 3, val 0, test 3\)"
    ):
        get_task("file", path=str(path), input="q", target="a", split="part")


def test_the_documented_name_option_names_the_task(tmp_path: Path) -> None:
    data = tmp_path / "capitals.csv"
    rows = ["question,answer"] + [f"Capital of country {i}?,City {i}" for i in range(12)]
    data.write_text("\n".join(rows) + "\n")
    opts = {"path": str(data), "input": "question", "target": "answer", "name": "capitals-quiz"}
    task = get_task("file", **opts, n_train=4, n_val=4, n_test=4)
    assert task.name == "capitals-quiz"
