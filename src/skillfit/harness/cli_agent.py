"""What the agent-CLI harnesses (`codex`, `claude-code`) share: finding the pinned CLI, the
endpoint a target model is reached at, a fresh workspace per item with the skill installed where
the CLI discovers skills, and running the CLI with a wall-clock limit.

Per item the harness makes one run directory (removed afterwards unless `keep_workspace`):

    <run>/home/         HOME of the CLI (nothing of the user's own home is visible)
    <run>/config/       CODEX_HOME or CLAUDE_CONFIG_DIR
    <run>/tmp/          TMPDIR
    <run>/work/         the CLI's working directory: the task's files, and the skill at
                        .agents/skills/<name>/SKILL.md (Codex) or .claude/skills/<name>/SKILL.md
                        (Claude Code)

The CLI gets a minimal environment (PATH, locale, the run's directories, and the one API key
variable a real endpoint needs), never the caller's whole environment.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillfit.harness.base import HarnessError
from skillfit.models.base import ChatModel, InfraError
from skillfit.models.registry import parse_spec
from skillfit.skill.skilldir import SkillDir, skill_name
from skillfit.tasks.base import Environment, Score, Trajectory

# Tokens of context each slot of the embedded server needs for an agent CLI: Codex's prompt is
# about 5,000 tokens with the quiet configuration, Claude Code's 1,400-3,500 with few tools; an
# invoked skill, the item and a few tool turns come on top.
LOCAL_CONTEXT = 16384
DEFAULT_TIMEOUT = 600.0  # seconds of wall clock per item
VERSION_TIMEOUT = 60.0  # seconds `<cli> --version` may take (a cold npm start is slow)
ENDPOINT_TIMEOUT = 5.0  # seconds the endpoint check waits for an HTTP answer


@dataclass(frozen=True)
class CliSpec:
    """An agent CLI as skillfit pins it."""

    label: str  # "Codex CLI"
    command: str  # executable name on PATH
    package: str  # npm package
    version: str  # the pinned version
    env_var: str  # variable naming the executable's path, overriding PATH

    @property
    def install(self) -> str:
        return f"npm install -g {self.package}@{self.version}"


_checked: dict[tuple[str, str], str] = {}
_checked_lock = threading.Lock()


def find_cli(spec: CliSpec, executable: str | None = None) -> str:
    """The path of the CLI: `executable`, else $<env_var>, else PATH. HarnessError naming the
    install command when it is absent."""
    given = executable or os.environ.get(spec.env_var, "").strip() or None
    path = shutil.which(given) if given else shutil.which(spec.command)
    if path is None:
        where = f"{given} (from {spec.env_var})" if given and not executable else given
        raise HarnessError(
            f"the {spec.label} ({spec.command} {spec.version}) was not found"
            + (f" at {where}" if where else " on PATH")
            + f": install it with `{spec.install}` (or set {spec.env_var} to its path)"
        )
    return path


def installed_version(path: str) -> str:
    """The first version number `<path> --version` prints."""
    try:
        proc = subprocess.Popen(
            [path, "--version"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            env=_base_env(),
            # Its own process group: a wrapper script that hangs may have started the real CLI
            # as a child, which killing the wrapper alone would leave running.
            start_new_session=True,
        )
    except OSError as exc:
        raise HarnessError(f"{path} --version failed: {exc}") from None
    try:
        out, err = proc.communicate(timeout=VERSION_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise HarnessError(
            f"{path} --version did not finish within {VERSION_TIMEOUT:g} s (it was stopped, "
            "with any process it started)"
        ) from None
    except BaseException:
        _kill_group(proc)
        raise
    match = re.search(r"\d+\.\d+\.\d+\S*", out + err)
    if match is None:
        raise HarnessError(f"{path} --version printed no version: {out.strip()!r}")
    return match.group(0)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill `proc`'s whole process group (it was started in its own session) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.communicate(timeout=10)


def check_cli(spec: CliSpec, executable: str | None = None) -> str:
    """The CLI's path after checking it is the pinned version (once per path and process).
    SKILLFIT_AGENT_CLI_ANY_VERSION=1 accepts another version (at your own risk: the JSON
    output the harness parses changes between versions)."""
    path = find_cli(spec, executable)
    key = (spec.command, path)
    with _checked_lock:
        if key in _checked:
            return path
    version = installed_version(path)
    if version != spec.version and os.environ.get("SKILLFIT_AGENT_CLI_ANY_VERSION") != "1":
        raise HarnessError(
            f"{path} is {spec.label} {version}, but skillfit is pinned to {spec.version}, the "
            f"version whose output it parses: install it with `{spec.install}` (or set "
            "SKILLFIT_AGENT_CLI_ANY_VERSION=1 to try this one)"
        )
    with _checked_lock:
        _checked[key] = version
    return path


def checked_version(spec: CliSpec, path: str) -> str:
    """The version `check_cli` found at `path` (the pinned one if it was not checked)."""
    with _checked_lock:
        return _checked.get((spec.command, path), spec.version)


# --- the endpoint --------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where a CLI reaches the target. `base_url` is the server's root (no /v1)."""

    provider: str  # "local" | "openai" | "anthropic"
    base_url: str
    model: str  # the model name the CLI sends
    key_var: str | None = None  # the environment variable holding the API key, if any

    @property
    def local(self) -> bool:
        return self.provider == "local"


def ensure_local_context(target: ChatModel, tokens: int = LOCAL_CONTEXT) -> None:
    """Give each slot of an embedded server at least `tokens` of context (agent CLIs send
    prompts of thousands of tokens). A server already started with less is a HarnessError."""
    server = getattr(target, "server", None)
    options = getattr(server, "options", None)
    if server is None or options is None or options.ctx_per_slot >= tokens:
        return
    ensure = getattr(server, "ensure_context", None)
    if callable(ensure):
        try:
            ensure(tokens)
        except InfraError as exc:
            raise HarnessError(str(exc)) from None
        return
    raise HarnessError(
        f"the embedded model's server has {options.ctx_per_slot} tokens of context per slot; "
        f"agent CLIs need {tokens}: set SKILLFIT_LOCAL_CTX={tokens}"
    )


def endpoint_for(target: ChatModel, *, wire: str) -> Endpoint:
    """The endpoint of `target` for a CLI speaking `wire` ("openai" or "anthropic").

    An embedded model (`local:`) is reached on its loopback server, which answers both wires;
    `openai:<model>[@url]` only by an OpenAI-wire CLI, `anthropic:<model>[@url]` only by an
    Anthropic-wire one."""
    # Reading an embedded model's base_url starts its server, which then keeps the context it
    # started with: the slots must be made large enough first.
    ensure_local_context(target)
    base_url = getattr(target, "base_url", None)
    if isinstance(base_url, str) and base_url.startswith("http://127.0.0.1"):
        return Endpoint("local", base_url.rstrip("/"), target.name.partition(":")[2] or "local")
    try:
        spec = parse_spec(target.name)
    except ValueError:
        spec = None
    if spec is not None and spec.provider == "openai" and wire == "openai":
        url = (spec.base_url or "https://api.openai.com/v1").rstrip("/")
        return Endpoint("openai", url.removesuffix("/v1"), spec.model, "OPENAI_API_KEY")
    if spec is not None and spec.provider == "anthropic" and wire == "anthropic":
        url = (spec.base_url or "https://api.anthropic.com").rstrip("/")
        return Endpoint("anthropic", url, spec.model, "ANTHROPIC_API_KEY")
    want = "openai:<model>[@url]" if wire == "openai" else "anthropic:<model>[@url]"
    raise HarnessError(
        f"target {target.name} cannot be reached by this agent CLI: use an embedded model "
        f"(local:...) or {want}"
    )


class EndpointUnreachable(HarnessError):
    """Nothing answers HTTP at the endpoint a CLI would talk to (a server down, a wrong URL):
    every item would fail after the CLI's own reconnecting, so the run stops at once."""


# Endpoint URL -> (when it was checked, what was wrong or None). A good answer holds until a
# run fails; a bad one for FAILED_CHECK_HOLDS seconds, so the items queued behind the first
# fail at once instead of each waiting for its own check.
_endpoint_checks: dict[str, tuple[float, str | None]] = {}
_endpoint_lock = threading.Lock()
FAILED_CHECK_HOLDS = 30.0


def endpoint_problem(url: str, timeout: float = ENDPOINT_TIMEOUT) -> str | None:
    """Why nothing answers an HTTP GET of `url`, or None. Any HTTP status (401, 404) is an
    answer: the server is there. No proxy is used, as the CLI gets none."""
    import http.client
    import socket
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        reason: object = exc.reason
    except (OSError, http.client.HTTPException) as exc:
        reason = exc
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (no server listens there)"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, socket.gaierror):
        return f"host name not found ({reason.strerror or reason})"
    return str(reason) or type(reason).__name__


def check_endpoint(endpoint: Endpoint, timeout: float = ENDPOINT_TIMEOUT) -> None:
    """EndpointUnreachable, naming the endpoint and the cause, when nothing answers there.
    Checked once per endpoint and process (again after a run that failed)."""
    url = endpoint.base_url + "/v1/models"
    with _endpoint_lock:
        seen = _endpoint_checks.get(endpoint.base_url)
    now = time.monotonic()
    if seen is None or (seen[1] is not None and now - seen[0] > FAILED_CHECK_HOLDS):
        seen = (now, endpoint_problem(url, timeout))
        with _endpoint_lock:
            _endpoint_checks[endpoint.base_url] = seen
    if seen[1] is not None:
        from skillfit.models.redact import redact

        what = "the embedded model's server" if endpoint.local else "the target's endpoint"
        raise EndpointUnreachable(
            redact(
                f"{what} {endpoint.base_url} does not answer: {seen[1]}. The agent CLI was "
                "not started; start the server or fix the URL in target.model, then run the "
                "same command again."
            )
        )


def forget_endpoint(endpoint: Endpoint) -> None:
    """Check `endpoint` again before the next item (a run on it failed)."""
    with _endpoint_lock:
        _endpoint_checks.pop(endpoint.base_url, None)


def prepare_target(target: ChatModel) -> None:
    """Before a run's first model call: an embedded target's server gets the context an agent
    CLI needs, even when skillfit's own calls (another harness, a shared optimizer) would
    start it first."""
    ensure_local_context(target)


# --- the skill and the workspace -----------------------------------------------------------


def skill_bundle(
    skill: str, environment: Environment, template: SkillDir | None
) -> SkillDir | None:
    """The skill directory a harness installs: `template`'s name, description and files with
    `skill` as the body, or a name and description made from the task. None for an empty
    skill (nothing is installed: the no-skill arm)."""
    if not skill.strip():
        return None
    if template is not None:
        return template.with_body(skill)
    task = environment.task or "the task"
    description = (
        f"How to solve {task} items: the method and answer format to follow. Use it when "
        f"answering {task} questions."
    )
    return SkillDir(skill_name(environment.task or "skill"), description[:1024], skill)


@dataclass
class Workspace:
    root: Path
    home: Path
    config: Path
    tmp: Path
    work: Path

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        with _LIVE_LOCK:
            _LIVE_WORKSPACES.discard(self.root)


def make_workspace(
    environment: Environment,
    bundle: SkillDir | None,
    *,
    skills_dir: str,
    prefix: str,
    parent: str | os.PathLike[str] | None = None,
) -> Workspace:
    """A fresh run directory: the task's files copied into `work/`, and `bundle` (when given)
    saved as `work/<skills_dir>/<name>/`."""
    stop_if_stopping()
    base = parent or os.environ.get("SKILLFIT_AGENT_WORKDIR") or None
    if base is not None:
        Path(base).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    with _LIVE_LOCK:
        _LIVE_WORKSPACES.add(root)
    ws = Workspace(root, root / "home", root / "config", root / "tmp", root / "work")
    for d in (ws.home, ws.config, ws.tmp, ws.work):
        d.mkdir()
    try:
        for rel, source in environment.files.items():
            dest = ws.work / rel
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise HarnessError(f"task file path {rel!r} leaves the workspace")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if Path(source).is_dir():
                shutil.copytree(source, dest, symlinks=False)
            else:
                shutil.copyfile(source, dest)
        if bundle is not None:
            bundle.save(ws.work / skills_dir / bundle.name)
    except BaseException:
        ws.remove()
        raise
    return ws


def task_prompt(environment: Environment) -> str:
    """The task's instructions, then the item: what a chat harness sends as system and user."""
    return "\n\n".join(p.strip() for p in (environment.instructions, environment.prompt) if p)


# --- running -------------------------------------------------------------------------------


def _base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
    return {k: os.environ[k] for k in keep if k in os.environ}


def cli_env(ws: Workspace, extra: Mapping[str, str], endpoint: Endpoint) -> dict[str, str]:
    """The CLI's whole environment: PATH and locale, the run's directories, `extra`, and the
    API key of a real endpoint (from the environment or .env)."""
    env = _base_env()
    env.update(HOME=str(ws.home), TMPDIR=str(ws.tmp), NO_COLOR="1", TERM="dumb")
    env.update(extra)
    if endpoint.key_var:
        from skillfit.models.credentials import require_env

        env[endpoint.key_var] = require_env(
            endpoint.key_var, purpose=f"the agent CLI on {endpoint.provider}:{endpoint.model}"
        )
    return env


@dataclass
class CliRun:
    argv: list[str]
    stdout: str
    stderr: str
    returncode: int | None
    seconds: float
    timed_out: bool = False


# Process groups of the agent CLIs running now, and their run directories. Each CLI runs in
# its own session, so neither Ctrl-C nor a signal that ends skillfit reaches it: `stop_clis`
# kills them. A CLI is started and registered under the lock, so a stop that comes in between
# waits for the registration instead of missing the new CLI. Reentrant: the signal handlers run
# on the main thread, which may hold it.
_LIVE: set[int] = set()
_LIVE_WORKSPACES: set[Path] = set()
_LIVE_LOCK = threading.RLock()
# Set once skillfit is stopping: no CLI starts after it, and a CLI killed by it raises
# KeyboardInterrupt in its thread instead of returning a run to score.
_STOPPING = threading.Event()
# True while this thread is between starting a CLI and registering it; the signals that came
# to the main thread meanwhile, held until the registration (`_deliver_held_signals`).
_spawning = threading.local()
_held_signals: list[int] = []


def stop_if_stopping() -> None:
    if _STOPPING.is_set():
        raise KeyboardInterrupt("skillfit is stopping: no agent CLI is started")


def _hold_signal(signum: int) -> bool:
    """True when the main thread is starting a CLI it has not registered yet: the signal is
    kept for `_deliver_held_signals`, or that CLI would outlive skillfit. No CLI starts after
    it meanwhile."""
    if not getattr(_spawning, "active", False):
        return False
    _STOPPING.set()
    _held_signals.append(signum)
    return True


def _deliver_held_signals() -> None:
    """Send again the signals held while a CLI started, SIGTERM first (it ends skillfit; a
    Ctrl-C's KeyboardInterrupt would keep it from being sent). Only the main thread holds
    signals, so only it delivers them."""
    if not _held_signals or threading.current_thread() is not threading.main_thread():
        return
    held = sorted(set(_held_signals), key=lambda signum: signum != signal.SIGTERM)
    _held_signals.clear()
    for signum in held:
        os.kill(os.getpid(), signum)


def kill_live_clis() -> None:
    """Kill every agent CLI still running (its whole process group)."""
    with _LIVE_LOCK:
        groups = list(_LIVE)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def remove_live_workspaces() -> None:
    """Remove the run directories of CLIs that were running (their threads may never get to)."""
    with _LIVE_LOCK:
        roots = list(_LIVE_WORKSPACES)
        _LIVE_WORKSPACES.clear()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


def stop_clis() -> None:
    """Stop now: start no other CLI, kill the running ones and remove their workspaces."""
    _STOPPING.set()
    kill_live_clis()
    remove_live_workspaces()


def reap_clis_on_exit() -> None:
    """From the main thread: on Ctrl-C (SIGINT: also the dashboard's Stop), SIGTERM (a
    scheduler's kill) and at exit, kill the agent CLIs still running and remove their
    workspaces before skillfit ends, so none is left working alone. Ctrl-C then raises
    KeyboardInterrupt as usual; the threads waiting on the killed CLIs raise it too, so no
    interrupted run is scored, cached or booked, and the run resumes where it stopped."""
    atexit.register(stop_clis)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        if _hold_signal(signum):
            return
        stop_clis()
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.SIG_IGN:
        return  # started with Ctrl-C ignored (nohup, a background job): keep it so

    def on_int(signum: int, frame: Any) -> None:
        if _hold_signal(signum):
            return
        stop_clis()
        if callable(previous_int):
            previous_int(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_int)


def _start_cli(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start a CLI in its own session and register it in one step no signal can split: a
    SIGTERM or Ctrl-C meanwhile is held, and the caller delivers it once the CLI can be
    reaped (here, when the CLI did not start)."""
    started = False
    try:
        with _LIVE_LOCK:
            _spawning.active = True
            try:
                proc = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    start_new_session=True,
                )
                _LIVE.add(proc.pid)
                started = True
            finally:
                _spawning.active = False
    finally:
        if not started:
            _deliver_held_signals()
    return proc


def run_cli(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> CliRun:
    """Run the CLI with stdin closed; past `timeout` seconds its whole process group is
    killed (the CLI's own children too). KeyboardInterrupt when skillfit is stopping."""
    stop_if_stopping()
    start = time.perf_counter()
    proc = _start_cli(argv, cwd=cwd, env=env)
    timed_out = False
    try:
        # A signal held while the CLI started stops it now (and ends up in `except` below).
        _deliver_held_signals()
        if _STOPPING.is_set():  # stop_clis ran between the start and the line above
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc.pid)
    # Killed by stop_clis: an interrupted run, not an answer.
    stop_if_stopping()
    return CliRun(list(argv), out, err, proc.returncode, time.perf_counter() - start, timed_out)


def timed_out(traj: Trajectory, run: CliRun, label: str) -> Trajectory:
    """A run stopped at the wall-clock limit is the target failing the item (a small model
    looping, an agent that never answers), scored 0 with feedback saying so; excluding it
    would leave only the items the target could finish. An endpoint down or a CLI crash is
    different: an infrastructure error (`Trajectory.error`).

    The trajectory is marked `timed_out`, and its usage incomplete: the CLI talks to the model
    itself, and a killed CLI never reports the call it was in (Codex reports usage only when a
    turn completes), so `usage` holds what it had reported, a lower bound."""
    feedback = (
        f"No answer: {label} was stopped at the {run.seconds:.0f} s wall-clock limit before "
        "it gave a final answer (the agent was still working, e.g. looping)."
    )
    traj.timed_out = True
    traj.usage_complete = False
    traj.answer = ""
    traj.score = Score(hard=0, soft=0.0, feedback=feedback, formatted=False)
    return traj


def last_lines(text: str, n: int = 6, limit: int = 600) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-n:])[-limit:]
