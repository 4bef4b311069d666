"""Writing the files of a run so that a failure says which file, and an append-only log stays
one record per line.

A write that fails for lack of space raises `OSError(ENOSPC)` without a file name ("[Errno 28]
No space left on device"): `naming(path)` adds it, so the user learns which disk filled.
A log line cut short by a kill or a full disk would swallow the next process's first line;
`append_line` closes such a torn line first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["append_line", "naming"]


@contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise an OSError that names no file as the same error naming `path`."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise type(exc)(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc


def append_line(path: Path, line: str) -> None:
    """Append `line` (ending with a newline) to the log at `path`, flushed. A last line that
    does not end with a newline (cut by a kill or a full disk) is ended first, so it stays one
    unreadable line of its own instead of taking this one with it."""
    data = line.encode("utf-8")
    with naming(path), path.open("a+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                data = b"\n" + data
        fh.write(data)  # append mode: always at the end
        fh.flush()
