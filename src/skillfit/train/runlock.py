"""One process at a time in a run directory: an exclusive `flock` on `<run>/.run.lock`.

Two runs writing one directory corrupt each other (renames of one undo the other's, calls are
counted twice), so the second is refused at once, naming the process that holds the run. The
kernel drops a `flock` when its holder ends however it ends (^C, a crash, SIGKILL), so a lock
left by a dead process is never in the way: there is nothing stale to detect or clean up. The
file itself only says who holds the lock (pid, host, since when), for the refusal's message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from skillfit.core.errors import RunDirConflict

__all__ = ["LOCK_NAME", "Holder", "RunLock", "RunLocked", "holder", "locked_message"]

LOCK_NAME = ".run.lock"
# A reader (the dashboard asking who holds a run) takes the lock shared for an instant; an
# acquirer meeting it tries again for this long before taking the run as held.
_RETRY_SECONDS = 0.3


@dataclass(frozen=True)
class Holder:
    """Who holds a run directory, as its lock file says (any part may be unknown)."""

    pid: int | None = None
    host: str | None = None
    since: float | None = None

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        where = f" on {self.host}" if self.host else ""
        if self.host and self.host != socket.gethostname():
            where += " (another machine)"
        since = ""
        if self.since is not None:
            since = f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.since))}"
        return f"process {self.pid}{where}{since}"


def locked_message(root: Path, who: Holder) -> str:
    """The one line both the CLI and the dashboard give for a run directory in use."""
    return (
        f"{root} is in use by {who.describe()}: one run directory takes one run at a time; "
        "wait for it to end or stop it (^C in its terminal, Stop in the dashboard), then run "
        "the same command again to resume"
    )


class RunLocked(RunDirConflict):
    """The run directory is held by another process."""

    def __init__(self, root: Path, who: Holder) -> None:
        super().__init__(locked_message(root, who))
        self.root = root
        self.holder = who


def _read_holder(fd: int) -> Holder:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096).decode("utf-8"))
    except (OSError, ValueError):
        return Holder()  # written by a holder that has only just taken the lock
    if not isinstance(data, dict):
        return Holder()
    pid, host, since = data.get("pid"), data.get("host"), data.get("since")
    return Holder(
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        host=host if isinstance(host, str) else None,
        since=float(since) if isinstance(since, int | float) else None,
    )


def holder(root: str | os.PathLike[str]) -> Holder | None:
    """Who holds the run directory `root` now, or None when no process does."""
    try:
        fd = os.open(Path(root) / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file: no run has held it (or the folder is gone)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock:
    """The exclusive hold on one run directory, for as long as a run writes it.

        with RunLock(run_dir):   # RunLocked if another process holds it
            ...

    The folder is made if it does not exist; if the run then writes nothing into it (refused,
    or failed before its first file), release removes the folder again."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._fd: int | None = None
        self._made_root = False

    @property
    def path(self) -> Path:
        return self.root / LOCK_NAME

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        self._made_root = not self.root.exists()
        self._fd = self._lock()
        return self

    def _lock(self) -> int:
        deadline = time.monotonic() + _RETRY_SECONDS
        while True:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                continue  # the folder was removed by a holder releasing an unused run dir
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() < deadline:
                    os.close(fd)
                    time.sleep(0.05)
                    continue
                who = _read_holder(fd)
                os.close(fd)
                raise RunLocked(self.root, who) from None
            except BaseException:
                os.close(fd)
                raise
            if not self._is_current(fd):
                os.close(fd)  # locked a file its holder unlinked on release: take the new one
                continue
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
            return fd

    def _is_current(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def renew(self) -> None:
        """Take the lock of a new folder at `root` after the held one was moved aside (train's
        --force): the new one is held before the old one is let go, so no run slips between."""
        old = self._fd
        self._made_root = False
        self._fd = self._lock()
        if old is not None:
            self._close(old)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            # Nothing but the lock in the folder: the run wrote nothing; leave no trace.
            if self._is_current(fd) and [p.name for p in self.root.iterdir()] == [LOCK_NAME]:
                self.path.unlink()
                if self._made_root:
                    self.root.rmdir()
        self._close(fd)

    @staticmethod
    def _close(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # a reader meeting the file later finds no old holder named
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
