"""Start, stop and resume training runs in the background, through the `skillfit train` CLI.

A launch is a child process in its own session (so stopping it reaches its threads and any
helper processes) whose output goes to `<root>/.skillfit-ui/logs/<name>.log`; its record
(command, pid, start, end, exit code) is `<root>/.skillfit-ui/launches/<name>.json`, so a
restarted dashboard still knows which runs it started. Runs outlive the dashboard: a long,
paid run is never stopped because a browser tab or the dashboard closed.

Stopping sends SIGINT (the CLI saves nothing half-done: every unit of work is written
atomically, and a stopped run resumes from its last finished unit), then SIGTERM and SIGKILL
to the process group if it has not exited after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skillfit.dashboard.launch_guard import (
    LaunchError,
    check_launch,
    check_override,
    restore_keys,
)
from skillfit.dashboard.names import UI_DIR, check_name, check_new_name
from skillfit.dashboard.stopping import (
    GRACE_SECONDS,
    KILL_AFTER_SECONDS,
    Stops,
    private_dir,
    signal_group,
    signal_pid,
)
from skillfit.models.redact import redact

# The variable `skillfit.cli.launched` reads a launch's overrides from (not imported from
# there: `python -m` would then find the module loaded before it runs).
OVERRIDES_ENV = "SKILLFIT_UI_SET"


@dataclass
class Launch:
    name: str
    argv: list[str]
    run_dir: str
    config: str = ""
    overrides: list[str] = field(default_factory=list)
    pid: int | None = None
    started: float = 0.0
    ended: float | None = None
    exit_code: int | None = None
    stop_requested: bool = False
    log: str = ""

    @property
    def outcome(self) -> str:
        """running, stopped (from the dashboard), done (exit 0) or failed."""
        if self.exit_code is None:
            return "running"
        if self.stop_requested:
            return "stopped"
        return "done" if self.exit_code == 0 else "failed"


def configs_in(folder: Path | None) -> dict[str, Path]:
    """The YAML configs offered by the launch form, by file name (never by path)."""
    if folder is None or not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.y*ml")):
        if path.is_file() and not path.name.startswith("."):
            found[path.name] = path
    return found


class Launcher:
    def __init__(self, root: Path, configs: Path | None = None, python: str | None = None):
        self.root = root.resolve()
        self.configs_dir = configs.resolve() if configs is not None else None
        self.python = python or sys.executable
        self.dir = self.root / UI_DIR
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stops = Stops(self.dir / "stops")
        self._lock = threading.Lock()

    # ---- records ------------------------------------------------------------------------

    def _record_path(self, name: str) -> Path:
        return self.dir / "launches" / (check_name(name).replace("/", "__") + ".json")

    def _save(self, launch: Launch) -> None:
        path = self._record_path(launch.name)
        private_dir(path.parent)
        # One temp file per writer: the watcher thread and a request may save the same launch
        # at once, and a shared temp name lets one rename the other's file away. Readable by
        # its user only (0600), and never holding a key: the overrides are kept redacted.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(redact(json.dumps(asdict(launch), indent=1)))
        tmp.replace(path)

    def get(self, name: str) -> Launch | None:
        path = self._record_path(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            launch = Launch(**data)
        except (OSError, ValueError, TypeError):
            return None
        if launch.exit_code is None:
            proc = self._procs.get(launch.name)
            code = proc.poll() if proc is not None and proc.pid == launch.pid else None
            if code is not None or not self._alive(launch):
                # -1: it ended while no dashboard watched it (this one was restarted).
                launch.exit_code = code if code is not None else -1
                launch.ended = launch.ended or time.time()
                self._save(launch)
        return launch

    def all(self) -> list[Launch]:
        folder = self.dir / "launches"
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.json")):
            launch = self.get(path.stem.replace("__", "/"))
            if launch is not None:
                out.append(launch)
        return out

    def running(self) -> list[Launch]:
        return [launch for launch in self.all() if launch.exit_code is None]

    def log_tail(self, name: str, lines: int = 30) -> str:
        launch = self.get(name)
        if launch is None or not launch.log:
            return ""
        try:
            with open(launch.log, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 16_000))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return redact("\n".join(text.splitlines()[-lines:]))

    def error_line(self, name: str) -> str:
        """The last line a launch wrote (its error, when it failed), redacted."""
        lines = [
            line.strip()
            for line in self.log_tail(name, 40).splitlines()
            if line.strip() and not line.startswith("--- ")
        ]
        return lines[-1][:400] if lines else ""

    # ---- processes ----------------------------------------------------------------------

    def _alive(self, launch: Launch) -> bool:
        proc = self._procs.get(launch.name)
        if proc is not None:
            return proc.poll() is None
        if not launch.pid:
            return False
        try:
            os.kill(launch.pid, 0)
        except OSError:
            return False
        try:  # the pid may have been reused by another program
            cmdline = Path(f"/proc/{launch.pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return True
        return launch.run_dir.encode() in cmdline

    def start(self, name: str, config: str, overrides: list[str]) -> Launch:
        """A new run `name` (under the root) from the offered config `config`."""
        name = check_new_name(name)
        configs = configs_in(self.configs_dir)
        if config not in configs:
            raise LaunchError(f"no config named {config!r} among {sorted(configs) or 'none'}")
        overrides = [check_override(o) for o in overrides if o.strip()]
        run_dir = self.root / name
        if run_dir.exists() and any(run_dir.iterdir()):
            raise LaunchError(f"a run named {name!r} already exists: resume it or pick a new name")
        check_launch(configs[config], overrides, configs)
        argv = [*self._command(), "--config", str(configs[config]), "--out", str(run_dir)]
        launch = Launch(
            name=name,
            argv=[*argv, "--quiet"],
            run_dir=str(run_dir),
            config=config,
            overrides=[redact(o) for o in overrides],  # what the page shows: no key
        )
        return self._spawn(launch, overrides)

    def _command(self) -> list[str]:
        """`skillfit train`, through the entry that takes its overrides from the environment
        (a key inside a base URL never shows in the process's command line)."""
        return [self.python, "-m", "skillfit.cli.launched", "train"]

    def resume(self, name: str, run_dir: Path) -> Launch:
        """Run a stopped (or stale, or failed) run again: it resumes where it stopped."""
        from skillfit.train.runlock import holder, locked_message

        current = self.get(name)
        if current is not None and current.exit_code is None:
            raise LaunchError(f"{name} is still running")
        # A run started in a terminal may still hold the folder though its record looks stale
        # (its start event lost, say): the lock knows, and the refusal is the CLI's own.
        where = Path(current.run_dir) if current is not None else run_dir
        who = holder(where)
        if who is not None:
            raise LaunchError(locked_message(where, who))
        if current is None:  # a run started elsewhere: its own config.json
            config = run_dir / "config.json"
            if not config.is_file():
                raise LaunchError(f"{name} has no config.json to resume from")
            argv = [*self._command(), "--config", str(config), "--out", str(run_dir)]
            launch = Launch(
                name=name,
                argv=[*argv, "--resume", "--quiet"],
                run_dir=str(run_dir),
                config="config.json",
            )
            return self._spawn(launch, [])
        # As it was launched: the same config and overrides, their keys (kept nowhere) taken
        # again from the offered configs they came from.
        overrides = restore_keys(current.overrides, configs_in(self.configs_dir))
        launch = Launch(
            name=name,
            argv=[a for a in current.argv if a != "--force"],
            run_dir=current.run_dir,
            config=current.config,
            overrides=current.overrides,
        )
        return self._spawn(launch, overrides)

    def _spawn(self, launch: Launch, overrides: list[str]) -> Launch:
        with self._lock:
            logs = self.dir / "logs"
            private_dir(logs)
            log = logs / (launch.name.replace("/", "__") + ".log")
            launch.log = str(log)
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "TERM": "dumb"}
            env[OVERRIDES_ENV] = json.dumps(overrides)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)  # a log an older dashboard wrote 0644
            with os.fdopen(fd, "ab") as out:
                out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} start ---\n".encode())
                out.flush()
                proc = subprocess.Popen(
                    launch.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                )
            launch.pid = proc.pid
            launch.started = time.time()
            self._procs[launch.name] = proc
            self._save(launch)
        threading.Thread(target=self._wait, args=(launch.name, proc), daemon=True).start()
        return launch

    def _wait(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        with self._lock:
            self.get(name)  # records the exit code

    def stop(
        self, name: str, grace: float = GRACE_SECONDS, kill_after: float = KILL_AFTER_SECONDS
    ) -> Launch:
        """Ask the run to stop (SIGINT to its process group), then make sure it does (SIGTERM,
        SIGKILL); each step is kept in the stop's record."""
        launch = self.get(name)
        if launch is None or launch.exit_code is not None or not launch.pid:
            raise LaunchError(f"{name} is not running from this dashboard")
        launch.stop_requested = True
        self._save(launch)
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile: nothing to stop
            self.stops.stop(
                name,
                launch.pid,
                signal_group,
                grace=grace,
                kill_after=kill_after,
                alive=lambda: self._alive(launch),
            )
        return launch

    @staticmethod
    def external_pid(events: list[Any], run_dir: Path) -> int | None:
        """The process of a run started elsewhere (a terminal) that is still going, from the
        record's last `process_start` event: same host, alive, and a `skillfit` command line
        (a reused pid is not taken for the run)."""
        starts = [e for e in events if getattr(e, "event", "") == "process_start"]
        if not starts:
            return None
        data = starts[-1].data
        pid = data.get("pid")
        if not isinstance(pid, int) or pid <= 1 or data.get("host") != socket.gethostname():
            return None
        if any(
            getattr(e, "event", "") in ("run_end", "run_failed")
            for e in events[events.index(starts[-1]) :]
        ):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        if not any(b"skillfit" in part for part in cmdline) or b"train" not in cmdline:
            return None
        return pid

    def stop_external(
        self,
        name: str,
        pid: int,
        grace: float = GRACE_SECONDS,
        kill_after: float = KILL_AFTER_SECONDS,
    ) -> None:
        """Ask a run started elsewhere to stop, as ^C in its terminal would; if it is still
        there after `grace` seconds, SIGTERM, then SIGKILL (said on its page)."""
        check_name(name)
        try:
            os.kill(pid, 0)
            self.stops.stop(name, pid, signal_pid, grace=grace, kill_after=kill_after)
        except ProcessLookupError:
            raise LaunchError(f"{name}: process {pid} has ended") from None
        except OSError as exc:
            raise LaunchError(
                f"{name}: process {pid} cannot be signalled ({exc.strerror})"
            ) from None

    def wait(self, name: str, timeout: float) -> Launch | None:
        """The launch once it has ended (or as it is after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            launch = self.get(name)
            if launch is None or launch.exit_code is not None:
                return launch
            time.sleep(0.1)
        return self.get(name)


def describe(launch: Launch | None) -> dict[str, Any] | None:
    if launch is None:
        return None
    return {
        "outcome": launch.outcome,
        "pid": launch.pid,
        "started": launch.started,
        "ended": launch.ended,
        "exit_code": launch.exit_code,
        "config": launch.config,
        "overrides": launch.overrides,
    }
