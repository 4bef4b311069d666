"""A persistent response cache (SQLite): the same request never costs a second model call.

The key covers everything that changes the answer: provider and model, messages, max_tokens,
temperature, the response schema and the sample index. Safe across threads (one connection per
thread) and processes (WAL journal, busy timeout).

Only real answers are kept: an empty reply is an infrastructure failure (the provider raises),
and one that reaches the cache anyway (a custom model, an older cache) is neither stored nor
served. A path that cannot hold the cache (a directory, a file that is not SQLite, a folder that
is a file, a read-only file) is a `CacheError` naming the path, before any model call.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

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
from skillfit.models.schema import schema_fingerprint, validate
from skillfit.models.wrapper import ModelWrapper

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


def _usable(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("text"), str)
        and bool(value["text"].strip())
    )


class ResponseCache:
    """`ResponseCache(path)`; with no path, `responses.sqlite` in the user cache dir."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "responses.sqlite"
        self._local = threading.local()
        where = f"response cache {self.path} (cache.path)"
        if self.path.is_dir():
            raise CacheError(
                f"{where} is a directory; give a file, e.g. {self.path / 'responses.sqlite'}"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the folder of the {where}: {_why(exc)}") from None
        try:
            conn = self._connect()
            conn.execute(_SCHEMA)
            # Take the write lock once, so a read-only file fails here and not mid-run.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            self.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise CacheError(
                    f"{where} is not an SQLite database; point cache.path to a new file"
                ) from None
            raise CacheError(f"cannot use the {where}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        # A connection inherited through fork must not be used by the child: open its own.
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored reply, or None (also for an empty or unreadable record)."""
        try:
            row = (
                self._connect()
                .execute("SELECT value FROM replies WHERE key = ?", (key,))
                .fetchone()
            )
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
        try:
            self._connect().execute(
                "INSERT OR REPLACE INTO replies (key, model, value, created) VALUES (?, ?, ?, ?)",
                (key, model, json.dumps(value, ensure_ascii=False), time.time()),
            )
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"cannot write to the response cache {self.path}: {exc}") from None

    def __len__(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


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
