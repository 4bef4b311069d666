"""Issue 23: a full disk under the run directory is one line naming the file that could not be
written (exit code 2, no traceback), and a log line cut short by it (or by a kill) does not
swallow the next process's first event."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from waits import HANG_S, wait_for

from skillfit.core.io import write_text_atomic
from skillfit.core.writefile import append_line, naming
from skillfit.record import load_run, read_events
from skillfit.record.recorders import JsonlRecorder

ROOT = Path(__file__).resolve().parents[2]
BWRAP = shutil.which("bwrap")


def _cfg(tmp_path: Path, target: str | None = None) -> Path:
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            [
                {"match": ".", "system": "short notes", "reply": {"notes": "- ok"}},
                {"match": ".", "format": "text", "reply": "Yes"},
            ]
        )
    )
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "task: {name: bbh/web_of_lies, options: {n_train: 8, n_val: 4, n_test: 4}}\n"
        f"target: {{model: '{target or f'scripted:{rules}'}'}}\n"
        f"optimizer: {{model: 'scripted:{rules}'}}\n"
        "train: {epochs: 1, batch_size: 4, minibatch_size: 4}\ncache: {enabled: false}\n"
    )
    return cfg


def _train(cfg: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "skillfit", "train", "--config", str(cfg), "--out", str(out)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def test_a_write_error_without_a_file_name_gets_one() -> None:
    with pytest.raises(OSError) as info, naming("/run/x.json"):
        raise OSError(28, "No space left on device")
    assert info.value.filename == "/run/x.json" and info.value.errno == 28
    with pytest.raises(OSError) as full:
        append_line(Path("/dev/full"), "{}\n")
    assert full.value.filename == "/dev/full" and full.value.errno == 28


def test_write_text_atomic_names_the_file_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skillfit.core.io as io

    def full(_: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full)
    target = tmp_path / "state.json"
    with pytest.raises(OSError) as info:
        write_text_atomic(target, "ok")
    assert info.value.filename == str(target) and info.value.errno == 28
    assert list(tmp_path.iterdir()) == []  # no temp file left


@pytest.mark.skipif(BWRAP is None, reason="needs bubblewrap for a small tmpfs")
@pytest.mark.parametrize("size", [20_000, 60_000, 150_000])
def test_disk_full_in_the_run_dir_is_one_line_naming_the_file(tmp_path: Path, size: int) -> None:
    cfg = _cfg(tmp_path)
    full = tmp_path / "full"
    full.mkdir()
    argv = ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    # --no-check: the target check's warning about the scripted target is not this test's line
    argv += ["--size", str(size), "--tmpfs", str(full), *_train(cfg, full / "run"), "-q"]
    argv += ["--no-check"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=HANG_S, env=_env())
    if done.returncode == 0:
        pytest.skip(f"the run fit in {size} bytes")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {full}/run/"), done.stderr
    assert "No space left on device" in lines[0]


def test_a_torn_last_event_line_does_not_swallow_the_next(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text('{"schema_version": 1, "ts": 1.0, "event": "st')
    JsonlRecorder(tmp_path)({"event": "process_start", "pid": 1, "host": "h"})
    assert [e.event for e in read_events(tmp_path)] == ["process_start"]


def test_a_resumed_run_after_a_torn_line_shows_as_running(tmp_path: Path) -> None:
    """The torn line a full disk left made the dashboard call the live resumed run "stale:
    process gone": its process_start was glued to the torn line and unreadable."""
    from dashboard_fakes import SlowChat

    with SlowChat(delay=0) as chat:
        cfg, out = _cfg(tmp_path, target=f"openai:slow@{chat.url}/v1"), tmp_path / "run"
        env = {**_env(), "OPENAI_API_KEY": "sk-test-not-a-real-key-000"}
        first = subprocess.run(_train(cfg, out), capture_output=True, text=True, env=env)
        assert first.returncode == 0, first.stderr
        state = out / "runtime_state.json"
        state.write_text(state.read_text().replace('"phase": "done"', '"phase": "test_eval"'))
        events = (out / "events.jsonl").read_bytes()
        (out / "events.jsonl").write_bytes(events[: len(events) - 40])  # the last line cut
        # The resumed run waits at its first model call, so it is alive when it is looked at,
        # however fast or slow the machine is.
        chat.hold()
        proc = subprocess.Popen(
            _train(cfg, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        try:
            wait_for(lambda: chat.held.is_set() or proc.poll() is not None, "the first call")
            assert proc.poll() is None
            record = load_run(out)
            assert record.status == "running", record.status_reason
            assert str(proc.pid) in record.status_reason
        finally:
            chat.release()
            assert proc.wait(timeout=HANG_S) == 0
