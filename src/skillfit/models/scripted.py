"""A deterministic model for tests and dry runs: replies come from a script, not a network.

Selectable by string like every other model:
  scripted:echo                 repeats the last user message
  scripted:constant=<text>      always answers <text>
  scripted:/path/rules.json     a JSON list of {"match": regex, "reply": text-or-object};
                                the first rule whose regex matches the last user message wins;
                                a rule may also need "system" (a regex the system message must
                                match) and "format" ("json": only when a response format is
                                asked for, as the agent harness does; "text": only when not)
In Python, `ScriptedModel(fn)` takes any function of the messages (and the request) instead.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from skillfit.models.base import (
    Message,
    ModelSpecError,
    Reply,
    ResponseFormat,
    SchemaValidationError,
    Usage,
)


@dataclass(frozen=True)
class Request:
    """What the script sees of one call."""

    messages: Sequence[Message]
    max_tokens: int
    temperature: float
    response_format: ResponseFormat | None
    sample: int

    @property
    def last_user(self) -> str:
        for m in reversed(self.messages):
            if m["role"] == "user":
                return m["content"]
        return ""

    @property
    def system(self) -> str:
        return "\n".join(m["content"] for m in self.messages if m["role"] == "system")


ScriptFn = Callable[[Request], "str | dict[str, Any] | list[Any] | BaseModel"]


def _count_tokens(text: str) -> int:
    # A stand-in tokenizer: stable and cheap, close enough for accounting tests.
    return max(1, len(text) // 4) if text else 0


class ScriptedModel:
    """Answers by calling `fn(request)`; thread-safe; records every request in `calls`."""

    def __init__(self, fn: ScriptFn, *, name: str = "scripted:custom") -> None:
        self._fn = fn
        self._name = name
        self._lock = threading.Lock()
        self.calls: list[Request] = []

    @property
    def name(self) -> str:
        return self._name

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        response_format: ResponseFormat | None = None,
        sample: int = 0,
    ) -> Reply:
        start = time.perf_counter()
        request = Request(list(messages), max_tokens, temperature, response_format, sample)
        with self._lock:
            self.calls.append(request)
        out = self._fn(request)
        if isinstance(out, BaseModel):
            text = out.model_dump_json()
        elif isinstance(out, dict | list):
            text = json.dumps(out)
        else:
            text = str(out)
        parsed = _validate(text, response_format) if response_format is not None else None
        prompt = "".join(m["content"] for m in messages)
        usage = Usage(prompt_tokens=_count_tokens(prompt), completion_tokens=_count_tokens(text))
        return Reply(
            text=text,
            usage=usage,
            latency=time.perf_counter() - start,
            model=self._name,
            parsed=parsed,
        )


def _validate(text: str, response_format: ResponseFormat) -> Any:
    try:
        if isinstance(response_format, type) and issubclass(response_format, BaseModel):
            return response_format.model_validate_json(text)
        return json.loads(text)
    except Exception as exc:  # the script broke its own contract: same error as a real model
        raise SchemaValidationError(f"scripted reply does not match the schema: {exc}") from exc


def _rules_fn(path: Path) -> ScriptFn:
    try:
        rules = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelSpecError(f"cannot read scripted rules file {path}: {exc}") from exc
    if not isinstance(rules, list) or not all(
        isinstance(r, dict) and "match" in r and "reply" in r for r in rules
    ):
        raise ModelSpecError(
            f"{path}: expected a JSON list of objects with 'match' (regex) and 'reply'"
        )
    if any(r.get("format") not in (None, "json", "text") for r in rules):
        raise ModelSpecError(f'{path}: a rule\'s "format" must be "json" or "text"')
    compiled = [
        (
            re.compile(r["match"], re.S),
            re.compile(r["system"], re.S) if r.get("system") is not None else None,
            r.get("format"),
            r["reply"],
        )
        for r in rules
    ]

    def fn(request: Request) -> Any:
        asks_json = request.response_format is not None
        for pattern, system, fmt, reply in compiled:
            if fmt is not None and (fmt == "json") != asks_json:
                continue
            if system is not None and not system.search(request.system):
                continue
            if pattern.search(request.last_user):
                return reply
        return ""

    return fn


def scripted_from_spec(rest: str) -> ScriptedModel:
    """Build a scripted model from the part of the model string after `scripted:`."""
    name = f"scripted:{rest}"
    if rest == "echo":
        return ScriptedModel(lambda r: r.last_user, name=name)
    if rest.startswith("constant="):
        text = rest[len("constant=") :]
        return ScriptedModel(lambda r: text, name=name)
    if rest and Path(rest).suffix == ".json":
        return ScriptedModel(_rules_fn(Path(rest)), name=name)
    raise ModelSpecError(
        f"unknown scripted model {name!r}; use scripted:echo, scripted:constant=<text> "
        "or scripted:/path/to/rules.json"
    )
