"""Run model-written Python in a separate, contained process.

Layers, strongest first (each result records which ones were active in `isolation`):

- **bubblewrap** (`bwrap`, Debian package `bubblewrap`), when present and working: the process
  sees the whole file system read-only except its working directory, has no network (its own
  network namespace, where only a private loopback exists), its own PID namespace (killing the sandbox kills
  every process it started) and no capabilities. Paths the caller hides (an answer key next
  to the input) are covered by an empty tmpfs or /dev/null.
- **netns**: without bubblewrap, a process running as root moves itself into an empty network
  namespace (`unshare(CLONE_NEWNET)`) before the code runs.
- **audit hook**, always: a `sys.addaudithook` guard refuses writes outside the working
  directory (open in a write mode, remove, rename, mkdir, ...), reading hidden paths, socket
  creation, starting processes and loading native libraries through ctypes. On its own it stops mistakes, not a
  determined attacker; with bubblewrap it only turns kernel refusals into clearer messages.
- **resource limits**, always: address space (`RLIMIT_AS`), CPU seconds, file size, no core
  dumps; plus a wall-clock limit enforced by the parent, which kills the whole process group.

Force a layer choice with the environment variable SKILLFIT_SANDBOX=bwrap|basic.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_OUTPUT_CHARS = 20_000  # of stdout and of stderr kept in the result
MAX_FILE_MB = 256  # largest file the sandboxed code may write (RLIMIT_FSIZE)
MEMORY_MARKER = "skillfit-sandbox: memory limit exceeded"
_BWRAP_ENV = "SKILLFIT_SANDBOX"


class SandboxUnavailable(RuntimeError):
    """No kernel-enforced isolation layer is available to run model-written code."""


@dataclass(frozen=True)
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    killed_reason: str | None  # "timeout" | "cpu" | "memory" | None
    seconds: float
    isolation: tuple[str, ...] = ()  # layers that were active, e.g. ("bwrap", "audit", "rlimit")

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.killed_reason is None


# The program the sandboxed interpreter runs first: limits, network namespace, audit hook, then
# the model's code as `__main__`. Kept as a string so it travels as one file with no imports
# from skillfit (the child must not depend on the parent's package being importable).
_BOOTSTRAP = r"""
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
mem = cfg["memory_bytes"]
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cfg["cpu_s"], cfg["cpu_s"] + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["fsize_bytes"], cfg["fsize_bytes"]))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
layers = []
if cfg["try_netns"]:
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x40000000) == 0:  # CLONE_NEWNET: a namespace with no interface up
            layers.append("netns")
    except Exception:
        pass
WORKDIR = os.path.realpath(cfg["workdir"])
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {  # event -> indexes of path arguments that get written
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
    "os.replace": (0, 1), "os.link": (1,), "os.symlink": (1,), "os.truncate": (0,),
    "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,), "shutil.rmtree": (0,),
    "os.chflags": (0,), "os.setxattr": (0,), "os.removexattr": (0,), "os.mkfifo": (0,),
    "os.mknod": (0,),
}
_FORBIDDEN = {
    "subprocess.Popen": "starting processes", "os.system": "starting processes",
    "os.exec": "starting processes", "os.posix_spawn": "starting processes",
    "os.spawn": "starting processes", "os.fork": "starting processes",
    "os.forkpty": "starting processes", "pty.spawn": "starting processes",
    "socket.__new__": "network access", "socket.connect": "network access",
    "socket.bind": "network access", "socket.getaddrinfo": "network access",
    "ctypes.dlsym": "native calls", "ctypes.call_function": "native calls",
}
_busy = [False]
HIDDEN = [os.path.realpath(h) for h in cfg["hidden"]]

def _hidden(path):
    if isinstance(path, int) or path is None:
        return False
    real = os.path.realpath(os.fsdecode(os.fspath(path)))
    return any(real == h or real.startswith(h + os.sep) for h in HIDDEN)

def _inside(path):
    if isinstance(path, int):
        return True  # an already-open descriptor: its opening was checked
    p = os.fsdecode(os.fspath(path))
    real = os.path.realpath(p)
    return real == WORKDIR or real.startswith(WORKDIR + os.sep) or real == os.devnull

def _hook(event, args):
    if _busy[0]:
        return
    _busy[0] = True
    try:
        if event in _FORBIDDEN:
            raise PermissionError(f"sandbox: {_FORBIDDEN[event]} is not allowed ({event})")
        if event == "ctypes.dlopen" and args and args[0] is not None:
            raise PermissionError("sandbox: native calls are not allowed (ctypes.dlopen)")
        if event in ("open", "os.listdir", "os.scandir") and args and _hidden(args[0]):
            raise PermissionError(f"sandbox: {args[0]} is hidden from this code")
        if event == "open":
            path, mode, flags = args
            writes = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writes and path is not None and not _inside(path):
                raise PermissionError(
                    f"sandbox: writing outside the working directory is not allowed: {path}")
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                if i < len(args) and args[i] is not None and not _inside(args[i]):
                    raise PermissionError(
                        f"sandbox: changing files outside the working directory is not "
                        f"allowed: {args[i]}")
    finally:
        _busy[0] = False

import linecache, traceback
with open(cfg["code_path"], encoding="utf-8") as f:
    source = f.read()
# Tracebacks show the offending source lines, which the feedback passes on to the optimizer.
linecache.cache["main.py"] = (len(source), None, source.splitlines(True), "main.py")
if cfg["audit"]:
    sys.addaudithook(_hook)
sys.argv = ["main.py"]
sys.path.insert(0, WORKDIR)
del cfg, f
try:
    exec(compile(source, "main.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
except MemoryError:
    print(MEMORY_MARKER, file=sys.stderr)
    sys.exit(1)
except SystemExit:
    raise
except BaseException as exc:
    tb = traceback.TracebackException.from_exception(exc)
    tb.stack = traceback.StackSummary.from_list([fs for fs in tb.stack if fs.filename == "main.py"])
    sys.stderr.write("".join(tb.format()))
    sys.exit(1)
""".replace("MEMORY_MARKER", repr(MEMORY_MARKER))


def _bwrap_path() -> str | None:
    if os.environ.get(_BWRAP_ENV, "").lower() == "basic":
        return None
    return _probe_bwrap()


@functools.lru_cache(maxsize=1)
def _probe_bwrap() -> str | None:
    """The bwrap binary if it exists and can build our namespaces here (containers often
    forbid them), else None."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [*_bwrap_args(path, Path("/")), "true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return path if probe.returncode == 0 else None


def _bwrap_args(bwrap: str, workdir: Path, hidden: Sequence[Path] = ()) -> list[str]:
    masks: list[str] = []
    for path in hidden:
        # An empty tmpfs over a folder, /dev/null over a file: present, but with nothing in it.
        masks += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    return [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-all",  # net, pid, ipc, uts, cgroup (and user where possible)
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        *masks,
        "--bind",
        str(workdir),
        str(workdir),
        "--chdir",
        str(workdir),
    ]


@functools.lru_cache(maxsize=1)
def _netns_works() -> bool:
    """Whether a child process may move itself into a new network namespace (root with
    CAP_SYS_ADMIN, as in most CI containers)."""
    if os.geteuid() != 0:
        return False
    probe = "import ctypes,sys; sys.exit(ctypes.CDLL(None).unshare(0x40000000) != 0)"
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", probe], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def sandbox_layers() -> tuple[str, ...]:
    """The isolation layers `run_python` uses on this machine (probed once, then cached)."""
    if _bwrap_path():
        return ("bwrap", "audit", "rlimit")
    netns = ("netns",) if _netns_works() else ()
    return (*netns, "audit", "rlimit")


def _decode(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + f"\n[... output cut at {MAX_OUTPUT_CHARS} characters]"
    return text


def _read_capped(f: IO[bytes]) -> bytes:
    f.seek(0)
    return f.read(MAX_OUTPUT_CHARS * 4 + 4)


def _signal_of(returncode: int) -> int | None:
    if returncode < 0:
        return -returncode
    if returncode > 128 and returncode - 128 < 65:  # how bwrap and shells report a signal
        return returncode - 128
    return None


def run_python(
    code: str,
    workdir: Path,
    *,
    timeout_s: float = 30,
    memory_mb: int = 1024,
    hide: Sequence[Path] = (),
    audit: bool = True,
) -> SandboxResult:
    """Run `code` as a script with its current directory in `workdir`, which it may change;
    nothing else on disk is writable, the network is unreachable, and the process gets at most
    `timeout_s` wall seconds (and as many CPU seconds) and `memory_mb` of address space.

    `hide` lists files or folders the code must not read (an answer key next to the input, say).

    Never raises for anything the code does: failures, limits and kills are in the result.
    `audit=False` drops the audit-hook layer (for testing that the kernel layers hold alone)."""
    workdir = Path(workdir).resolve()
    if not workdir.is_dir():
        raise FileNotFoundError(f"sandbox working directory {workdir} does not exist")
    bwrap = _bwrap_path()
    layers = sandbox_layers()
    hidden = [Path(p).resolve() for p in hide if Path(p).exists()]
    for path in hidden:
        if path == workdir or workdir.is_relative_to(path):
            raise ValueError(f"cannot hide {path}: it holds the working directory {workdir}")
    cpu_s = max(1, int(timeout_s + 0.999))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="skillfit-sbx-") as control:
        # The code and bootstrap live outside the workdir, so the code cannot rewrite them.
        code_path = Path(control) / "main.py"
        code_path.write_text(code, encoding="utf-8")
        boot_path = Path(control) / "bootstrap.py"
        boot_path.write_text(_BOOTSTRAP, encoding="utf-8")
        cfg = {
            "memory_bytes": int(memory_mb) * 1024 * 1024,
            "cpu_s": cpu_s,
            "fsize_bytes": MAX_FILE_MB * 1024 * 1024,
            "try_netns": "netns" in layers,
            "workdir": str(workdir),
            "code_path": str(code_path),
            "audit": audit,
            "hidden": [str(p) for p in hidden],
        }
        # -I: ignore PYTHON* variables and user site; -B: no bytecode files.
        argv = [sys.executable, "-I", "-B", str(boot_path), json.dumps(cfg)]
        if bwrap is not None:
            argv = [*_bwrap_args(bwrap, workdir, hidden), *argv]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, killed as one
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # Kill leftovers (and the whole group on timeout); harmless if all have exited.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            stdout, stderr = _decode(_read_capped(out)), _decode(_read_capped(err))
    seconds = time.perf_counter() - start
    returncode = proc.returncode
    killed: str | None = None
    sig = _signal_of(returncode)
    if timed_out:
        killed = "timeout"
    elif sig in (signal.SIGXCPU, signal.SIGKILL) and seconds < timeout_s:
        killed = "cpu" if sig == signal.SIGXCPU else "memory"
    elif MEMORY_MARKER in stderr or stderr.rstrip().endswith("MemoryError"):
        killed = "memory"
    if not audit:
        layers = tuple(layer for layer in layers if layer != "audit")
    return SandboxResult(
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out,
        killed_reason=killed,
        seconds=seconds,
        isolation=layers,
    )
