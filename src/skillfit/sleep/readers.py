"""Reading session files: Claude Code, Codex, and a generic JSONL of {prompt, reply, outcome}.

- Claude Code keeps one file per session at `~/.claude/projects/<project>/<session>.jsonl`: one
  JSON object per line, `type` user / assistant (`message.content`: text, `tool_use`,
  `tool_result` blocks), plus summaries and snapshots that are skipped. Sub-agent lines
  (`isSidechain`) and meta lines (`isMeta`: an injected skill body, a command's caveat) are not
  the user's words. A Bash result reports a failure as `is_error` with `Exit code N`.
- Codex keeps `~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`: `{timestamp, type,
  payload}` lines; `session_meta` (id, cwd), `response_item` (a `message`, a `function_call`
  such as `shell` / `exec_command` and its `function_call_output` with the exit code, a
  `custom_tool_call` such as `apply_patch`), `event_msg` (`item_completed` of a command holds
  its exit code) and `turn_context`. Invoking `$name` adds a user message `<skill><name>...`.
- Claude Code 2.1 marks the assistant's turns under a skill with `attributionSkill`.
- Generic: one record per line, `{"prompt", "reply", "outcome"}` and optionally `id`,
  `session`, `timestamp`, `skill`, `context`, `correction`.

Every line is redacted before anything else reads it. A line that is not JSON is skipped (a
session being written has a cut last line).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skillfit.sleep.sessions import Session, parse_time, redact_secrets

SOURCES = ("claude-code", "codex", "jsonl")
MAX_FILE_BYTES = 64 * 2**20
_EXIT = re.compile(r"(?i)(?:exit code|exited with code|exit status)[:\s]+(-?\d+)")
# Text Claude Code and Codex put in the user's turn that the user did not write.
_WRAPPERS = (
    "<local-command-",
    "<system-reminder>",
    "<skill>",
    "<user_instructions>",
    "<environment_context>",
    "<INSTRUCTIONS>",
    "# AGENTS.md instructions",
    "Caveat: The messages below",
    "[Request interrupted",
)
_SKILL_TAG = re.compile(r"<skill>\s*<name>([^<]+)</name>")
_COMMAND_TAG = re.compile(r"<command-name>/?([^<]+)</command-name>")
_COMMAND_ARGS = re.compile(r"<command-args>(.*?)</command-args>", re.S)


def default_root(source: str) -> Path:
    """Where the CLI keeps its sessions: `~/.claude/projects`, `~/.codex/sessions`
    (`$CODEX_HOME/sessions` when set)."""
    if source == "claude-code":
        base = os.environ.get("CLAUDE_CONFIG_DIR")
        return (Path(base) if base else Path.home() / ".claude") / "projects"
    if source == "codex":
        return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex") / "sessions"
    raise ValueError("a generic JSONL has no default place: give --sessions FILE_OR_DIR")


def session_files(root: Path) -> list[Path]:
    """Every `*.jsonl` under `root` (or `root` itself), sorted."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.jsonl") if p.is_file())


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.stat().st_size > MAX_FILE_BYTES:
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                yield number, redact_secrets(obj)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _user_text(text: str) -> str | None:
    """The user's own words in a user turn, or None for text the CLI put there."""
    stripped = text.strip()
    if not stripped or stripped.startswith(_WRAPPERS):
        return None
    return stripped


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text")


def _exit_code(text: str, failed: bool) -> int:
    m = _EXIT.search(text[:400])
    return int(m.group(1)) if m else (1 if failed else 0)


def read_claude_code(path: Path) -> Session:
    """One Claude Code session file."""
    s = Session("claude-code", path.stem, str(path))
    pending: dict[str, Any] = {}  # tool_use id -> the event waiting for its result
    for number, line in _lines(path):
        if line.get("isSidechain") or line.get("type") not in ("user", "assistant"):
            continue
        s.id = str(line.get("sessionId") or s.id)
        s.cwd = s.cwd or line.get("cwd")
        s.started = s.started or parse_time(line.get("timestamp"))
        message = line.get("message") or {}
        if isinstance(line.get("attributionSkill"), str):  # the skill the turn answered under
            s.add("skill", number, name=line["attributionSkill"])
        for block in _blocks(message.get("content")):
            kind = block.get("type")
            if line["type"] == "assistant" and kind == "text":
                s.add("assistant", number, text=str(block.get("text", "")))
            elif kind == "tool_use":
                _claude_tool(s, number, block, pending)
            elif kind == "tool_result":
                event = pending.pop(str(block.get("tool_use_id")), None)
                text = _result_text(block.get("content"))
                if event is not None:
                    event.text = text
                    if event.kind == "command":
                        event.exit_code = _exit_code(text, bool(block.get("is_error")))
            elif kind == "text" and not line.get("isMeta"):
                raw = str(block.get("text", ""))
                tag = _COMMAND_TAG.search(raw)
                if tag:  # `/name args`: a slash command, or a skill invoked by name
                    s.add("skill", number, name=tag.group(1).strip())
                    args = _COMMAND_ARGS.search(raw)
                    raw = args.group(1) if args else ""
                said = _user_text(raw)
                if said:
                    s.add("user", number, text=said)
    return s


def _claude_tool(s: Session, number: int, block: dict[str, Any], pending: dict[str, Any]) -> None:
    name, args = str(block.get("name", "")), block.get("input") or {}
    if not isinstance(args, dict):
        return
    if name == "Bash":
        event = s.add("command", number, command=str(args.get("command", "")))
    elif name == "Write":
        event = s.add("write", number, path=str(args.get("file_path", "")))
        event.text = str(args.get("content", ""))[:2000]
    elif name in ("Edit", "MultiEdit", "NotebookEdit"):
        event = s.add("edit", number, path=str(args.get("file_path") or args.get("notebook_path")))
    elif name == "Read":
        event = s.add("read", number, path=str(args.get("file_path", "")))
    elif name == "Skill":
        event = s.add("skill", number, name=str(args.get("skill") or args.get("command") or ""))
    else:
        return
    pending[str(block.get("id"))] = event


def _shell_text(args: dict[str, Any]) -> str:
    command = args.get("command", args.get("cmd", ""))
    if isinstance(command, list):
        parts = [str(c) for c in command]
        if len(parts) >= 3 and parts[1] in ("-lc", "-c") and parts[0].endswith("sh"):
            return parts[2]
        return shlex.join(parts)
    return str(command)


def _codex_output(payload: dict[str, Any]) -> tuple[str, int | None]:
    out = payload.get("output")
    if isinstance(out, dict):  # some versions: {"content": ..., "success": bool}
        text = str(out.get("content", ""))
        return text, None if out.get("success") is None else (0 if out["success"] else 1)
    text = str(out or "")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        meta = data.get("metadata") or {}
        code = meta.get("exit_code") if isinstance(meta, dict) else None
        return str(data.get("output", "")), code if isinstance(code, int) else None
    m = _EXIT.search(text[:400])
    return text, int(m.group(1)) if m else None


def _patch_files(s: Session, number: int, patch: str) -> None:
    for m in re.finditer(r"^\*\*\* (Add|Update) File: (.+)$", patch, re.M):
        s.add("write" if m.group(1) == "Add" else "edit", number, path=m.group(2).strip())


def read_codex(path: Path) -> Session:
    """One Codex rollout file."""
    s = Session("codex", path.stem, str(path))
    calls: dict[str, Any] = {}
    fallback: list[tuple[int, str]] = []  # event_msg user messages, if no response item has one
    for number, line in _lines(path):
        kind, payload = line.get("type"), line.get("payload") or {}
        s.started = s.started or parse_time(line.get("timestamp"))
        if kind == "session_meta":
            s.id = str(payload.get("id") or s.id)
            s.cwd = payload.get("cwd") or s.cwd
        elif kind == "event_msg" and payload.get("type") == "user_message":
            fallback.append((number, str(payload.get("message", ""))))
        elif kind == "event_msg" and payload.get("type") in ("exec_command_end", "item_completed"):
            done = payload.get("item") if payload.get("type") == "item_completed" else payload
            if isinstance(done, dict):
                event = calls.get(str(done.get("call_id") or done.get("id")))
                if event is not None and isinstance(done.get("exit_code"), int):
                    event.exit_code = done["exit_code"]
        elif kind == "response_item":
            _codex_item(s, number, payload, calls)
    if not any(e.kind == "user" for e in s.events):
        for number, text in fallback:
            if (clean := _user_text(text)) is not None:
                s.add("user", number, text=clean)
        s.events.sort(key=lambda e: e.line)
    return s


def _codex_item(s: Session, number: int, p: dict[str, Any], calls: dict[str, Any]) -> None:
    kind = p.get("type")
    if kind == "message":
        text = "\n".join(str(b.get("text", "")) for b in _blocks(p.get("content")) if "text" in b)
        injected = _SKILL_TAG.match(text.strip())
        if p.get("role") == "user" and injected:  # `$name` pasted the skill into the turn
            s.add("skill", number, name=injected.group(1).strip())
        elif p.get("role") == "user" and (clean := _user_text(text)) is not None:
            s.add("user", number, text=clean)
        elif p.get("role") == "assistant" and text.strip():
            s.add("assistant", number, text=text)
    elif kind in ("function_call", "local_shell_call"):
        raw = p.get("arguments") if kind == "function_call" else p.get("action")
        try:
            args = json.loads(raw) if isinstance(raw, str) else (raw or {})
        except ValueError:
            args = {}
        name = p.get("name", "shell")
        if isinstance(args, dict) and name in ("shell", "exec_command", "container.exec", None):
            calls[str(p.get("call_id"))] = s.add("command", number, command=_shell_text(args))
        elif name == "apply_patch" and isinstance(args, dict):
            _patch_files(s, number, str(args.get("input", "")))
    elif kind == "custom_tool_call" and p.get("name") == "apply_patch":
        _patch_files(s, number, str(p.get("input", "")))
    elif kind in ("function_call_output", "local_shell_call_output"):
        event = calls.get(str(p.get("call_id")))
        if event is not None:
            event.text, code = _codex_output(p)
            event.exit_code = code if code is not None else event.exit_code


def read_generic(path: Path) -> list[Session]:
    """A JSONL of {prompt, reply, outcome}: one session per record."""
    out = []
    for number, rec in _lines(path):
        prompt = rec.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            continue
        sid = str(rec.get("session") or rec.get("id") or f"{path.stem}:{number}")
        s = Session("jsonl", sid, str(path), parse_time(rec.get("timestamp")), rec.get("cwd"))
        s.skill = rec.get("skill") if isinstance(rec.get("skill"), str) else None
        if isinstance(rec.get("context"), str):
            s.add("read", number, path="context", text=rec["context"])
        s.add("user", number, text=prompt.strip())
        if isinstance(rec.get("reply"), str):
            s.add("assistant", number, text=rec["reply"])
        if isinstance(rec.get("correction"), str) and rec["correction"].strip():
            s.add("user", number, text=rec["correction"].strip())
        s.outcome = rec.get("outcome")
        out.append(s)
    return out


def read_sessions(source: str, path: Path) -> list[Session]:
    """The sessions in one file of `source`; the file's time when the lines carry none."""
    if source == "jsonl":
        sessions = read_generic(path)
    else:
        sessions = [read_claude_code(path) if source == "claude-code" else read_codex(path)]
    for s in sessions:
        s.started = s.started or _mtime(path)
    return sessions
