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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skillfit.harness.cli_agent import (
    DEFAULT_TIMEOUT,
    CliRun,
    CliSpec,
    Endpoint,
    Workspace,
    last_lines,
    task_prompt,
    timed_out,
)
from skillfit.harness.cli_template import AgentCliHarness
from skillfit.harness.tool_loop import tool_summary
from skillfit.models.base import Message, Usage
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


class CodexHarness(AgentCliHarness):
    """Codex CLI per item (see the module docstring). `skill_dir` gives the installed skill's
    name, description and reference files (default: made from the task's name)."""

    name = "codex"
    offers_tools = True  # its own shell, over the task's files in the workspace
    spec = CODEX
    wire = "openai"
    skills_dir = SKILLS_DIR
    workspace_prefix = "skillfit-codex-"
    short = "codex"

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
        super().__init__(
            executable=executable,
            timeout=timeout,
            invoke=invoke,
            skill_dir=skill_dir,
            keep_workspace=keep_workspace,
            cache=cache,
            transcripts=transcripts,
        )
        self.sandbox = sandbox
        if check:
            self.check()

    def prompt(self, env: Environment, bundle: SkillDir | None) -> str:
        return prompt_for(env, bundle, invoke=self.invoke)

    def command(
        self,
        executable: str,
        prompt: str,
        *,
        endpoint: Endpoint,
        env: Environment,
        bundle: SkillDir | None,
        work: str,
    ) -> list[str]:
        return command(executable, prompt, work=work, sandbox=self.sandbox)

    def configure(self, ws: Workspace, endpoint: Endpoint) -> Mapping[str, str]:
        (ws.config / "config.toml").write_text(
            config_toml(endpoint, timeout=self.timeout), encoding="utf-8"
        )
        return {"CODEX_HOME": str(ws.config)}

    def trajectory(
        self, run: CliRun, prompt: str, env: Environment, *, sample: int, seconds: float
    ) -> Trajectory:
        return to_trajectory(run, prompt, env, sample=sample, seconds=seconds)


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
