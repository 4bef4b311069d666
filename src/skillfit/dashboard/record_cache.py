"""The runs table's records, kept between refreshes: a run is read again only when one of the
files its record comes from has changed (modification time and size), its process has
started or ended, or it has just passed the "nothing written recently" mark. With one tab
open on 200 runs, a refresh every 3 s then costs a few stat calls per run, not 200 reads.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from skillfit.record import STALE_AFTER_SECONDS, RunRecord
from skillfit.record.reader import _pid_alive

# Every file (or folder, for the skill versions) a run record is read from.
WATCHED = (
    "config.json",
    "runtime_state.json",
    "summary.json",
    "strategy.json",
    "events.jsonl",
    "history.json",
    "test_eval/results.json",
    "best_skill.md",
    "meta_skill.md",
    "skills",
)

Signature = tuple[object, ...]


def _files(path: Path) -> tuple[tuple[int, int] | None, ...]:
    out: list[tuple[int, int] | None] = []
    for name in WATCHED:
        try:
            st = os.stat(path / name)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


def _liveness(rec: RunRecord, now: float) -> tuple[object, ...]:
    """What the record's status depends on beyond its files: whether the process its last
    `process_start` names is alive, and whether it wrote anything recently."""
    starts = [e for e in rec.events if e.event == "process_start"]
    pid = starts[-1].data.get("pid") if starts else None
    alive = _pid_alive(pid) if isinstance(pid, int) else None
    recent = rec.last_activity is not None and now - rec.last_activity <= STALE_AFTER_SECONDS
    return (alive, recent)


class RecordCache:
    """Records by run folder, read through `load` only when their signature changed."""

    def __init__(self, load: Callable[[Path], RunRecord]) -> None:
        self.load = load
        self._kept: dict[Path, tuple[Signature, RunRecord]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> RunRecord:
        now = time.time()
        files = _files(path)
        with self._lock:
            kept = self._kept.get(path)
        if kept is not None:
            signature, rec = kept
            if signature == (files, *_liveness(rec, now)):
                return rec
        rec = self.load(path)
        with self._lock:
            self._kept[path] = ((files, *_liveness(rec, now)), rec)
        return rec

    def keep_only(self, paths: set[Path]) -> None:
        """Forget the runs no longer listed."""
        with self._lock:
            for path in set(self._kept) - paths:
                del self._kept[path]
