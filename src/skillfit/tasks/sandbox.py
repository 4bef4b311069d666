"""Run model-written Python in a separate, contained process.

Model-written code runs only behind a kernel-enforced isolation layer, bubblewrap (`bwrap`;
`apt-get install bubblewrap`). Without it, `run_python` refuses (`SandboxUnavailable`, naming
how to install it) unless the user opts in to the weaker mode with SKILLFIT_SANDBOX=basic, which
is logged loudly: an audit hook in the same interpreter is not a security boundary, and an
adversarial test escaped it (writes through `dir_fd` and sqlite3, hard links, `fork_exec` with
`setsid`, reading `/proc/<ppid>/environ`, switching the hook off through a module global).

Layers, strongest first (each result records which ones were active in `isolation`):

- **bubblewrap**: the process sees the file system read-only except its working directory, has
  no network (its own network namespace, where only a private loopback exists), its own PID
  namespace (it cannot see, signal or trace the parent; every process it starts dies with it)
  and no capabilities. Hidden by default: the user's home (the Python installation inside it
  stays readable), every `.env` file from the current directory up, credential stores, other
  processes' temp files (/tmp, /var/tmp, /dev/shm: fresh and empty) and sockets (/run); plus
  whatever the caller hides (an answer key next to the input), each covered by an empty tmpfs
  or /dev/null.
- **netns** (opt-in basic mode only): a process running as root moves itself into an empty
  network namespace (`unshare(CLONE_NEWNET)`) before the code runs.
- **audit hook**, always: a `sys.addaudithook` guard refuses writes outside the working
  directory (open in a write mode, remove, rename, mkdir, ...), reading hidden paths, socket
  creation, starting processes and loading native libraries through ctypes. It stops mistakes,
  not a determined attacker; with bubblewrap it only turns kernel refusals into clearer messages.
- **resource limits**, always: address space (`RLIMIT_AS`), CPU seconds, file size, no core
  dumps; plus a wall-clock limit enforced by the parent, which kills the whole process group.

The child's environment is built from nothing (PATH, HOME=its working directory, a UTF-8
locale): no variable of the parent, and so no key, reaches it.

SKILLFIT_SANDBOX=bwrap insists on bubblewrap; SKILLFIT_SANDBOX=basic is the explicit opt-in to
the weaker mode (never the default).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import struct
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
_log = logging.getLogger("skillfit.sandbox")

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install "
    "bubblewrap`; Arch: `pacman -S bubblewrap`); in a container it also needs permission to "
    "create namespaces (e.g. docker run --security-opt seccomp=unconfined, or run as root)"
)
# Credential stores under the home folder, hidden even when the home itself cannot be.
CREDENTIAL_STORES = (
    ".aws",
    ".azure",
    ".config",
    ".docker",
    ".git-credentials",
    ".gnupg",
    ".kube",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".ssh",
    ".cache",
    ".local/share/keyrings",
    ".anthropic",
    ".openai",
)
# System files a root process could read: password hashes, host keys.
SYSTEM_SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/ssh", "/etc/sudoers", "/etc/sudoers.d")


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


def _mode() -> str:
    return os.environ.get(_BWRAP_ENV, "").strip().lower()


def _bwrap_path() -> str | None:
    if _mode() == "basic":
        return None
    return _probe_bwrap()


_warned_basic = False


def require_isolation() -> str | None:
    """The bwrap binary to run model-written code under; None only when the user opted in to
    the weaker basic mode (SKILLFIT_SANDBOX=basic), which is logged as a warning once per
    process. Otherwise SandboxUnavailable, naming how to install bubblewrap."""
    global _warned_basic
    mode = _mode()
    if mode not in ("", "bwrap", "basic"):
        raise SandboxUnavailable(f"SKILLFIT_SANDBOX must be bwrap or basic, not {mode!r}")
    if mode == "basic":
        if not _warned_basic:
            _warned_basic = True
            message = (
                "skillfit: SKILLFIT_SANDBOX=basic: model-written code runs WITHOUT kernel "
                "isolation (audit hook and resource limits only); it can read your files and "
                "environment and reach the network. Use it only for code you trust."
            )
            _log.warning(message)
            print(message, file=sys.stderr, flush=True)
        return None
    bwrap = _probe_bwrap()
    if bwrap is None:
        found = shutil.which("bwrap")
        why = (
            f"{found} cannot create its namespaces here"
            if found
            else "bubblewrap (bwrap) is not installed"
        )
        raise SandboxUnavailable(
            f"running model-written code needs a kernel-enforced sandbox, and {why}: "
            f"{INSTALL_HINT}. To run it anyway with only the weaker in-process guards (which "
            "such code can escape), set SKILLFIT_SANDBOX=basic."
        )
    return bwrap


def _needed_paths(workdir: Path) -> list[Path]:
    """What the sandboxed interpreter must still see: its installation and the workdir."""
    out = {workdir}
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        out.add(Path(p).resolve())
    out.add(Path(sys.executable).resolve().parent.parent)
    return sorted(out)


def default_hidden(cwd: Path | None = None) -> list[Path]:
    """Paths hidden from model-written code unless a caller needs them: the home folder (its
    credential stores by name, too), every `.env*` file from `cwd` up to the root and the
    system's secret files. Only paths that exist are listed."""
    found: list[Path] = []
    homes = {Path.home()}
    if os.environ.get("HOME"):
        homes.add(Path(os.environ["HOME"]))
    for home in homes:
        found.append(home)
        found += [home / name for name in CREDENTIAL_STORES]
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        with contextlib.suppress(OSError):
            found += [p for p in folder.glob(".env*") if p.is_file()]
    found += [Path(p) for p in SYSTEM_SECRETS]
    out: list[Path] = []
    for path in found:
        with contextlib.suppress(OSError):
            if path.exists() or path.is_symlink():
                real = path.resolve()
                if real not in out and real != Path("/"):
                    out.append(real)
    return out


@functools.lru_cache(maxsize=1)
def _probe_bwrap() -> str | None:
    """The bwrap binary if it exists and can build our namespaces here (containers often
    forbid them), else None."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        with (
            tempfile.TemporaryDirectory(prefix="skillfit-probe-") as work,
            tempfile.TemporaryFile() as bpf,
        ):
            bpf.write(_seccomp_filter())
            bpf.flush()
            bpf.seek(0)
            probe = subprocess.run(
                [*_bwrap_args(path, Path(work).resolve(), seccomp_fd=bpf.fileno()), "true"],
                capture_output=True,
                timeout=10,
                check=False,
                pass_fds=(bpf.fileno(),),
            )
    except (OSError, subprocess.SubprocessError):
        return None
    return path if probe.returncode == 0 else None


# A seccomp filter (classic BPF) for what namespaces do not cover: a Unix-domain socket is a file,
# and one lying in a readable folder (an agent's, a daemon's) could be connected to through the
# read-only root. socket(AF_UNIX, ...) and io_uring (which can open sockets by itself) fail with
# EACCES; socketpair() still works. Per architecture: (AUDIT_ARCH, socket nr, io_uring_setup nr).
_SECCOMP_ARCHES = ((0xC000003E, 41, 425), (0xC00000B7, 198, 425))  # x86_64, aarch64
_AF_UNIX = 1


def _seccomp_filter() -> bytes:
    """The compiled filter, as bwrap --seccomp reads it (struct sock_filter[])."""
    ld_w_abs, jeq_k, ret_k = 0x20, 0x15, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 13  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EACCES
    prog: list[tuple[int, int, int, int]] = [(ld_w_abs, 0, 0, 4)]  # A = arch
    for i, (arch, nr_socket, nr_uring) in enumerate(_SECCOMP_ARCHES):
        last = i == len(_SECCOMP_ARCHES) - 1
        body = [
            (ld_w_abs, 0, 0, 0),  # A = syscall number
            (jeq_k, 0, 1, nr_uring),
            (ret_k, 0, 0, deny),
            (jeq_k, 0, 3, nr_socket),
            (ld_w_abs, 0, 0, 16),  # A = low word of the first argument (the domain)
            (jeq_k, 0, 1, _AF_UNIX),
            (ret_k, 0, 0, deny),
            (ret_k, 0, 0, allow),
        ]
        # Not this architecture: skip its block (to the next block's arch test, or allow).
        prog.append((jeq_k, 0, len(body), arch))
        prog += body
        if not last:
            prog.append((ld_w_abs, 0, 0, 4))
    prog.append((ret_k, 0, 0, allow))
    return b"".join(struct.pack("HBBI", *ins) for ins in prog)


# Folders replaced by an empty tmpfs: other processes' temp files and sockets (a Unix socket
# can be connected to through a read-only mount).
_FRESH = ("/tmp", "/var/tmp", "/run", "/dev/shm")


def _bwrap_args(
    bwrap: str,
    workdir: Path,
    hidden: Sequence[Path] = (),
    needed: Sequence[Path] = (),
    *,
    seccomp_fd: int | None = None,
) -> list[str]:
    """bwrap's arguments: everything read-only, fresh temp folders, `hidden` masked, then the
    `needed` paths inside a mask shown again read-only and the workdir writable (bwrap applies
    its mounts in order, so a later bind shows through an earlier tmpfs)."""
    masks: list[str] = []
    covered: list[Path] = []
    for fresh in _FRESH:
        if Path(fresh).is_dir() and not Path(fresh).is_symlink():
            masks += ["--tmpfs", fresh]
            covered.append(Path(fresh))
    files: list[str] = []
    for path in hidden:
        if path.is_dir():  # an empty tmpfs over a folder, /dev/null over a file
            masks += ["--tmpfs", str(path)]
            covered.append(path)
        elif not (path in needed or any(n.is_relative_to(path) for n in needed)):
            files += ["--ro-bind", "/dev/null", str(path)]
    shown: list[str] = []
    for path in needed:
        if path != workdir and any(path.is_relative_to(c) for c in covered) and path.is_dir():
            shown += ["--ro-bind", str(path), str(path)]
    shown += files  # after the folders shown again, so a hidden file inside one stays hidden
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
        *shown,
        "--bind",
        str(workdir),
        str(workdir),
        # The tmpfs masks read-only too (the binds inside them keep their own mode): nothing
        # but the workdir is writable, as the code's own view of the disk says.
        *[arg for c in covered for arg in ("--remount-ro", str(c))],
        *(["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []),
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
    """The isolation layers `run_python` uses on this machine (probed once, then cached); in
    the opt-in basic mode, without "bwrap"."""
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

    `hide` lists files or folders the code must not read (an answer key next to the input, say),
    on top of the defaults (`default_hidden`: the home folder, `.env` files, credential stores).

    Raises SandboxUnavailable when bubblewrap cannot be used and the user did not opt in to the
    basic mode (SKILLFIT_SANDBOX=basic). Never raises for anything the code does: failures,
    limits and kills are in the result. `audit=False` drops the audit-hook layer (for testing
    that the kernel layers hold alone)."""
    workdir = Path(workdir).resolve()
    if not workdir.is_dir():
        raise FileNotFoundError(f"sandbox working directory {workdir} does not exist")
    hidden = [Path(p).resolve() for p in hide if Path(p).exists()]
    for path in hidden:
        if path == workdir or workdir.is_relative_to(path):
            raise ValueError(f"cannot hide {path}: it holds the working directory {workdir}")
    bwrap = require_isolation()
    layers = sandbox_layers()
    needed = _needed_paths(workdir)
    # Defaults that hold the workdir or the interpreter are shown again inside their mask.
    hidden += [p for p in default_hidden() if p not in hidden]
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
            # The audit hook cannot show paths again inside a mask: it skips what is needed.
            "hidden": [
                str(p) for p in hidden if not any(n.is_relative_to(p) or n == p for n in needed)
            ],
        }
        # -I: ignore PYTHON* variables and user site; -B: no bytecode files.
        argv = [sys.executable, "-I", "-B", str(boot_path), json.dumps(cfg)]
        pass_fds: tuple[int, ...] = ()
        bpf: IO[bytes] | None = None
        if bwrap is not None:
            # The control folder (bootstrap and code) is shown read-only inside the fresh /tmp.
            shown = [*needed, Path(control).resolve()]
            bpf = (Path(control) / "filter.bpf").open("w+b")
            bpf.write(_seccomp_filter())
            bpf.flush()
            bpf.seek(0)
            pass_fds = (bpf.fileno(),)
            argv = [*_bwrap_args(bwrap, workdir, hidden, shown, seccomp_fd=bpf.fileno()), *argv]
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
                pass_fds=pass_fds,  # the seccomp filter, read by bwrap
            )
            if bpf is not None:
                bpf.close()
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
