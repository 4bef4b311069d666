"""A run's data is the data it started with: a resume or an evaluation of the run's skill on
a changed data file is refused, naming the file (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillfit.cli import app
from skillfit.tasks.base import Item
from skillfit.train.datacheck import data_change, items_digest

runner = CliRunner()


def rows(answer_of_last: str = "11") -> str:
    data = [{"q": f"What is {i} plus {i}?", "a": str(2 * i)} for i in range(12)]
    data[-1]["a"] = answer_of_last
    return "".join(json.dumps(r) + "\n" for r in data)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": ".", "format": "text", "reply": "Answer: 4"}]))
    (tmp_path / "data.jsonl").write_text(rows())
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "task: {name: file, options: {path: data.jsonl, input: q, target: a, n_train: 4, "
        "n_val: 4, n_test: 4}}\n"
        f"target: {{model: 'scripted:{rules}'}}\noptimizer: {{model: 'scripted:{rules}'}}\n"
        "train: {epochs: 1, batch_size: 4, minibatch_size: 4}\ncache: {enabled: false}\n"
    )
    return path


def one_line(output: str, *needles: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for needle in needles:
        assert needle in lines[0], output
    return lines[0]


def test_resume_and_eval_refuse_a_changed_data_file(cfg: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", "--config", str(cfg), "-q", "--out", str(run)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    recorded = json.loads((run / "splits.json").read_text())
    assert len(recorded["data_sha256"]) == 64 and set(recorded["items_sha256"]) == {
        "train",
        "val",
        "test",
    }
    state = (run / "runtime_state.json").read_bytes()

    # The file rewritten with as many rows (same ids): one answer differs.
    (tmp_path / "data.jsonl").write_text(rows(answer_of_last="22"))
    again = runner.invoke(app, args)
    assert again.exit_code == 2, again.output
    one_line(again.output, f"{tmp_path / 'data.jsonl'} changed since the run started", "--force")
    assert (run / "runtime_state.json").read_bytes() == state  # nothing of the run touched

    # eval of the run's skill: which items the last row landed in decides whether the test
    # items changed; either way the run's own config never measures on other items unasked.
    evaluated = runner.invoke(app, ["eval", "--skill", str(run), "--split", "all"])
    assert evaluated.exit_code == 2, evaluated.output
    one_line(evaluated.output, str(tmp_path / "data.jsonl"), "--config")
    chosen = runner.invoke(app, ["eval", "--skill", str(run), "--config", str(cfg)])
    assert chosen.exit_code == 0, chosen.output  # the config given: the data as it is now

    # Restored, the run resumes; --force starts over on the new data, the old run kept.
    (tmp_path / "data.jsonl").write_text(rows())
    assert runner.invoke(app, args).exit_code == 0
    (tmp_path / "data.jsonl").write_text(rows(answer_of_last="22"))
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert list(tmp_path.glob("run.replaced-*"))


def test_a_run_killed_before_its_splits_were_written_records_them_on_resume(
    cfg: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = ["train", "--config", str(cfg), "-q", "--out", str(run)]
    assert runner.invoke(app, args).exit_code == 0
    (run / "splits.json").unlink()
    assert runner.invoke(app, args).exit_code == 0
    assert "items_sha256" in json.loads((run / "splits.json").read_text())


def test_only_the_splits_asked_for_count_when_their_digests_were_recorded() -> None:
    def split(prefix: str, answer: str = "1") -> list[Item]:
        return [Item(id=f"{prefix}{i}", input=f"{prefix} {i}?", target=answer) for i in range(3)]

    before = {"train": split("t"), "val": split("v"), "test": split("x")}
    recorded = {
        "splits": {k: [i.id for i in v] for k, v in before.items()},
        "items_sha256": items_digest(before),
    }
    after = {**before, "train": split("t", answer="2")}
    task = object()
    assert data_change(recorded, task, before) is None
    assert "the train items changed" in (data_change(recorded, task, after) or "")
    assert data_change(recorded, task, after, ["test"]) is None  # test items are the same
    moved = {**before, "test": split("y")}
    assert "test split is not the one" in (data_change(recorded, task, moved, ["test"]) or "")
