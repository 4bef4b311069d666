"""Stopping a run, and saying what it took.

Stop sends SIGINT, as ^C in a terminal would: the CLI saves nothing half-done (every unit of
work is written atomically) and a stopped run resumes from its last finished unit. A process
that is still there `grace` seconds later (it ignores SIGINT, or hangs) gets SIGTERM, and
`kill_after` seconds after that SIGKILL. Each step is written to the stop's record,
`<root>/.skillfit-ui/stops/<name>.json` (0600), which the run's page shows; the record also
tells the page that a run gone without finishing was stopped on purpose ("stopped", not
"stale").

A process is known by its pid and its start time (from /proc), so a pid reused by another
program after the run ended is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

_UI_DIR = ".skillfit-ui"  # names.UI_DIR
GRACE_SECONDS = 10.0  # after SIGINT, before SIGTERM
KILL_AFTER_SECONDS = 5.0  # after SIGTERM, before SIGKILL


@dataclass
class StopRecord:
    name: str
    pid: int
    requested: float
    steps: list[str] = field(default_factory=list)
    ended: bool = False


def process_start(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a live process `pid`, or None when there is
    no such process or it has ended (a zombie waiting for its parent counts as ended)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = raw[raw.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


class Stops:
    """The stop records under the dashboard's folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        return self.folder / (name.replace("/", "__") + ".json")

    def get(self, name: str) -> StopRecord | None:
        try:
            data = json.loads(self._path(name).read_text(encoding="utf-8"))
            return StopRecord(**data)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, record: StopRecord) -> None:
        with self._lock:
            path = self._path(record.name)
            private_dir(path.parent)
            tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(record), fh, indent=1)
            tmp.replace(path)

    def stop(
        self,
        name: str,
        pid: int,
        send: Callable[[int, signal.Signals], None],
        *,
        grace: float = GRACE_SECONDS,
        kill_after: float = KILL_AFTER_SECONDS,
        alive: Callable[[], bool] | None = None,
    ) -> StopRecord:
        """Send SIGINT to `pid` now (through `send`), and escalate in the background."""
        started = process_start(pid)
        if started is None:
            raise ProcessLookupError(pid)

        def same_process() -> bool:
            return process_start(pid) == started

        is_alive = alive or same_process
        record = StopRecord(name=name, pid=pid, requested=time.time())
        record.steps.append(f"{_clock()} sent ^C (SIGINT), as in its terminal")
        send(pid, signal.SIGINT)
        self.save(record)

        def note(text: str) -> None:
            record.steps.append(f"{_clock()} {text}")
            self.save(record)

        def gone_within(seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if not is_alive():
                    return True
                time.sleep(0.1)
            return not is_alive()

        def escalate() -> None:
            if gone_within(grace):
                record.ended = True
                note("it stopped")
                return
            if not same_process():  # ended and its pid reused: signal nothing
                return
            send(pid, signal.SIGTERM)
            note(f"still running {grace:g} s after ^C: sent SIGTERM")
            if gone_within(kill_after):
                record.ended = True
                note("it ended")
                return
            if not same_process():
                return
            send(pid, signal.SIGKILL)
            note(f"still running {kill_after:g} s after SIGTERM: sent SIGKILL")
            if gone_within(kill_after):
                record.ended = True
                note("it was killed: resume it to go on from its last finished step")

        threading.Thread(target=escalate, daemon=True).start()
        return record


def private_dir(path: Path) -> None:
    """`path` and the dashboard's folder above it, readable by their user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (path, path.parent):
        if folder.name in (_UI_DIR, "launches", "logs", "stops"):
            with contextlib.suppress(OSError):
                os.chmod(folder, 0o700)


def signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def signal_group(pid: int, sig: signal.Signals) -> None:
    """`sig` to the process group `pid` leads (a launched run and its helpers), or to `pid`."""
    try:
        os.killpg(pid, sig)
    except OSError:
        signal_pid(pid, sig)


def _clock() -> str:
    return time.strftime("%H:%M:%S")
