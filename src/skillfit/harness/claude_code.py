"""The `claude-code` harness: Claude Code in print mode (`claude -p`), run per item in a fresh
workspace with the skill at `.claude/skills/<name>/SKILL.md`.

    claude -p --output-format stream-json --verbose --permission-mode dontAsk \\
        --tools Skill --allowedTools Skill --no-session-persistence --model <m> \\
        "/<skill-name> <instructions and item>" < /dev/null

The target is the embedded model's loopback server (it answers the Anthropic Messages API) or an
`anthropic:<model>[@url]` endpoint with `ANTHROPIC_API_KEY`. Updates, telemetry, error reports
and other non-essential traffic are off. Permissions are Claude Code's own: `dontAsk` denies
every tool not allowed, and only read-only tools are allowed (`Read`, `Glob`, `Grep` when the
task gives files, and `Skill`); never `bypassPermissions`. The skill is invoked by name
(`/<name> ...` injects its body): a skill that is only listed is rarely used by a small model.

The stream-json output holds every message of the session: the answer is the final `result`
event's text, the usage its `usage` (input, cache reads and writes, output); tool uses and
their results become the trajectory's tool calls.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
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

CLAUDE_CODE = CliSpec(
    label="Claude Code CLI",
    command="claude",
    package="@anthropic-ai/claude-code",
    version="2.1.197",
    env_var="SKILLFIT_CLAUDE_BIN",
)
SKILLS_DIR = ".claude/skills"
READ_TOOLS = ("Read", "Glob", "Grep")
SKILL_TOOL = "Skill"
LOCAL_MAX_OUTPUT = 1024  # tokens per turn on the embedded model


def tools_for(
    environment: Environment, extra: Sequence[str] = (), *, skill_tool: bool = True
) -> list[str]:
    """The tools Claude Code may use: read-only file tools when the task gives files, and the
    Skill tool when a skill is installed but not invoked by the prompt (with no skill of ours
    it only offers Claude Code's bundled ones). Fewer tools, a shorter prompt (about
    1,400 tokens instead of 18,800). With the Skill tool in view the embedded models answer a
    tool-free item by printing a call to one of Claude Code's bundled skills as text (measured,
    0.5B and 1.5B); the invoked skill's body reaches the model without it."""
    tools = list(READ_TOOLS) if environment.files or environment.tools else []
    if skill_tool:
        tools.append(SKILL_TOOL)
    tools += list(extra)
    return list(dict.fromkeys(tools))


def cli_variables(endpoint: Endpoint, config_dir: str, timeout: float) -> dict[str, str]:
    """Claude Code's environment besides HOME and TMPDIR (the API key is added separately)."""
    ms = str(int(timeout * 1000))
    variables = {
        "CLAUDE_CONFIG_DIR": config_dir,
        "ANTHROPIC_BASE_URL": endpoint.base_url,
        "ANTHROPIC_MODEL": endpoint.model,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        # Without it the first system block carries a header that changes on every request,
        # so a server's prompt-prefix cache never hits.
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
        # A slow local prefill must not trip the request and stream-idle watchdogs.
        "API_TIMEOUT_MS": ms,
        "CLAUDE_STREAM_IDLE_TIMEOUT_MS": ms,
    }
    if endpoint.local:
        variables["ANTHROPIC_API_KEY"] = "local"  # the loopback server checks no key
        # Claude Code asks for up to 32,000 tokens a turn; a small model that loops would
        # decode for many minutes before the wall-clock limit stops it.
        variables["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(LOCAL_MAX_OUTPUT)
    return variables


def prompt_for(environment: Environment, bundle: SkillDir | None, *, invoke: bool) -> str:
    text = task_prompt(environment)
    if bundle is not None and invoke:
        return f"/{bundle.name} {text}"
    return text


def command(executable: str, prompt: str, *, model: str, tools: Sequence[str]) -> list[str]:
    """The `claude -p` command line (the prompt is the last argument; stdin is closed)."""
    listed = ",".join(tools)
    return [
        executable,
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "dontAsk",
        "--tools",
        listed,
        "--allowedTools",
        listed,
        "--no-session-persistence",
        "--model",
        model,
        prompt,
    ]


@dataclass
class ClaudeOutput:
    """What `claude -p --output-format stream-json --verbose` printed, parsed."""

    answer: str | None = None
    usage: Usage = field(default_factory=Usage)
    result: dict[str, Any] | None = None  # the final result event
    init: dict[str, Any] | None = None  # the system init event (tools, skills, model)
    messages: list[Message] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    # The usage each assistant message carried as it streamed, by message id: what a run
    # stopped before its result event had spent at least (the output counts of a message
    # still streaming are low).
    streamed: dict[str, Usage] = field(default_factory=dict)

    @property
    def streamed_usage(self) -> Usage:
        return sum(self.streamed.values(), Usage())

    @property
    def is_error(self) -> bool:
        return bool(self.result and self.result.get("is_error"))

    @property
    def skills(self) -> list[str]:
        return [str(s) for s in (self.init or {}).get("skills", [])]


def _usage(data: dict[str, Any]) -> Usage:
    read = int(data.get("cache_read_input_tokens") or 0)
    written = int(data.get("cache_creation_input_tokens") or 0)
    return Usage(
        prompt_tokens=int(data.get("input_tokens") or 0) + read + written,
        completion_tokens=int(data.get("output_tokens") or 0),
        cached_tokens=read,
        cache_write_tokens=written,
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return json.dumps(content, default=str)


def parse_output(stdout: str, prompt: str = "") -> ClaudeOutput:
    """Parse Claude Code's stream-json (one event per line; a single JSON result object, as
    `--output-format json` prints, parses too). Lines that are not JSON are ignored."""
    out = ClaudeOutput()
    if prompt:
        out.messages.append({"role": "user", "content": prompt})
    pending: dict[str, dict[str, Any]] = {}
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
        if kind == "system" and event.get("subtype") == "init":
            out.init = event
        elif kind == "assistant":
            message = event.get("message") or {}
            _streamed(out, message)
            for block in message.get("content") or []:
                _assistant_block(out, block, pending)
        elif kind == "user":
            content = (event.get("message") or {}).get("content")
            if isinstance(content, list):
                for block in content:
                    _user_block(out, block, pending)
            elif isinstance(content, str) and content.strip():
                out.messages.append({"role": "user", "content": content})
        elif kind == "result":
            out.result = event
            out.usage = _usage(event.get("usage") or {})
            result = event.get("result")
            out.answer = str(result) if isinstance(result, str) else None
    return out


def _streamed(out: ClaudeOutput, message: dict[str, Any]) -> None:
    """Keep the largest usage seen for each assistant message (one API call): every content
    block of a message comes as its own event, carrying the message's usage again."""
    data = message.get("usage")
    if not isinstance(data, dict):
        return
    key = str(message.get("id") or f"#{len(out.streamed)}")
    now, seen = _usage(data), out.streamed.get(key, Usage())
    out.streamed[key] = Usage(
        max(now.prompt_tokens, seen.prompt_tokens),
        max(now.completion_tokens, seen.completion_tokens),
        max(now.cached_tokens, seen.cached_tokens),
    )


def _assistant_block(out: ClaudeOutput, block: Any, pending: dict[str, dict[str, Any]]) -> None:
    if not isinstance(block, dict):
        return
    kind = block.get("type")
    if kind == "text":
        out.messages.append({"role": "assistant", "content": str(block.get("text", ""))})
    elif kind == "thinking":
        out.messages.append(
            {"role": "assistant", "content": f"(reasoning) {block.get('thinking', '')}"}
        )
    elif kind == "tool_use":
        call = {
            "step": len(out.tool_calls) + 1,
            "tool": str(block.get("name", "?")),
            "args": block.get("input") or {},
            "ok": False,
            "result": "(no result)",
        }
        out.tool_calls.append(call)
        pending[str(block.get("id", ""))] = call
        args = json.dumps(call["args"], ensure_ascii=False, default=str)
        out.messages.append({"role": "assistant", "content": f"[{call['tool']}] {args}"})


def _user_block(out: ClaudeOutput, block: Any, pending: dict[str, dict[str, Any]]) -> None:
    if not isinstance(block, dict):
        return
    if block.get("type") == "tool_result":
        text = _text(block.get("content"))
        call = pending.pop(str(block.get("tool_use_id", "")), None)
        if call is not None:
            call.update(ok=not block.get("is_error"), result=text)
        name = call["tool"] if call else "a tool"
        out.messages.append({"role": "user", "content": f"Result of {name}:\n{text}"})
    elif block.get("type") == "text" and str(block.get("text", "")).strip():
        out.messages.append({"role": "user", "content": str(block["text"])})


class ClaudeCodeHarness(AgentCliHarness):
    """Claude Code per item (see the module docstring). `skill_dir` gives the installed
    skill's name, description and reference files (default: made from the task's name);
    `extra_tools` are allowed besides the read-only ones."""

    name = "claude-code"
    offers_tools = True  # its own file tools, over the task's files in the workspace
    spec = CLAUDE_CODE
    wire = "anthropic"
    skills_dir = SKILLS_DIR
    workspace_prefix = "skillfit-claude-"
    short = "claude"

    def __init__(
        self,
        *,
        executable: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        invoke: bool = True,
        skill_dir: SkillDir | None = None,
        extra_tools: Sequence[str] = (),
        keep_workspace: bool = False,
        cache: bool = True,
        transcripts: str | os.PathLike[str] | None = None,
        check: bool = False,
    ) -> None:
        if any(t.strip().lower().startswith("bypass") for t in extra_tools):
            raise ValueError("extra_tools names tools, not a permission mode")
        super().__init__(
            executable=executable,
            timeout=timeout,
            invoke=invoke,
            skill_dir=skill_dir,
            keep_workspace=keep_workspace,
            cache=cache,
            transcripts=transcripts,
        )
        self.extra_tools = tuple(extra_tools)
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
        skill_tool = bundle is not None and not self.invoke
        tools = tools_for(env, self.extra_tools, skill_tool=skill_tool)
        return command(executable, prompt, model=endpoint.model, tools=tools)

    def configure(self, ws: Workspace, endpoint: Endpoint) -> Mapping[str, str]:
        return cli_variables(endpoint, str(ws.config), self.timeout)

    def trajectory(
        self, run: CliRun, prompt: str, env: Environment, *, sample: int, seconds: float
    ) -> Trajectory:
        return to_trajectory(run, prompt, env, sample=sample, seconds=seconds)


def to_trajectory(
    run: CliRun, prompt: str, env: Environment, *, sample: int, seconds: float
) -> Trajectory:
    """The trajectory of one `claude -p` run; an unusable run is an infrastructure error."""
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
        # No result event: what the finished and streaming messages reported, at least.
        if out.result is None:
            traj.usage = out.streamed_usage
        return timed_out(traj, run, "claude -p")
    if out.result is None:
        traj.error = (
            f"claude -p exited with code {run.returncode} and no result: "
            f"{last_lines(run.stderr) or last_lines(run.stdout) or '(no output)'}"
        )
    elif out.is_error:
        subtype = out.result.get("subtype", "error")
        traj.error = f"claude -p failed ({subtype}): {str(out.result.get('result', ''))[:600]}"
    elif out.usage.total_tokens == 0:
        traj.error = (
            f"claude -p reported no token usage ({CLAUDE_CODE.label} {CLAUDE_CODE.version} "
            "prints it in the result event): the run cannot be accounted for"
        )
    if traj.error is not None:
        return traj
    traj.answer = out.answer or ""
    denied = (out.result or {}).get("permission_denials") or []
    if denied:
        names = ", ".join(str(d.get("tool_name", "?")) for d in denied if isinstance(d, dict))
        traj.notes.append(f"Permission denied for: {names}.")
    if out.tool_calls:
        summary = tool_summary(out.tool_calls)
        if summary:
            traj.notes.append(summary)
    return traj


def claude_code_harness() -> ClaudeCodeHarness:
    """The registered factory: checks the CLI at the start of a run."""
    return ClaudeCodeHarness(check=True)
