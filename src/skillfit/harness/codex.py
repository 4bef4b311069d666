"""The `codex` harness: the OpenAI Codex CLI (`codex exec`), run non-interactively per item in a
fresh workspace with the skill at `.agents/skills/<name>/SKILL.md`.

    codex exec --json --strict-config --ephemeral --skip-git-repo-check -s read-only \\
        -C <work> "$<skill-name> <instructions and item>" < /dev/null

The provider is written to `$CODEX_HOME/config.toml`: the embedded model's loopback server
(`wire_api = "responses"`), or an `openai:<model>[@url]` target's endpoint with
`OPENAI_API_KEY`. Updates, web search, analytics, feedback, telemetry, plugins and bundled
skills are off, so an embedded-model run talks to 127.0.0.1 only. Codex's own sandbox runs its
shell commands (read-only by default; in `exec` mode it never asks for approval, and no bypass
flag is used). The skill is invoked by name (`$<name>` pastes the whole SKILL.md into the
turn): a skill that is only listed is rarely read by a small model.

The answer is the last `agent_message` of the JSONL output, the usage the sum of its
`turn.completed` events; every command the agent ran is a tool call of the trajectory.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from skillfit.harness.cli_agent import (
    DEFAULT_TIMEOUT,
    CliRun,
    CliSpec,
    Endpoint,
    account_run,
    cached_output,
    check_cli,
    check_endpoint,
    checked_version,
    cli_env,
    endpoint_for,
    forget_endpoint,
    last_lines,
    make_workspace,
    prepare_target,
    run_cli,
    run_key,
    save_transcript,
    skill_bundle,
    store_output,
    task_prompt,
    timed_out,
    transcript_dir,
)
from skillfit.harness.tool_loop import tool_summary
from skillfit.models.base import ChatModel, Message, Usage
from skillfit.skill.skilldir import SkillDir
from skillfit.tasks.base import Environment, Trajectory

CODEX = CliSpec(
    label="Codex CLI",
    command="codex",
    package="@openai/codex",
    version="0.171.0",
    env_var="SKILLFIT_CODEX_BIN",
)
SKILLS_DIR = ".agents/skills"
PROVIDER_ID = "skillfit"
SANDBOXES = ("read-only", "workspace-write")


def _toml(value: object) -> str:
    return json.dumps(value)  # a JSON string or number is a valid TOML basic value


def config_toml(endpoint: Endpoint, *, timeout: float) -> str:
    """`$CODEX_HOME/config.toml`: the provider, and everything that would leave loopback off."""
    provider = [
        f"[model_providers.{PROVIDER_ID}]",
        f"name = {_toml('skillfit target')}",
        f"base_url = {_toml(endpoint.base_url + '/v1')}",
        'wire_api = "responses"',
        f"stream_idle_timeout_ms = {int(timeout * 1000)}",
        "request_max_retries = 0",
        "stream_max_retries = 0",
    ]
    if endpoint.key_var:
        provider.append(f"env_key = {_toml(endpoint.key_var)}")
    lines = [
        f"model = {_toml(endpoint.model)}",
        f"model_provider = {_toml(PROVIDER_ID)}",
        "check_for_update_on_startup = false",
        'web_search = "disabled"',
        "",
        *provider,
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[feedback]",
        "enabled = false",
        "",
        "[otel]",
        'exporter = "none"',
        "",
        "[features]",
        *(
            f"{flag} = false"
            for flag in (
                "plugins",
                "apps",
                "remote_plugin",
                "tool_suggest",
                "goals",
                "image_generation",
            )
        ),
        "",
        "[skills.bundled]",
        "enabled = false",
        "",
        "[agents]",
        "enabled = false",
    ]
    return "\n".join(lines) + "\n"


def prompt_for(environment: Environment, bundle: SkillDir | None, *, invoke: bool) -> str:
    text = task_prompt(environment)
    if bundle is not None and invoke:
        return f"${bundle.name} {text}"
    return text


def command(executable: str, prompt: str, *, work: str, sandbox: str) -> list[str]:
    """The `codex exec` command line (the prompt is one argument; stdin is closed)."""
    return [
        executable,
        "exec",
        "--json",
        "--strict-config",
        "--ephemeral",
        "--skip-git-repo-check",
        "--sandbox",
        sandbox,
        "--cd",
        work,
        prompt,
    ]


@dataclass
class CodexOutput:
    """What `codex exec --json` printed, parsed."""

    answer: str | None = None
    usage: Usage = field(default_factory=Usage)
    turns: int = 0
    messages: list[Message] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # turn.failed and top-level errors
    events: int = 0


def _is_metadata_warning(message: str) -> bool:
    # Every run against a model Codex does not know emits this; it changes nothing.
    return "model metadata" in message.lower()


def parse_output(stdout: str, prompt: str = "") -> CodexOutput:
    """Parse the JSONL of `codex exec --json`; lines that are not JSON are ignored."""
    out = CodexOutput()
    if prompt:
        out.messages.append({"role": "user", "content": prompt})
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        out.events += 1
        kind = event.get("type")
        if kind == "turn.completed":
            usage = event.get("usage") or {}
            out.turns += 1
            out.usage = out.usage + Usage(
                prompt_tokens=int(usage.get("input_tokens") or 0),
                completion_tokens=int(usage.get("output_tokens") or 0),
                cached_tokens=int(usage.get("cached_input_tokens") or 0),
            )
        elif kind == "turn.failed":
            error = event.get("error") or {}
            out.errors.append(str(error.get("message") if isinstance(error, dict) else error))
        elif kind == "error":
            message = str(event.get("message", ""))
            if not _is_metadata_warning(message):
                out.errors.append(message)
        elif kind == "item.completed":
            _item(out, event.get("item") or {})
    return out


def _item(out: CodexOutput, item: dict[str, Any]) -> None:
    kind = item.get("type")
    if kind == "agent_message":
        text = str(item.get("text", ""))
        out.answer = text
        out.messages.append({"role": "assistant", "content": text})
    elif kind == "reasoning":
        out.messages.append({"role": "assistant", "content": f"(reasoning) {item.get('text', '')}"})
    elif kind == "command_execution":
        cmd = str(item.get("command", ""))
        code = item.get("exit_code")
        result = str(item.get("aggregated_output", ""))
        ok = item.get("status") == "completed" and code in (0, None)
        out.tool_calls.append(
            {
                "step": len(out.tool_calls) + 1,
                "tool": "shell",
                "args": {"command": cmd},
                "ok": ok,
                "result": result if ok else f"exit code {code}: {result}",
            }
        )
        out.messages.append({"role": "assistant", "content": f"[shell] {cmd}"})
        out.messages.append(
            {"role": "user", "content": f"Result of shell (exit code {code}):\n{result}"}
        )
    elif kind == "file_change":
        changes = item.get("changes") or []
        paths = [str(c.get("path", "")) for c in changes if isinstance(c, dict)]
        out.tool_calls.append(
            {
                "step": len(out.tool_calls) + 1,
                "tool": "edit",
                "args": {"paths": paths},
                "ok": item.get("status") == "completed",
                "result": str(item.get("status", "")),
            }
        )
        out.messages.append({"role": "assistant", "content": f"[edit] {', '.join(paths)}"})
    elif kind == "mcp_tool_call" or kind == "web_search":
        out.tool_calls.append(
            {
                "step": len(out.tool_calls) + 1,
                "tool": str(item.get("tool") or kind),
                "args": item.get("arguments") or {"query": item.get("query")},
                "ok": item.get("status") != "failed",
                "result": json.dumps(item.get("result"), default=str)[:4000],
            }
        )
    elif kind == "error":
        message = str(item.get("message", ""))
        if not _is_metadata_warning(message):
            out.errors.append(message)


class CodexHarness:
    """Codex CLI per item (see the module docstring). `skill_dir` gives the installed skill's
    name, description and reference files (default: made from the task's name)."""

    name = "codex"
    offers_tools = True  # its own shell, over the task's files in the workspace

    def __init__(
        self,
        *,
        executable: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sandbox: str = "read-only",
        invoke: bool = True,
        skill_dir: SkillDir | None = None,
        keep_workspace: bool = False,
        cache: bool = True,
        transcripts: str | os.PathLike[str] | None = None,
        check: bool = False,
    ) -> None:
        if sandbox not in SANDBOXES:
            raise ValueError(f"sandbox must be one of {', '.join(SANDBOXES)}, not {sandbox!r}")
        self.executable = executable
        self.timeout = timeout
        self.sandbox = sandbox
        self.invoke = invoke
        self.skill_dir = skill_dir
        self.keep_workspace = keep_workspace
        self.cache = cache
        self.transcripts = transcript_dir(transcripts)
        if check:
            self.check()

    def check(self) -> str:
        """The CLI's path, after checking it is installed at the pinned version."""
        return check_cli(CODEX, self.executable)

    def prepare(self, target: ChatModel) -> None:
        """Before the run's first call: an embedded target's server gets the CLI's context."""
        prepare_target(target)

    def run(
        self, target: ChatModel, skill: str, environment: Environment, *, sample: int = 0
    ) -> Trajectory:
        env = environment
        executable = self.check()
        endpoint = endpoint_for(target, wire="openai")
        bundle = skill_bundle(skill, env, self.skill_dir)
        prompt = prompt_for(env, bundle, invoke=self.invoke)
        start = time.perf_counter()
        key = run_key(
            self.name,
            checked_version(CODEX, executable),
            target,
            argv=command("codex", prompt, work="<work>", sandbox=self.sandbox),
            bundle=bundle,
            environment=env,
            sample=sample,
        )
        stdout = cached_output(target, key) if self.cache else None
        if stdout is not None:
            replay = CliRun([], stdout, "", 0, 0.0)
            traj = to_trajectory(replay, prompt, env, sample=sample, seconds=0.0)
            if traj.error is None:
                traj.seconds = time.perf_counter() - start
                account_run(target, key, traj, replayed=True)
                return traj
        check_endpoint(endpoint)
        ws = make_workspace(env, bundle, skills_dir=SKILLS_DIR, prefix="skillfit-codex-")
        try:
            (ws.config / "config.toml").write_text(
                config_toml(endpoint, timeout=self.timeout), encoding="utf-8"
            )
            variables = cli_env(ws, {"CODEX_HOME": str(ws.config)}, endpoint)
            argv = command(executable, prompt, work=str(ws.work), sandbox=self.sandbox)
            run = run_cli(argv, cwd=ws.work, env=variables, timeout=self.timeout)
        finally:
            if not self.keep_workspace:
                ws.remove()
        save_transcript(
            self.transcripts, self.name, env, sample, run, target=target.name, bundle=bundle
        )
        traj = to_trajectory(run, prompt, env, sample=sample, seconds=time.perf_counter() - start)
        if traj.error is not None:
            forget_endpoint(endpoint)  # check it again before the next item
        elif self.cache and not run.timed_out:
            # A timed-out run is not kept: on a faster machine the same run may finish.
            store_output(target, key, run.stdout, traj.usage)
        account_run(target, key, traj, replayed=False)
        return traj


def to_trajectory(
    run: CliRun, prompt: str, env: Environment, *, sample: int, seconds: float
) -> Trajectory:
    """The trajectory of one `codex exec` run; an unusable run is an infrastructure error."""
    out = parse_output(run.stdout, prompt)
    traj = Trajectory(
        item_id=env.item_id,
        messages=out.messages,
        usage=out.usage,
        tool_calls=out.tool_calls,
        seconds=seconds,
        sample=sample,
    )
    if run.timed_out:
        return timed_out(traj, run, "codex exec")
    if out.errors and out.answer is None:
        traj.error = f"codex exec failed: {'; '.join(out.errors)[:600]}"
    elif out.events == 0 or run.returncode not in (0, None) and out.answer is None:
        traj.error = (
            f"codex exec exited with code {run.returncode} and no JSON output: "
            f"{last_lines(run.stderr) or '(no stderr)'}"
        )
    elif out.usage.total_tokens == 0:
        traj.error = (
            f"codex exec reported no token usage ({CODEX.label} {CODEX.version} prints it in "
            "turn.completed): the run cannot be accounted for"
        )
    if traj.error is not None:
        return traj
    traj.answer = out.answer or ""
    if out.tool_calls:
        summary = tool_summary(out.tool_calls)
        if summary:
            traj.notes.append(summary)
    return traj


def codex_harness() -> CodexHarness:
    """The registered factory: checks the CLI at the start of a run."""
    return CodexHarness(check=True)
