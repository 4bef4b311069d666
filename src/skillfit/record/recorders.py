"""Recorders: where a run's events go. The console view is one recorder, events.jsonl another.

A recorder is any callable taking one event dict (`{"event": "step_end", ...}`), the same
shape as the engine's `progress` callback, so recorders compose with `fanout`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from skillfit.core.writefile import append_line
from skillfit.record.models import RECORD_SCHEMA_VERSION
from skillfit.record.reader import EVENTS_FILE

Recorder = Callable[[dict[str, Any]], None]


class JsonlRecorder:
    """Appends one `Event` line per event to `<run_dir>/events.jsonl` (flushed each line; a
    last line a kill or a full disk cut short is ended first, see `append_line`)."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        data = {k: v for k, v in event.items() if k != "event"}
        row = {
            "schema_version": RECORD_SCHEMA_VERSION,
            "ts": round(time.time(), 3),
            "event": str(event.get("event", "")),
            "data": data,
        }
        line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            append_line(self.path, line)


class MemoryRecorder:
    """Keeps events in a list (for tests and for callers that want them back)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(dict(event))


def fanout(*recorders: Recorder | None) -> Recorder:
    """One recorder that passes each event to every given one (None entries skipped)."""
    live = [r for r in recorders if r is not None]

    def record(event: dict[str, Any]) -> None:
        for r in live:
            r(event)

    return record


@contextlib.contextmanager
def recording(
    run_dir: str | os.PathLike[str], progress: Recorder | None = None, **info: Any
) -> Iterator[Recorder]:
    """Record a run's events to events.jsonl while the block runs.

    Writes `process_start` (pid, host: how a reader tells a live run from a killed one) and,
    if the block raises, `run_failed` with the error, so the run's status is derivable."""
    jsonl = JsonlRecorder(run_dir)
    jsonl({"event": "process_start", "pid": os.getpid(), "host": socket.gethostname(), **info})
    try:
        yield fanout(jsonl, progress)
    except BaseException as exc:
        kind = "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
        jsonl(
            {
                "event": "run_failed",
                "error": f"{kind}: {exc}".rstrip(": "),
                "trace": traceback.format_exc(limit=5)[-2000:],
            }
        )
        raise
