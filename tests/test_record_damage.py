"""Issue 23: archived runs and damaged run files, as the record and `skillfit report` read them.
A value of the wrong type in a run's files is named (file and what is wrong) and left out; the
rest of the run still loads; `skillfit report` says it in one line and exits 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from train_fakes import AddTask, Optimizer, config, run, target_model
from typer.testing import CliRunner

from skillfit.cli import app as cli
from skillfit.record import load_run

SUITE = Path(__file__).resolve().parents[1] / "bench" / "suite"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("damage")
    cfg = config(tmp, "train.epochs=2", "slow_update.enabled=true")
    run(cfg, AddTask(initial="# Guide\n\nBe careful.\n"), target_model(), Optimizer().model)
    return tmp / "run"


def gone_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def as_if_its_process_is_gone(run_dir: Path) -> None:
    """The run was written in this process: make its events name an ended one."""
    events = run_dir / "events.jsonl"
    lines = []
    for line in events.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("event") == "process_start":
            event["data"]["pid"] = gone_pid()
        lines.append(json.dumps(event))
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")


def archived(tmp_path: Path) -> Path:
    """A copy of a kept suite run: config.json, best_skill.md, meta_skill.md and nothing else."""
    source = SUITE / "gsm8k"
    assert sorted(p.name for p in source.iterdir()) == [
        "best_skill.md",
        "config.json",
        "meta_skill.md",
    ]
    return Path(shutil.copytree(source, tmp_path / "gsm8k"))


def test_an_archived_run_is_archived_with_its_skill(tmp_path: Path) -> None:
    path = archived(tmp_path)
    rec = load_run(path)
    assert rec.status == "archived", rec.status_reason
    assert rec.best_skill == (path / "best_skill.md").read_text(encoding="utf-8")
    assert rec.meta_skill == (path / "meta_skill.md").read_text(encoding="utf-8")
    assert rec.meta.task == "gsm8k" and not rec.damaged


def test_report_on_an_archived_run_prints_its_skill(tmp_path: Path) -> None:
    path = archived(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(path)])
    assert result.exit_code == 0, result.output
    page = (path / "report.html").read_text(encoding="utf-8")
    assert "Best skill (empty)" not in page and "(empty)" not in page
    assert "Word-problem skill" in page  # the kept skill's heading
    assert "archived" in page


def _edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _set_step(data: Any) -> None:
    data[0]["step"] = "x"


def _set_accuracy(data: Any) -> None:
    data["best"]["accuracy"] = "x"


def _set_state(data: Any) -> None:
    data["best_score"] = "x"
    data["global_step"] = "x"


def _set_tokens(data: Any) -> None:
    data["tokens"] = {"target": {"calls": "x"}}
    data["seconds"] = "x"


def _set_config(data: Any) -> None:
    data["task"] = "x"
    data["train"] = {"seed": "x"}


# (file, change, words the damage note must hold)
DAMAGES = [
    ("history.json", _set_step, "entry 1"),
    ("test_eval/results.json", _set_accuracy, "best"),
    ("runtime_state.json", _set_state, "best_score"),
    ("summary.json", _set_tokens, "tokens.target"),
    ("config.json", _set_config, "task"),
]


@pytest.mark.parametrize(("name", "change", "words"), DAMAGES, ids=[d[0] for d in DAMAGES])
def test_wrong_types_are_named_not_raised(
    finished: Path, tmp_path: Path, name: str, change: Callable[[Any], None], words: str
) -> None:
    path = Path(shutil.copytree(finished, tmp_path / "run"))
    _edit_json(path / name, change)
    rec = load_run(path)
    assert name in rec.damaged and words in rec.damaged[name], rec.damaged
    assert rec.status == "done"  # the rest of the run still reads
    result = CliRunner().invoke(cli, ["report", str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0] and "damaged" in lines[0], result.output
    assert "Traceback" not in result.output


def test_a_truncated_state_reads_as_unreadable(finished: Path, tmp_path: Path) -> None:
    path = Path(shutil.copytree(finished, tmp_path / "run"))
    state = path / "runtime_state.json"
    state.write_bytes(state.read_bytes()[:50])
    as_if_its_process_is_gone(path)
    rec = load_run(path)
    assert rec.status == "damaged", rec.status
    assert rec.status_reason.startswith("state unreadable")
    assert "runtime_state.json" in rec.damaged
    # A run whose state is cut short and that nothing writes is not "stale step 0/?".
    (path / "summary.json").unlink()
    assert load_run(path).status == "damaged"
