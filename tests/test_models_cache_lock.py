"""The response cache when another process holds its write lock (a run paused with Ctrl-Z, a
long write): a read is never held up, a write waits with one warning that names the cache and
who has it open, and gives up with a CacheError after a bound instead of hanging."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waits import HANG_S, wait_for

from skillfit.models import CacheError, ResponseCache
from skillfit.models.cache import LOCK_WAIT_ENV, CacheBusy

VALUE = {"text": "an answer", "usage": {}, "latency": 0.0, "model": "m", "finish_reason": "stop"}
linux_proc = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="names holders from /proc (Linux)"
)


class Holder:
    """A second connection to a cache file, which takes and frees its write lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=0)

    def take(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def free(self) -> None:
        self.conn.execute("ROLLBACK")


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    """A cache file with one reply, and a holder for its lock (not taken yet: opening a cache
    takes the lock once, so the tests open theirs first)."""
    path = tmp_path / "c.sqlite"
    ResponseCache(path).put("old", "m", VALUE)
    h = Holder(path)
    yield h
    h.conn.close()


def test_a_write_gives_up_with_a_cache_error_after_the_bound(holder: Holder) -> None:
    path = holder.path
    cache = ResponseCache(path, lock_wait=0)
    holder.take()
    assert cache.get("old") == VALUE  # a read does not wait for the writer (WAL)
    with pytest.raises(CacheError) as info:
        cache.put("new", "m", VALUE)
    message = str(info.value)
    assert isinstance(info.value, CacheBusy)
    assert str(path) in message and "another process holds its write lock" in message
    assert "Ctrl-Z" in message and "cache.path" in message and LOCK_WAIT_ENV in message


def test_a_waiting_write_warns_once_and_goes_on_when_the_lock_is_freed(
    holder: Holder, caplog: pytest.LogCaptureFixture
) -> None:
    path = holder.path
    cache = ResponseCache(path, lock_wait=HANG_S, warn_after=0)
    holder.take()
    caplog.set_level(logging.WARNING, logger="skillfit.cache")
    done: list[Any] = []
    writers = [
        threading.Thread(target=lambda i=i: done.append(cache.put(f"new{i}", "m", VALUE)))
        for i in range(2)
    ]
    for w in writers:
        w.start()
    wait_for(lambda: caplog.records, "the lock warning")
    holder.free()
    for w in writers:
        w.join(HANG_S)
    assert len(done) == 2 and cache.get("new0") == VALUE and cache.get("new1") == VALUE
    [record] = caplog.records  # one warning for both waiting writers
    assert str(path) in record.getMessage() and "another process" in record.getMessage()


def test_after_one_write_gave_up_the_others_do_not_wait_the_bound_again(
    holder: Holder, caplog: pytest.LogCaptureFixture
) -> None:
    """A run stops at once: a rollout that reaches the cache after another gave up gives up too
    (it would otherwise wait the whole bound again); a write that gets through ends that."""
    cache = ResponseCache(holder.path, lock_wait=0, warn_after=0)
    holder.take()
    with pytest.raises(CacheBusy):
        cache.put("a", "m", VALUE)
    cache.lock_wait = HANG_S  # waiting again would hang this test
    with pytest.raises(CacheBusy):
        cache.put("b", "m", VALUE)
    holder.free()
    cache.put("c", "m", VALUE)
    holder.take()  # held again: a new wait, with its own warning
    caplog.set_level(logging.WARNING, logger="skillfit.cache")
    writer = threading.Thread(target=cache.put, args=("d", "m", VALUE))
    writer.start()
    wait_for(lambda: caplog.records, "the lock warning")
    holder.free()
    writer.join(HANG_S)
    assert cache.get("d") == VALUE


def test_the_bound_is_read_from_the_environment(
    holder: Holder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCK_WAIT_ENV, "0")
    cache = ResponseCache(holder.path)
    holder.take()
    with pytest.raises(CacheBusy, match="gave up after 0 s"):
        cache.put("new", "m", VALUE)
    monkeypatch.setenv(LOCK_WAIT_ENV, "ten minutes")
    with pytest.raises(CacheError, match=LOCK_WAIT_ENV):
        ResponseCache(holder.path)


def test_opening_a_cache_whose_lock_is_held_gives_up_too(holder: Holder) -> None:
    holder.take()
    with pytest.raises(CacheBusy, match="another process holds its write lock"):
        ResponseCache(holder.path, lock_wait=0)


_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
"""


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


@linux_proc
def test_a_stopped_process_holding_the_lock_is_named(tmp_path: Path) -> None:
    """The reported case: a skillfit process stopped (SIGSTOP, Ctrl-Z) while it held the lock."""
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path, lock_wait=0)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        os.kill(proc.pid, signal.SIGSTOP)
        wait_for(lambda: _state(proc.pid) == "T", "the holder to stop")
        with pytest.raises(CacheBusy) as info:
            cache.put("new", "m", VALUE)
        assert f"pid {proc.pid} (stopped" in str(info.value)
    finally:
        proc.kill()
        proc.wait(HANG_S)
    # The kernel drops a dead process's locks: the cache is writable again.
    cache.put("new", "m", VALUE)
    assert cache.get("new") == VALUE
