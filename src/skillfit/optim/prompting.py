"""Optimizer prompt pieces: the fixed instructions (package data) and renderers for the
dynamic parts. The instructions go in the system message and never change within a run, so
a provider's prefix cache stays warm; everything that changes goes in the user message."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from skillfit.optim.marked import marker, parse_examples
from skillfit.skill import Skill
from skillfit.tasks.base import Item, Trajectory

PROMPT_NAMES = ("reflect", "diagnose", "rules", "slow_update", "meta_skill", "procedure")
# Prompts of passes that are off by default: loadable, but their words stay out of the common
# vocabulary and the guard's needles, so a run that does not use them trains as before.
OPTIONAL_PROMPTS = ("example", "knowledge")


def optimizer_prompts() -> str:
    """All the optimizer's prompts: their words are the common vocabulary of any rule."""
    return "\n".join(load_prompt(name) for name in PROMPT_NAMES)


@cache
def load_prompt(name: str) -> str:
    """The instructions for one optimizer role, from `skillfit/optim/prompts/<name>.md`."""
    known = (*PROMPT_NAMES, *OPTIONAL_PROMPTS)
    if name not in known:
        raise ValueError(f"unknown optimizer prompt {name!r}; known: {', '.join(known)}")
    return resources.files("skillfit.optim").joinpath(f"prompts/{name}.md").read_text("utf-8")


@cache
def boilerplate_needles(names: tuple[str, ...] = PROMPT_NAMES) -> tuple[str, ...]:
    """Strings an edit must not repeat: the rule lines of the prompts `names` and every quoted
    text of their examples. A small model that parrots its instructions produces exactly
    these."""
    needles: set[str] = set()
    for name in names:
        text = load_prompt(name)
        for line in text.splitlines():
            line = line.strip().lstrip("-").strip()
            if len(line) >= 24 and not line.startswith("{"):
                needles.add(line)
        # Every string of the JSON examples (a rule, a step, a note), wrapped lines joined.
        for match in re.finditer(r'"((?:[^"\\]|\\.)*)"', " ".join(text.split())):
            for part in json.loads(f'"{match.group(1)}"').split("\n"):
                # No closing full stop: "Write each amount times that factor for the first
                # question" copies the example as surely as the whole sentence does.
                part = part.strip().lstrip("-#").strip().rstrip(".;:,").strip()
                if len(part) >= 12:
                    needles.add(part)
    return tuple(sorted(needles))


def render_skill(skill: Skill) -> str:
    """The skill with a `[section-id]` marker above each section, so edits can name them.
    A worked example of a training item (optim.marked) shows as its marker only: the rules
    are written with no item in view."""
    if not skill.sections:
        return "(the guide is empty)"
    parts = []
    for sec in skill.sections:
        head = f"{sec.heading}\n" if sec.heading else ""
        body = sec.body
        for example in parse_examples(body):
            body = body.replace(example.text, f"{marker(example.item_id)} (a solved question)")
        parts.append(f"[{sec.id}]\n{head}{body.strip()}".rstrip())
    return "\n\n".join(parts)


def clip(text: str, limit: int) -> str:
    """Shorten long text keeping its head and tail (answers usually end with the result)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


def render_target(target: Any) -> str:
    if isinstance(target, str):
        return target
    return json.dumps(target, ensure_ascii=False, default=str)


def render_example(
    n: int, item: Item, traj: Trajectory, *, input_chars: int = 700, answer_chars: int = 500
) -> str:
    """One task the target attempted, as the optimizer sees it."""
    assert traj.score is not None
    verdict = "right" if traj.score.hard else "wrong"
    lines = [
        f"## Task {n} ({verdict})",
        f"Input:\n{clip(item.input, input_chars)}",
        f"Model answer:\n{clip(traj.answer, answer_chars) or '(empty)'}",
        f"Expected: {clip(render_target(item.target), 200)}",
    ]
    if traj.score.feedback:
        lines.append(f"Feedback: {clip(traj.score.feedback, 300)}")
    actions = render_actions(traj.tool_calls)
    if actions:
        lines.append(f"Agent actions:\n{actions}")
    return "\n".join(lines)


def render_actions(
    calls: Sequence[dict[str, Any]],
    *,
    limit: int = 8,
    arg_chars: int = 120,
    result_chars: int = 160,
) -> str:
    """What an agent did before answering (its tool calls, each with the start of its result),
    so reflection sees the actions and not only the final answer. The answer action itself and
    calls beyond `limit` (the first ones are kept) are left out."""
    shown = [c for c in calls if c.get("tool") not in ("answer",)]
    lines = []
    for call in shown[:limit]:
        args = call.get("args")
        arg_text = json.dumps(args, ensure_ascii=False, default=str) if args else ""
        status = "ok" if call.get("ok") else "failed"
        result = clip(str(call.get("result", "")), result_chars).replace("\n", " / ")
        lines.append(
            f"{call.get('step', '?')}. {call.get('tool') or 'invalid reply'}"
            f"({clip(arg_text, arg_chars)}) -> {status}: {result or '(empty)'}"
        )
    if len(shown) > limit:
        lines.append(f"[... {len(shown) - limit} more actions]")
    return "\n".join(lines)


def render_edit(edit: dict[str, Any], limit: int = 160) -> str:
    """One edit on a line, for a prompt's list of tried edits; a marked example of a training
    item shows as its marker only (see `render_skill`)."""
    where = edit.get("section") or (
        f'"{clip(edit["anchor"], 40)}"' if edit.get("anchor") else "end"
    )
    content = str(edit.get("content", ""))
    for example in parse_examples(content):
        content = content.replace(example.text, f"{marker(example.item_id)} (a solved question)")
    content = clip(content, limit).replace("\n", " / ")
    return (
        f"{edit.get('op', '?')} [{where}]: {content}" if content else f"{edit.get('op')} [{where}]"
    )


def render_examples(pairs: Sequence[tuple[Item, Trajectory]]) -> str:
    return "\n\n".join(render_example(i + 1, it, tr) for i, (it, tr) in enumerate(pairs))
