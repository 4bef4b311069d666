"""Reading a file a user named (a config, a data file, a rubric, a skill) without surprises.

Only a regular file is read: a named pipe would block the open forever, a device such as
/dev/zero would be read until memory runs out. The size is checked before reading and again
while reading (a file may grow, and /proc files report size 0), so nothing larger than the
limit is ever held in memory.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["FileRefused", "human_size", "read_regular_file", "yaml_problem"]


class FileRefused(ValueError):
    """A path that is not a regular file, or a file over the size limit. The message names the
    path and what is wrong, never the file's content."""

    def __init__(self, path: Path, reason: str, *, too_large: bool = False) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.too_large = too_large  # a regular file, over the limit


def human_size(n: int) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check(path: Path, st: os.stat_result, limit: int, what: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(path, f"is {_kind(st.st_mode)}; {what} must be a regular file")
    if st.st_size > limit:
        raise FileRefused(
            path,
            f"is {human_size(st.st_size)}, more than the {human_size(limit)} {what} may hold",
            too_large=True,
        )


def read_regular_file(path: str | os.PathLike[str], limit: int, what: str = "a file") -> bytes:
    """The bytes of the regular file at `path` (symbolic links followed), at most `limit`.

    FileRefused when it is not a regular file or is larger than `limit`; IsADirectoryError for
    a folder and the usual OSErrors (not found, permission) as `open` raises them."""
    p = Path(path)
    _check(p, os.stat(p), limit, what)
    # O_NONBLOCK: a file swapped for a FIFO between the check and the open cannot block it.
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        _check(p, os.fstat(fd), limit, what)
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > limit:
        raise FileRefused(
            p, f"is larger than the {human_size(limit)} {what} may hold", too_large=True
        )
    return b"".join(chunks)


def yaml_problem(exc: Exception, first_line: int = 1) -> str:
    """PyYAML's multi-line report as one line: what is wrong and where (`first_line`: the
    file's line number of the YAML's first line, for YAML inside a file)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = (
        f" at line {mark.line + first_line}, column {mark.column + 1}" if mark is not None else ""
    )
    return f"{problem}{where}"
