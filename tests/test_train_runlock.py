"""One run per run directory: a second process is refused at once, naming the holder; a lock
left by a killed process is no obstacle (issue 23)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from waits import HANG_S

from skillfit.train import runlock
from skillfit.train.runlock import LOCK_NAME, RunLock, RunLocked, holder

SRC = str(Path(__file__).resolve().parents[1] / "src")


def hold_in_child(run_dir: Path) -> subprocess.Popen[str]:
    """A process holding the run directory until killed; returns once it holds it."""
    code = (
        "import sys, time\n"
        "from skillfit.train.runlock import RunLock\n"
        f"RunLock({str(run_dir)!r}).acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunLock(run):
        with pytest.raises(RunLocked) as refused:
            RunLock(run).acquire()
        message = str(refused.value)
        assert f"{run} is in use by process {os.getpid()} on {socket.gethostname()}" in message
        assert "\n" not in message
        who = holder(run)
        assert who is not None and who.pid == os.getpid()
    assert holder(run) is None


def test_a_run_dir_that_got_nothing_is_removed_again(tmp_path: Path) -> None:
    run = tmp_path / "new"
    with RunLock(run):
        assert (run / LOCK_NAME).is_file()
    assert not run.exists()  # the run wrote nothing: no empty folder is left behind
    with RunLock(run):
        (run / "config.json").write_text("{}")
    assert (run / "config.json").is_file() and holder(run) is None


def test_another_process_is_named_and_its_kill_frees_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    child = hold_in_child(run)
    try:
        with pytest.raises(RunLocked, match=f"in use by process {child.pid} on "):
            RunLock(run).acquire()
        who = holder(run)
        assert who is not None and who.pid == child.pid
    finally:
        child.send_signal(signal.SIGKILL)  # as a crash or kill -9 would end it
        child.wait()
    assert holder(run) is None  # the kernel dropped the lock with the process
    assert "pid" in (run / LOCK_NAME).read_text()  # the dead holder's note is still there...
    with RunLock(run):  # ...and is no obstacle
        assert holder(run) is not None


def test_renew_holds_the_new_folder_after_a_move(tmp_path: Path) -> None:
    run = tmp_path / "run"
    lock = RunLock(run).acquire()
    (run / "config.json").write_text("{}")
    run.rename(tmp_path / "aside")
    lock.renew()
    try:
        assert holder(run) is not None and holder(tmp_path / "aside") is None
        with pytest.raises(RunLocked):
            RunLock(run).acquire()
    finally:
        lock.release()


def test_a_brief_look_by_a_reader_does_not_refuse_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard asks who holds a run with a shared lock for an instant; a run starting
    just then waits that instant out instead of being refused."""
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    fd = os.open(run / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_SH)
    # The reader lets go once the run has met its lock (an event, not a timer a loaded machine
    # may fire late); the retry window is widened so only a hang outlasts it.
    monkeypatch.setattr(runlock, "_RETRY_SECONDS", HANG_S)
    met: list[float] = []

    def reader_lets_go(seconds: float) -> None:
        if not met:
            met.append(seconds)
            os.close(fd)
        time.sleep(seconds)

    clock = {name: getattr(time, name) for name in ("monotonic", "time", "strftime", "localtime")}
    monkeypatch.setattr(runlock, "time", SimpleNamespace(**clock, sleep=reader_lets_go))
    with RunLock(run):
        assert met, "the run never met the reader's lock"


def test_train_on_a_held_run_dir_is_refused_at_once_then_resumes(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from skillfit.cli import app

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": ".", "format": "text", "reply": "Yes"}]))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "task: {name: bbh/web_of_lies, options: {n_train: 4, n_val: 4, n_test: 4}}\n"
        f"target: {{model: 'scripted:{rules}'}}\noptimizer: {{model: 'scripted:{rules}'}}\n"
        "train: {epochs: 1, batch_size: 4, minibatch_size: 4}\ncache: {enabled: false}\n"
    )
    run = tmp_path / "run"
    args = ["train", "--config", str(cfg), "-q", "--out", str(run)]
    runner = CliRunner()
    child = hold_in_child(run)  # as a run in another terminal would
    try:
        started = time.monotonic()
        refused = runner.invoke(app, args)
        # Refused, not waiting for the holder (which holds for 600 s); the bound only ends a hang.
        assert time.monotonic() - started < HANG_S
        assert refused.exit_code == 2, refused.output
        lines = [line for line in refused.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), refused.output
        assert f"in use by process {child.pid} on {socket.gethostname()}" in lines[0]
        assert [p.name for p in run.iterdir()] == [LOCK_NAME]  # nothing of a run written
        forced = runner.invoke(app, [*args, "--force"])  # --force does not take a held run
        assert forced.exit_code == 2 and f"process {child.pid}" in forced.output
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    done = runner.invoke(app, args)  # the killed holder's lock is no obstacle
    assert done.exit_code == 0, done.output
    assert (run / "summary.json").is_file() and holder(run) is None
