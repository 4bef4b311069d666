"""Issue 10, items 4 and 5: a run whose model calls keep failing stops with a clear error and a
non-zero exit, stays resumable and never reports a result it did not score; an undecidable gate
(every validation item excluded for infrastructure errors) is deferred, never a rejection."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from test_train_resume import comparable, optimizer_reply, resume_config, solve
from train_fakes import AddTask, run
from typer.testing import CliRunner

import skillfit.api
import skillfit.app.build
from skillfit.cli import app
from skillfit.core.errors import InfraFailure
from skillfit.models import InfraError, wrap
from skillfit.models.cache import LOCK_WAIT_ENV, CacheBusy
from skillfit.models.scripted import Request, ScriptedModel


class Failing:
    """A target script that raises InfraError (a refused key: not retried) while `when` says."""

    def __init__(self, fn: Any, when: Any) -> None:
        self.fn, self.when, self.n = fn, when, 0
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Any:
        with self.lock:
            self.n += 1
            n = self.n
        if self.when(n, request):
            raise InfraError("HTTP 401: invalid key")
        return self.fn(request)


def state_of(root: Path) -> dict[str, Any]:
    return json.loads((root / "runtime_state.json").read_text())


def test_a_run_where_every_call_fails_stops_and_resumes(tmp_path: Path) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    run(
        resume_config(tmp_path, "straight"),
        task,
        ScriptedModel(solve),
        ScriptedModel(optimizer_reply),
    )
    cfg = resume_config(tmp_path, "down")
    dead = ScriptedModel(Failing(solve, lambda n, r: True))
    with pytest.raises(InfraFailure, match=r"step 1: train rollouts: 3 of 3 .*HTTP 401"):
        run(cfg, task, dead, ScriptedModel(optimizer_reply))
    state = state_of(tmp_path / "down")
    assert state["phase"] == "steps" and state["global_step"] == 0 and state["history"] == []
    assert not (tmp_path / "down" / "summary.json").exists()
    # The server is back: the same command resumes and ends where a straight run ends.
    result = run(cfg, task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
    assert result.resumed
    resumed, straight = comparable(tmp_path / "down"), comparable(tmp_path / "straight")
    resumed["state"]["config_hash"] = straight["state"]["config_hash"]
    assert resumed == straight


def test_a_test_arm_that_scored_nothing_is_never_reported(tmp_path: Path) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    cfg = resume_config(tmp_path, "notest")
    target = ScriptedModel(Failing(solve, lambda n, r: "What is 20" in r.last_user))
    with pytest.raises(InfraFailure, match="test evaluation"):
        run(cfg, task, target, ScriptedModel(optimizer_reply))
    state = state_of(tmp_path / "notest")
    assert state["phase"] == "test_eval" and state["test"] is None
    result = run(cfg, task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
    assert result.test is not None and result.test["best"]["scored"] == 12


def test_errors_under_the_threshold_are_excluded_and_counted(tmp_path: Path) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    cfg = resume_config(tmp_path, "some")
    flaky = ScriptedModel(Failing(solve, lambda n, r: "What is 2001 plus" in r.last_user))
    result = run(cfg, task, flaky, ScriptedModel(optimizer_reply))
    assert result.summary["infra_errors"] == 6  # 2 samples x 3 arms of one test item
    assert result.test is not None and result.test["best"]["n_errors"] == 2


def test_an_undecidable_gate_is_deferred_not_rejected(tmp_path: Path) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    run(
        resume_config(tmp_path, "straight"),
        task,
        ScriptedModel(solve),
        ScriptedModel(optimizer_reply),
    )
    straight = comparable(tmp_path / "straight")
    adoptions = sum(r["adopted"] for r in straight["state"]["history"])
    assert adoptions >= 2

    cfg = resume_config(tmp_path, "flaky")
    # Every validation call fails during the first gate that meets them.
    val_down = ScriptedModel(Failing(solve, lambda n, r: "What is 10" in r.last_user))
    with pytest.raises(InfraFailure, match="gate"):
        run(cfg, task, val_down, ScriptedModel(optimizer_reply))
    state = state_of(tmp_path / "flaky")
    assert state["buffer"] == [] and state["global_step"] == 0
    gate = json.loads((tmp_path / "flaky" / "steps" / "step_0001" / "gate.json").read_text())
    assert gate["decided"] is False and gate["n_compared"] == 0 and not gate["accepted"]
    assert "not a rejection" in gate["reason"] and "HTTP 401" in gate["first_error"]
    run(cfg, task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
    resumed = comparable(tmp_path / "flaky")
    resumed["state"]["config_hash"] = straight["state"]["config_hash"]
    assert resumed == straight  # the deferred candidate was gated again, and adopted
    assert sum(r["adopted"] for r in resumed["state"]["history"]) == adoptions


def test_the_threshold_is_a_config_key(tmp_path: Path) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    # One train item of a batch of three fails: over a 0.2 limit, under the default 0.5.
    when = lambda n, r: "What is 0 plus" in r.last_user  # noqa: E731
    strict = resume_config(tmp_path, "strict")
    strict = skillfit.api.load(strict, ["train.max_infra_error_rate=0.2"])
    with pytest.raises(InfraFailure, match="max_infra_error_rate=0.2"):
        run(strict, task, ScriptedModel(Failing(solve, when)), ScriptedModel(optimizer_reply))
    lenient = resume_config(tmp_path, "lenient")
    result = run(lenient, task, ScriptedModel(Failing(solve, when)), ScriptedModel(optimizer_reply))
    assert result.summary["phase"] == "done" and result.summary["infra_errors"] > 0


def test_cli_exit_code_and_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = {
        "scripted:target": ScriptedModel(Failing(solve, lambda n, r: True)),
        "scripted:optimizer": ScriptedModel(optimizer_reply),
    }
    monkeypatch.setattr(skillfit.app.build, "build_task", lambda cfg: AddTask(n_train=9, n_val=6))
    monkeypatch.setattr(skillfit.app.build, "get_model", lambda spec, **kw: models[spec])
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "task: {name: add}\ntarget: {model: 'scripted:target'}\n"
        "optimizer: {model: 'scripted:optimizer'}\ntrain: {batch_size: 3, minibatch_size: 3}\n"
        f"cache: {{enabled: false}}\nrun: {{out_dir: '{tmp_path}', name: cli}}\n"
    )
    result = CliRunner().invoke(app, ["train", "--config", str(cfg), "--quiet"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert "run the same command again" in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error")]) == 1


@pytest.mark.parametrize("mode", ["diagnose", "direct"])
def test_an_optimizer_that_cannot_be_reached_stops_the_run(tmp_path: Path, mode: str) -> None:
    from train_fakes import config, target_model

    def down(request: Request) -> Any:
        raise InfraError("HTTP 401: bad key")

    cfg = config(tmp_path, f"optimizer.reflection={mode}")
    with pytest.raises(InfraFailure, match="optimizer calls failed"):
        run(cfg, AddTask(), target_model(), ScriptedModel(down))
    assert state_of(tmp_path / "run")["history"] == []


class LockingAt:
    """A target script that, at call `at`, makes another connection take the response cache's
    write lock and keep it (a run paused with Ctrl-Z while it wrote) until `free()`."""

    def __init__(self, fn: Any, at: int, path: Path) -> None:
        self.fn, self.at, self.n = fn, at, 0
        self.lock = threading.Lock()
        self.holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def __call__(self, request: Request) -> Any:
        with self.lock:
            self.n += 1
            if self.n == self.at:
                self.holder.execute("BEGIN IMMEDIATE")
        return self.fn(request)

    def free(self) -> None:
        self.holder.execute("ROLLBACK")
        self.holder.close()


def test_a_cache_held_by_another_process_stops_the_run_resumably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    run(
        resume_config(tmp_path, "straight"),
        task,
        ScriptedModel(solve),
        ScriptedModel(optimizer_reply),
    )
    cfg = resume_config(tmp_path, "held")
    # One thread, so the run's own writes never wait for each other under a bound of 0.
    one_thread = skillfit.api.load(cfg, ["train.concurrency=1"])
    monkeypatch.setenv(LOCK_WAIT_ENV, "0")
    locking = LockingAt(solve, 20, tmp_path / "held.sqlite")
    with pytest.raises(CacheBusy, match="another process holds its write lock"):
        run(one_thread, task, ScriptedModel(locking), ScriptedModel(optimizer_reply))
    assert locking.n == 20  # it stopped at the first write after the lock was taken
    assert not (tmp_path / "held" / "summary.json").exists()
    locking.free()
    monkeypatch.delenv(LOCK_WAIT_ENV)
    result = run(cfg, task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
    assert result.resumed
    resumed, straight = comparable(tmp_path / "held"), comparable(tmp_path / "straight")
    resumed["state"]["config_hash"] = straight["state"]["config_hash"]
    assert resumed == straight


def test_cli_a_held_cache_is_an_infrastructure_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache.sqlite"
    models = {
        "scripted:target": ScriptedModel(LockingAt(solve, 1, cache)),
        "scripted:optimizer": ScriptedModel(optimizer_reply),
    }
    monkeypatch.setenv(LOCK_WAIT_ENV, "0")
    monkeypatch.setattr(skillfit.app.build, "build_task", lambda cfg: AddTask(n_train=9, n_val=6))
    monkeypatch.setattr(
        skillfit.app.build, "get_model", lambda spec, **kw: wrap(models[spec], **kw)
    )
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "task: {name: add}\ntarget: {model: 'scripted:target'}\n"
        "optimizer: {model: 'scripted:optimizer'}\n"
        "train: {batch_size: 3, minibatch_size: 3, concurrency: 1}\n"
        f"cache: {{path: '{cache}'}}\nrun: {{out_dir: '{tmp_path}', name: cli}}\n"
    )
    result = CliRunner().invoke(app, ["train", "--config", str(cfg), "--quiet"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert str(cache) in result.output and "another process holds its write lock" in result.output
    assert "run the same command again" in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error")]) == 1
