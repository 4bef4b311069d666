"""Send llama.cpp's native log (written to file descriptor 2) to a file instead of the terminal.

llama.cpp writes from C++ threads straight to fd 2, so Python's logging cannot catch it. We point
fd 2 at the log file and give Python's `sys.stderr` a duplicate of the original terminal, so
Python warnings and tracebacks still reach the user. Child processes started afterwards inherit
fd 2 (the log) unless they capture stderr. `SKILLFIT_LOCAL_LOG=stderr` turns this off.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from pathlib import Path

from skillfit.models.paths import cache_dir

_lock = threading.Lock()
_routed_to: Path | None = None


def log_path() -> Path:
    path = cache_dir() / "logs" / "llama-server.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def route_native_log() -> Path | None:
    """Route fd 2 to the server log (once per process). Returns the log path, or None when the
    user asked to keep the log on stderr."""
    global _routed_to
    if os.environ.get("SKILLFIT_LOCAL_LOG", "").lower() == "stderr":
        return None
    with _lock:
        if _routed_to is not None:
            return _routed_to
        path = log_path()
        stream = sys.stderr
        try:
            python_uses_fd2 = stream is not None and stream.fileno() == 2
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            python_uses_fd2 = False
        if stream is not None:
            stream.flush()
        terminal = os.dup(2)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        if python_uses_fd2 and stream is not None:
            sys.stderr = io.TextIOWrapper(
                os.fdopen(terminal, "wb", buffering=0),
                encoding=getattr(stream, "encoding", None) or "utf-8",
                errors="backslashreplace",
                write_through=True,
            )
        else:
            os.close(terminal)
        _routed_to = path
        return path


def size(path: Path | None) -> int:
    """Current length of the log, to read later only what one server start wrote."""
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def since(path: Path | None, offset: int, max_bytes: int = 20000) -> str:
    """What the log gained after `offset` (at most `max_bytes`)."""
    if path is None or not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(max(offset, path.stat().st_size - max_bytes))
        return fh.read().decode("utf-8", "replace")


def errors(text: str, limit: int = 6) -> str:
    """The error lines of a llama.cpp log excerpt (its lines carry an ` E ` level tag)."""
    lines = [line.strip() for line in text.splitlines() if " E " in line]
    return "\n".join(lines[:limit])
