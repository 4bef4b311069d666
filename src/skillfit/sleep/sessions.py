"""Agent sessions as skillfit reads them: what the user asked, what the agent did, how it ended.

A `Session` is a list of `Event`s in order: the user's messages, the agent's messages, the
commands it ran (with their exit codes), the files it wrote or read, and the skills it
invoked. Readers for Claude Code, Codex and a generic JSONL fill it (`skillfit.sleep.readers`);
every string is redacted as it is read (`redact_secrets`), so no key reaches an item, a prompt
or a staged file. Each event keeps the line of the file it came from, so a mined item can be
traced to its session and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from skillfit.models.redact import MASK, redact_obj

EventKind = Literal["user", "assistant", "command", "write", "edit", "read", "skill"]

# Assignments of secret-named variables (`DB_PASSWORD=hunter2`, `"api_key": "..."`) and private
# key blocks, on top of the key shapes `redact` knows.
_ASSIGNED = re.compile(
    r"(?i)\b([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)[A-Z0-9_]*['\"]?\s*[=:]\s*['\"]?)"
    r"[^\s'\",;}]{4,}"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
)


def redact_secrets(obj: Any) -> Any:
    """`obj` (a parsed JSON line) with every credential in its strings masked."""
    obj = redact_obj(obj)
    return _walk(obj)


def _walk(obj: Any) -> Any:
    if isinstance(obj, str):
        text = _PRIVATE_KEY.sub(MASK, obj)
        return _ASSIGNED.sub(lambda m: m.group(1) + MASK, text)
    if isinstance(obj, dict):
        return {k: _walk(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v) for v in obj]
    return obj


@dataclass
class Event:
    """One thing that happened in a session. `text`: a message, a command's output or a file's
    content (as far as the session shows it); `command` and `exit_code` for a command; `path`
    for a file written, edited or read; `name` for a skill invoked."""

    kind: EventKind
    line: int
    text: str = ""
    command: str | None = None
    exit_code: int | None = None
    path: str | None = None
    name: str | None = None


@dataclass
class Session:
    """One agent session read from `file`. `outcome` holds what a generic JSONL line said of
    how it ended ({prompt, reply, outcome} records); sessions of agent CLIs have none."""

    source: str  # claude-code | codex | jsonl
    id: str
    file: str
    started: datetime | None = None
    cwd: str | None = None
    events: list[Event] = field(default_factory=list)
    outcome: Any = None
    skill: str | None = None  # the skill a generic record names, if any

    def add(self, kind: EventKind, line: int, **fields: Any) -> Event:
        event = Event(kind, line, **fields)
        self.events.append(event)
        return event

    def ref(self, line: int | None = None) -> dict[str, Any]:
        """Where an item came from: source, session id, file and line."""
        return {"source": self.source, "session": self.id, "file": self.file, "line": line}

    def uses_skill(self, name: str) -> bool:
        """Whether the session invoked or read the skill `name`: a skill call, `/name` (Claude
        Code) or `$name` (Codex) in a user message, or a path under `skills/name/`."""
        if self.skill is not None:
            return self.skill == name
        mention = re.compile(rf"(?:^|[\s(<>])[/$]{re.escape(name)}(?![\w-])")
        in_path = re.compile(rf"skills/{re.escape(name)}(?:/|$|\b)")
        for e in self.events:
            if e.kind == "skill" and e.name == name:
                return True
            if e.kind == "user" and mention.search(e.text):
                return True
            for text in (e.path, e.command):
                if text and in_path.search(text):
                    return True
        return False


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (`2026-12-05T10:00:00.123Z`) as an aware datetime, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a span back from now (`90m`, `12h`, `3d`, `2w`) or a date (`2026-12-01`,
    ISO 8601). ValueError with the accepted forms otherwise."""
    now = now or datetime.now(UTC)
    m = _SPAN.match(text or "")
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    when = parse_time(text)
    if when is None:
        raise ValueError(f"--since {text!r}: give a span (90m, 12h, 3d, 2w) or a date (2026-12-01)")
    return when
