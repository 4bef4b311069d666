"""Mining items from sessions: the user's request, the context to replay it, and a check.

A session is cut into requests: each user message starts one, unless it corrects the one
before ("no, use X", "that's wrong", "actually ...") or asks it again (a re-asked question),
in which case it is kept as a correction of that request. Each request becomes an item when
the transcript says how it should have gone:

- a rule, where the transcript has one (what the replay's reply must name):
  `tests_passed` (the last test command exited 0), `file_produced` (the agent wrote a new
  file), `command_exit` (the last command that changes something exited 0);
- else a rubric for the LLM judge, built from the user's own corrections;
- else nothing: the request is kept in the evidence as skipped, with the reason.

A generic record's `outcome` may be a mapping naming a `command` (with `exit_code`), a
`file` or `tests`, a pass/fail word or bool, or the user's feedback as text.
Every item keeps where it came from: source, session id, file and line.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from skillfit.sleep.sessions import Event, Session

MAX_REQUEST = 1500
MAX_CONTEXT_FILE = 400
_CORRECTION = re.compile(
    r"(?i)^\s*(?:no\b|nope\b|not that|that'?s (?:not|wrong)|wrong\b|actually\b|instead\b|"
    r"don'?t\b|do not\b|stop\b|you (?:forgot|missed|didn'?t)|please (?:use|don'?t)|"
    r"i said\b|i meant\b|use \S+ instead)"
)
_TESTS = re.compile(
    r"(?:^|[\s/])(?:pytest|py\.test|unittest|tox|nox|jest|vitest|mocha|rspec|phpunit|"
    r"(?:go|cargo|npm|pnpm|yarn|bun|dotnet|mix|make|mvn|gradle|ctest)\s+(?:run\s+)?test\w*)\b"
)
_READ_ONLY = {
    "ls", "cat", "head", "tail", "grep", "rg", "find", "pwd", "echo", "wc", "which", "tree",
    "less", "more", "nl", "stat", "file", "sed", "awk", "jq", "diff", "true", "cd", "type",
}  # fmt: skip
_GIT_READ = {"status", "diff", "log", "show", "branch", "blame", "rev-parse", "ls-files"}
_MULTI = {"npm", "pnpm", "yarn", "bun", "cargo", "go", "make", "uv", "poetry", "git", "docker",
          "npx", "dotnet", "mvn", "gradle", "kubectl", "terraform", "just", "hatch", "pip"}  # fmt: skip
_WRAP = {"sudo", "env", "time", "nice", "exec", "command"}
_ACCEPT = {"pass", "passed", "success", "succeeded", "ok", "accepted", "good", "yes", "true"}
_REJECT = {"fail", "failed", "failure", "rejected", "bad", "no", "false", "error"}


@dataclass
class Request:
    """One request of a session and what followed it."""

    text: str
    line: int
    events: list[Event] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)


@dataclass
class Mined:
    """What mining one session gave: items (dicts, as written to items.jsonl) and the requests
    skipped with the reason."""

    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def is_reask(text: str, previous: str) -> bool:
    """The same question asked again: most of its words are the previous request's."""
    a, b = _words(text), _words(previous)
    return len(a) >= 3 and len(a & b) / max(1, len(a | b)) >= 0.6


def split_requests(session: Session) -> list[Request]:
    requests: list[Request] = []
    for event in session.events:
        if event.kind == "user":
            current = requests[-1] if requests else None
            if current is not None and (
                _CORRECTION.match(event.text) or is_reask(event.text, current.text)
            ):
                current.corrections.append(event.text)
                continue
            requests.append(Request(event.text, event.line))
        elif requests:
            requests[-1].events.append(event)
    return requests


def command_core(command: str) -> str:
    """What a reply must name of a command: the program (and its sub-command for npm, git,
    cargo ...), without `cd dir &&`, variables, wrappers, `python -m` or `bash -lc`."""
    last = re.split(r"&&|\|\||;|\|", command)
    for part in reversed(last):
        try:
            tokens = shlex.split(part)
        except ValueError:
            tokens = part.split()
        while tokens and ("=" in tokens[0] and not tokens[0].startswith("-") or tokens[0] in _WRAP):
            tokens = tokens[1:]
        if not tokens or tokens[0] == "cd":
            continue
        if tokens[0].endswith("sh") and len(tokens) >= 3 and tokens[1] in ("-c", "-lc"):
            return command_core(tokens[2])
        prog = os.path.basename(tokens[0])
        if re.fullmatch(r"python[\d.]*", prog) and len(tokens) >= 3 and tokens[1] == "-m":
            if tokens[2] in ("pytest", "unittest", "pip"):
                prog, tokens = tokens[2], tokens[2:]
            else:  # `python3 -m build` names it too
                return f"-m {tokens[2]}"
        if prog in ("uv", "poetry", "hatch") and len(tokens) >= 3 and tokens[1] == "run":
            return command_core(shlex.join(tokens[2:]))
        if prog in _MULTI and len(tokens) >= 2 and not tokens[1].startswith("-"):
            words = [prog, tokens[1]]
            if tokens[1] == "run" and len(tokens) >= 3 and not tokens[2].startswith("-"):
                words.append(tokens[2])
            return " ".join(words)
        return prog
    return command.strip()


def _changes_something(command: str) -> bool:
    core = command_core(command).split()
    if not core:
        return False
    return core[0] not in _READ_ONLY and not (
        core[0] == "git" and len(core) > 1 and core[1] in _GIT_READ
    )


def _relative(path: str, cwd: str | None) -> str:
    if cwd and path.startswith(cwd.rstrip("/") + "/"):
        return path[len(cwd.rstrip("/")) + 1 :]
    return path


def rule_check(request: Request, cwd: str | None) -> dict[str, Any] | None:
    """The rule the transcript gives for `request`, or None."""
    commands = [e for e in request.events if e.kind == "command" and e.command]
    tests = [e for e in commands if _TESTS.search(e.command or "")]
    if tests and tests[-1].exit_code == 0:
        cmd = tests[-1].command or ""
        return {"kind": "tests_passed", "command": cmd, "mentions": [command_core(cmd)]}
    written = [e.path for e in request.events if e.kind == "write" and e.path]
    if written:
        files = list(dict.fromkeys(_relative(p, cwd) for p in written))
        return {"kind": "file_produced", "files": files, "mentions": files}
    acting = [e for e in commands if _changes_something(e.command or "")]
    if acting and acting[-1].exit_code == 0:
        cmd = acting[-1].command or ""
        return {"kind": "command_exit", "command": cmd, "exit_code": 0,
                "mentions": [command_core(cmd)]}  # fmt: skip
    return None


def rubric_check(request: Request) -> dict[str, Any] | None:
    """A rubric for the judge from the user's corrections of `request`, or None."""
    if not request.corrections:
        return None
    said = "; ".join(f'"{c[:300]}"' for c in request.corrections)
    rubric = (
        f"In the original session the user had to correct the agent or ask again: {said}. "
        "Full marks (1) when the response already does what the user asked for in those "
        "words; 0 when it makes the mistake the user corrected, or ignores it."
    )
    return {"kind": "rubric", "rubric": rubric, "corrections": request.corrections}


def _generic_check(session: Session, request: Request) -> dict[str, Any] | None:
    outcome = session.outcome
    if isinstance(outcome, dict):
        if outcome.get("tests") or outcome.get("command"):
            code = outcome.get("exit_code", 0 if outcome.get("tests") in (True, "passed") else None)
            cmd = str(outcome.get("command") or outcome.get("tests"))
            if code == 0 and cmd not in ("True", "passed"):
                kind = "tests_passed" if _TESTS.search(cmd) else "command_exit"
                return {
                    "kind": kind,
                    "command": cmd,
                    "exit_code": 0,
                    "mentions": [command_core(cmd)],
                }
        if isinstance(outcome.get("file"), str):
            return {
                "kind": "file_produced",
                "files": [outcome["file"]],
                "mentions": [outcome["file"]],
            }
    word = str(outcome).strip().lower() if isinstance(outcome, str | bool) else ""
    reply = next((e.text for e in request.events if e.kind == "assistant"), "")
    if word in _ACCEPT and reply and not request.corrections:
        rubric = (
            f'The user accepted this reply: "{reply[:600]}". Full marks (1) when the response '
            "reaches the same result; 0 when it does not."
        )
        return {"kind": "rubric", "rubric": rubric, "corrections": []}
    if word and word not in _ACCEPT | _REJECT and isinstance(outcome, str):
        request.corrections.append(outcome.strip())
    return rubric_check(request)


def context_text(session: Session, request: Request, earlier: list[Request]) -> str:
    """What the replay needs besides the request: the folder, the requests before it, and what
    the agent read for it (files, the output of read-only commands such as `cat`), at most
    three of those, each cut to MAX_CONTEXT_FILE characters."""
    parts = []
    if session.cwd:
        parts.append(f"Working folder: {session.cwd}")
    if earlier:
        parts.append("Earlier in the session the user asked: " + " / ".join(
            f'"{r.text[:200]}"' for r in earlier[-2:]))  # fmt: skip
    shown = 0
    for e in request.events:
        if shown == 3 or not e.text:
            continue
        if e.kind == "read":
            label = "Context" if e.path == "context" else f"File {e.path}"
            text = e.text
        elif e.kind == "command" and e.command and not _changes_something(e.command):
            label, text = f"Output of `{e.command[:120]}`", e.text.split("\nOutput:\n", 1)[-1]
        else:
            continue
        parts.append(f"{label}:\n{text[:MAX_CONTEXT_FILE]}")
        shown += 1
    return "\n\n".join(parts)


def item_id(session: Session, line: int) -> str:
    digest = hashlib.sha256(f"{session.source}|{session.id}|{line}".encode()).hexdigest()
    return f"{session.source}-{digest[:10]}"


def mine_session(session: Session) -> Mined:
    """Items from one session (see the module docstring)."""
    out = Mined()
    requests = split_requests(session)
    for i, request in enumerate(requests):
        ref = session.ref(request.line)
        if session.source == "jsonl":
            check = _generic_check(session, request)
        else:
            check = rule_check(request, session.cwd) or rubric_check(request)
        if check is None:
            out.skipped.append({**ref, "request": request.text[:200],
                                "reason": "no check: no passing test or command, no file "
                                "written and no correction by the user"})  # fmt: skip
            continue
        context = context_text(session, request, requests[:i])
        prompt = request.text[:MAX_REQUEST]
        if context:
            prompt += f"\n\n---\n{context}"
        out.items.append({"id": item_id(session, request.line), "input": prompt,
                          "request": request.text[:MAX_REQUEST], "check": check,
                          "corrections": request.corrections, "from": ref})  # fmt: skip
    return out


def assign_splits(items: list[dict[str, Any]], val_share: float = 0.5) -> None:
    """A `split` for every item, train or val, by a hash of its id (a rerun on the same
    sessions gives the same splits); at least one of each when there are two."""
    order = sorted(items, key=lambda it: hashlib.sha256(it["id"].encode()).hexdigest())
    n_val = min(len(order) - 1, max(1, round(len(order) * val_share))) if len(order) > 1 else 0
    for k, item in enumerate(order):
        item["split"] = "val" if k < n_val else "train"
