"""The typed run record: a finished, a running, a failed and a stale run all load, typed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from train_fakes import AddTask, Optimizer, config, run, target_model

from skillfit.record import (
    RECORD_SCHEMA_VERSION,
    RunRecord,
    list_runs,
    load_gate,
    load_proposals,
    load_run,
    load_trajectories,
    read_events,
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("rec")
    cfg = config(tmp, "train.epochs=2", "slow_update.enabled=true")
    run(cfg, AddTask(initial="# Guide\n\nBe careful.\n"), target_model(), Optimizer().model)
    return tmp / "run"


def test_a_finished_run_loads_typed(finished: Path) -> None:
    rec = load_run(finished)
    assert isinstance(rec, RunRecord)
    assert rec.schema_version == RECORD_SCHEMA_VERSION
    assert rec.status == "done"
    assert rec.meta.task == "add" and rec.meta.strategy == "skillfit"
    assert rec.steps and rec.steps[0].gate is not None and rec.steps[0].gate.accepted
    assert any(s.kind == "slow_update" for s in rec.steps)
    assert rec.test is not None and rec.test.arms["best"].accuracy == 1.0
    assert rec.test.comparisons["best_vs_none"].mean_diff == 1.0
    assert rec.test.arms["best"].per_item  # item id -> scores
    assert [v.version for v in rec.skills] == [1, 2]
    assert "target" in rec.tokens and rec.tokens["target"].calls > 0
    names = [e.event for e in rec.events]
    assert names[0] == "process_start" and "step_end" in names and names[-1] == "run_end"
    # JSON round trip of the whole record
    assert RunRecord.model_validate_json(rec.model_dump_json()).meta == rec.meta


def test_step_files_load(finished: Path) -> None:
    assert load_proposals(finished, 1)[0].edits
    gate = load_gate(finished, 1)
    assert gate is not None and gate.accepted and gate.per_item
    assert len(load_trajectories(finished, "best")) == 4
    assert load_trajectories(finished, "", step=1)
    assert list_runs(finished.parent) == [finished]


def test_status_running_stale_and_failed(finished: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    state = json.loads((copy / "runtime_state.json").read_text())
    state["phase"] = "steps"
    (copy / "runtime_state.json").write_text(json.dumps(state))
    (copy / "summary.json").unlink()
    events = copy / "events.jsonl"
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    # The recorded process is this one: alive, so running.
    lines[0]["data"]["pid"] = os.getpid()
    events.write_text("".join(json.dumps(x) + "\n" for x in lines[:3]))
    assert load_run(copy).status == "running"
    # A process that is gone without finishing: stale.
    lines[0]["data"]["pid"] = 2**22 + 12345
    events.write_text("".join(json.dumps(x) + "\n" for x in lines[:3]))
    assert load_run(copy).status == "stale"
    # An error was recorded: failed, with the error as the reason.
    fail = {"ts": time.time(), "event": "run_failed", "data": {"error": "InfraFailure: boom"}}
    events.write_text("".join(json.dumps(x) + "\n" for x in [*lines[:3], fail]))
    rec = load_run(copy)
    assert rec.status == "failed" and "boom" in rec.status_reason
    # A run from before the record (no events): recent files mean running, old ones stale.
    events.unlink()
    assert load_run(copy).status == "running"
    assert load_run(copy, now=time.time() + 10_000).status == "stale"
    assert load_run(tmp_path / "nothing").status == "empty"


def test_a_failing_run_records_run_failed(tmp_path: Path) -> None:
    from skillfit.core.errors import InfraFailure
    from skillfit.models.base import InfraError
    from skillfit.models.scripted import Request, ScriptedModel

    def down(request: Request) -> str:
        raise InfraError("server down")

    cfg = config(tmp_path)
    with pytest.raises(InfraFailure):
        run(cfg, AddTask(), ScriptedModel(down, name="scripted:target"), Optimizer().model)
    assert read_events(tmp_path / "run")[-1].event == "run_failed"
    assert load_run(tmp_path / "run").status == "failed"


def test_the_bundled_suite_run_loads() -> None:
    root = Path(__file__).parent.parent / "bench" / "suite"
    runs = list_runs(root)
    if not runs:
        pytest.skip("no bundled run")
    for path in runs:
        rec = load_run(path)
        assert rec.meta.task
