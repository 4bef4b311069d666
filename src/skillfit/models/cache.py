"""A persistent response cache (SQLite): the same request never costs a second model call.

The key covers everything that changes the answer: provider and model, messages, max_tokens,
temperature, the response schema and the sample index. Safe across threads (one connection per
thread) and processes (WAL journal, busy timeout).

Only real answers are kept: an empty reply is an infrastructure failure (the provider raises),
and one that reaches the cache anyway (a custom model, an older cache) is neither stored nor
served. A path that cannot hold the cache (a directory, a file that is not SQLite, a folder that
is a file, a read-only file) is a `CacheError` naming the path, before any model call.

Another process holding the write lock (a skillfit run writing, or one stopped while it wrote,
e.g. paused with Ctrl-Z) makes a write wait: in sqlite's busy handler for the first 10 s (so a
write that does not wait costs what it did), then in slices, with one warning that names the
cache and the processes that have it open; after `SKILLFIT_CACHE_LOCK_WAIT` seconds (600 by
default) the write raises `CacheBusy`. Reads do not wait for writers (WAL).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, TypeVar

from skillfit.models.base import (
    ChatModel,
    Message,
    Reply,
    ResponseFormat,
    SchemaValidationError,
    SkillfitModelError,
    Usage,
)
from skillfit.models.paths import cache_dir
from skillfit.models.redact import redact
from skillfit.models.schema import schema_fingerprint, validate
from skillfit.models.wrapper import ModelWrapper

T = TypeVar("T")
_log = logging.getLogger("skillfit.cache")

LOCK_WAIT_ENV = "SKILLFIT_CACHE_LOCK_WAIT"
LOCK_WAIT = 600.0  # seconds a write waits for another process's lock before it gives up
LOCK_WARN_AFTER = 10.0  # seconds of waiting before the one warning
_SLICE = 1.0  # seconds of each of sqlite's busy waits after the warning

_GET = "SELECT value FROM replies WHERE key = ?"
_PUT = "INSERT OR REPLACE INTO replies (key, model, value, created) VALUES (?, ?, ?, ?)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(
    model: str,
    messages: Sequence[Message],
    *,
    max_tokens: int,
    temperature: float,
    response_format: ResponseFormat | None,
    sample: int,
    namespace: str | None = None,
) -> str:
    payload: dict[str, Any] = {
        "model": model,  # the full spec string: provider, model name and endpoint
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "max_tokens": max_tokens,
        "temperature": float(temperature),
        "schema": schema_fingerprint(response_format),
        "sample": sample,
    }
    if namespace is not None:
        # How the provider decodes, where that changes replies (the local server's exact mode):
        # replies decoded another way are never served for it.
        payload["namespace"] = namespace
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ReplyStore(Protocol):
    """Where CachedModel looks replies up and stores them: a ResponseCache, or (on a Ray
    worker) the replies a run's driver handed over plus those made there."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, model: str, value: dict[str, Any]) -> None: ...


class CacheError(SkillfitModelError):
    """The response cache's file cannot be opened, created or written."""


class CacheBusy(CacheError):
    """Another process held the cache's write lock for longer than the cache waits for it
    (`SKILLFIT_CACHE_LOCK_WAIT`). An infrastructure failure: a run stops, and resumes once the
    cache is free."""


def _usable(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("text"), str)
        and bool(value["text"].strip())
    )


class ResponseCache:
    """`ResponseCache(path)`; with no path, `responses.sqlite` in the user cache dir.

    `lock_wait`: seconds a write waits for a lock another process holds before `CacheBusy`
    (default `SKILLFIT_CACHE_LOCK_WAIT`, else 600); `warn_after`: seconds before the warning."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        lock_wait: float | None = None,
        warn_after: float = LOCK_WARN_AFTER,
    ) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "responses.sqlite"
        self._local = threading.local()
        self.lock_wait = _lock_wait_from_env() if lock_wait is None else float(lock_wait)
        # sqlite's own busy wait, the whole wait as long as no process holds the lock longer.
        self._first_wait = max(0.0, min(warn_after, self.lock_wait))
        self._waits = threading.Lock()  # taken only while a lock is waited for
        self._warned = False  # in the current wait, by any thread
        self._gave_up: str | None = None  # why a wait gave up, until a write gets through
        where = f"response cache {self.path} (cache.path)"
        if self.path.is_dir():
            raise CacheError(
                f"{where} is a directory; give a file, e.g. {self.path / 'responses.sqlite'}"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the folder of the {where}: {_why(exc)}") from None

        def open_for_writing(conn: sqlite3.Connection) -> None:
            conn.execute(_SCHEMA)
            # Take the write lock once, so a read-only file fails here and not mid-run.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")

        try:
            self._run(open_for_writing)
        except sqlite3.DatabaseError as exc:
            self.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise CacheError(
                    f"{where} is not an SQLite database; point cache.path to a new file"
                ) from None
            raise CacheError(f"cannot use the {where}: {exc}") from None
        except CacheBusy:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        # A connection inherited through fork must not be used by the child: open its own.
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self._first_wait, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error:
                conn.close()
                raise
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored reply, or None (also for an empty or unreadable record)."""
        try:
            row = self._run(lambda conn: conn.execute(_GET, (key,)).fetchone())
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"cannot read the response cache {self.path}: {exc}") from None
        if not row:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if _usable(value) else None

    def put(self, key: str, model: str, value: dict[str, Any]) -> None:
        """Store a reply; an empty one is never stored."""
        if not _usable(value):
            return
        row = (key, model, json.dumps(value, ensure_ascii=False), time.time())
        try:
            self._run(lambda conn: conn.execute(_PUT, row))
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"cannot write to the response cache {self.path}: {exc}") from None
        if self._gave_up is not None:
            self._gave_up = None  # the lock is free again: a later wait is a new one

    def _run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """`op` on this thread's connection; if another process holds the lock past sqlite's
        own busy wait, on through `_wait`."""
        try:
            return op(self._connect())
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            return self._wait(op)

    def _wait(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """`op` again until the lock another process holds is free: sqlite's busy wait in
        slices, one warning for all the threads that wait, CacheBusy after `lock_wait` seconds
        (at once once a wait gave up, so a run stops without waiting the bound again).

        Only a busy first attempt comes here, which sqlite already let wait `_first_wait`."""
        start = time.monotonic() - self._first_wait
        while True:
            waited = time.monotonic() - start
            with self._waits:
                if self._gave_up is None and waited >= self.lock_wait:
                    self._gave_up = (
                        f"gave up after {waited:.0f} s ({LOCK_WAIT_ENV}) waiting for the write "
                        f"lock of the {self._lock_story()}"
                    )
                if self._gave_up is not None:
                    raise CacheBusy(self._gave_up)
                if not self._warned:
                    self._warned = True
                    _log.warning(
                        "waiting up to %.0f s (%s) for the write lock of the %s",
                        self.lock_wait,
                        LOCK_WAIT_ENV,
                        self._lock_story(),
                    )
            slice_ms = int(1000 * max(0.0, min(_SLICE, self.lock_wait - waited)))
            try:
                conn = self._connect()
                conn.execute(f"PRAGMA busy_timeout = {slice_ms}")
                try:
                    result = op(conn)
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {int(1000 * self._first_wait)}")
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
                continue
            with self._waits:
                self._warned = False
                self._gave_up = None
            return result

    def _lock_story(self) -> str:
        """Whose lock, what may hold it and what to do: the warning and the give-up say it."""
        holders = _holders(self.path)
        named = f" Processes that have it open: {'; '.join(holders)}." if holders else ""
        return redact(
            f"response cache {self.path}: another process holds its write lock (a skillfit run"
            " or another program using this file, running or stopped, e.g. paused with"
            f" Ctrl-Z).{named} Let it finish, end it (a stopped one: resume it with fg, or"
            " kill it), or give this run another cache: --set cache.path=FILE,"
            " SKILLFIT_CACHE_DIR for the default location, or --set cache.enabled=false."
        )

    def __len__(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY (and its extended codes): another connection holds the lock."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


def _lock_wait_from_env() -> float:
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return LOCK_WAIT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise CacheError(f"{LOCK_WAIT_ENV} must be a number of seconds, 0 or more; got {raw!r}")
    return seconds


def _holders(path: Path) -> list[str]:
    """Other processes that have the cache (or its -wal, -shm) open, stopped ones first, as
    `pid N (stopped): command`; best effort, from /proc (Linux): empty where it cannot be read."""
    files: set[tuple[int, int]] = set()
    for suffix in ("", "-wal", "-shm"):
        try:
            st = os.stat(f"{path}{suffix}")
        except OSError:
            continue
        files.add((st.st_dev, st.st_ino))
    try:
        pids = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []
    found: list[tuple[bool, str]] = []
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            fds = list(os.scandir(f"/proc/{pid}/fd"))
        except OSError:
            continue  # gone, or another user's
        opened = False
        for fd in fds:
            try:
                st = os.stat(fd.path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in files:
                opened = True
                break
        if not opened:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
        except OSError:
            continue
        stopped = stat[stat.rindex(")") + 2 :][:1] in ("T", "t")
        command = cmd.decode(errors="replace")
        command = command if len(command) <= 100 else command[:97] + "..."
        label = f"pid {pid} (stopped, e.g. by Ctrl-Z)" if stopped else f"pid {pid}"
        found.append((not stopped, f"{label}: {command}" if command else label))
    return [text for _, text in sorted(found, key=lambda f: f[0])]


def _why(exc: OSError) -> str:
    if isinstance(exc, FileExistsError | NotADirectoryError) and exc.filename:
        return f"{exc.filename} (or a folder above it) is a file, not a folder"
    return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)


def _to_record(reply: Reply) -> dict[str, Any]:
    usage = asdict(reply.usage)
    if not usage["cache_write_tokens"]:
        # Left out when 0 (every provider but Anthropic): such records stay readable by
        # versions of skillfit that do not know the field and share the cache.
        del usage["cache_write_tokens"]
    return {
        "text": reply.text,
        "usage": usage,
        "latency": reply.latency,
        "model": reply.model,
        "finish_reason": reply.finish_reason,
    }


class CachedModel(ModelWrapper):
    """Serves repeated requests from a ResponseCache; a hit makes no model call."""

    def __init__(self, inner: ChatModel, cache: ReplyStore, *, on_hit: Any = None) -> None:
        super().__init__(inner)
        self.cache = cache
        self._on_hit = on_hit  # called with the cached Reply and its key (the ledger counts hits)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        response_format: ResponseFormat | None = None,
        sample: int = 0,
    ) -> Reply:
        key = cache_key(
            self.name,
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
            sample=sample,
            namespace=getattr(self.inner, "cache_namespace", None),
        )
        record = self.cache.get(key)
        parsed = None
        if record is not None and response_format is not None:
            try:
                parsed = validate(record["text"], response_format)
            except SchemaValidationError:
                record = None  # the schema's validators changed since: ask the model again
        if record is not None:
            reply = Reply(
                text=record["text"],
                usage=Usage.from_record(record["usage"]),
                latency=0.0,
                cached=True,
                model=record["model"],
                finish_reason=record["finish_reason"],
                parsed=parsed,
            )
            if self._on_hit is not None:
                self._on_hit(reply, key)
            return reply
        reply = self.inner.complete(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
            sample=sample,
        )
        self.cache.put(key, self.name, _to_record(reply))  # an empty reply is not stored
        return reply
