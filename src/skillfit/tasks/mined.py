"""`mined`: items mined from agent sessions by `skillfit sleep`, each with its own check.

    task:
      name: mined
      options:
        path: items.jsonl        # written by skillfit sleep (one item per line)
        judge: openai:gpt-5.4-mini   # grades the rubric items (needed when there are any)
        label: my-skill          # the task's name (names the trained skill)

A line is `{"id", "input", "split": "train"|"val"|"test", "check": {...}, "from": {...}}`. The
check is a rule or a rubric:

- a rule (`tests_passed`, `file_produced`, `command_exit`) lists `mentions`: the command or
  files that worked in the session; the reply passes when it names every one of them
  (case-insensitive, as whole words);
- a rubric (`kind: rubric`) is graded by the LLM judge (`file` task's judge scorer) on the
  whole reply, with the item's own rubric and no reference answer.

The target answers in one turn under any harness: what it would do for the request (the
commands it would run, the files it would write), then an `Answer:` line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from skillfit.core.readfile import FileRefused, read_regular_file
from skillfit.tasks.base import SPLIT_NAMES, Item, Score, SplitName, TaskDataError
from skillfit.tasks.common import SingleTurnTask, TaskOptionError
from skillfit.tasks.registry import register_task
from skillfit.tasks.userfile import resolve_path
from skillfit.tasks.userfile.judge import JudgeScorer

RULE_KINDS = ("tests_passed", "file_produced", "command_exit")
INSTRUCTIONS = (
    "Say what you would do for this request: the commands you would run and the files you "
    "would write, by name. End with `Answer:` followed by a one-line summary."
)
MAX_ITEMS_BYTES = 64 * 2**20


def _names(mention: str, reply: str) -> bool:
    pattern = r"(?<![\w-])" + re.escape(mention.strip()) + r"(?![\w-])"
    return re.search(pattern, reply, re.I) is not None


def rule_score(check: dict[str, Any], reply: str) -> Score:
    """A rule check: every mention named in the reply."""
    mentions = [str(m) for m in check.get("mentions", []) if str(m).strip()]
    missing = [m for m in mentions if not _names(m, reply)]
    what = {
        "tests_passed": "the test command that passed in the session",
        "file_produced": "the files the session produced",
        "command_exit": "the command that worked in the session",
    }.get(str(check.get("kind")), "what worked in the session")
    if not missing:
        return Score(1, 1.0, f"Correct. The reply names {what}.")
    got = 1.0 - len(missing) / max(1, len(mentions))
    names = ", ".join(f"`{m}`" for m in missing)
    return Score(0, got, f"Wrong. The reply does not name {what}: {names}.")


class MinedTask(SingleTurnTask):
    """Mined items, scored by their own checks; rubric items through one judge model."""

    def __init__(self, *, judge: str | None, **kwargs: Any) -> None:
        super().__init__(score=self._score_item, **kwargs)
        self.judge_spec = judge
        self._judges: dict[str, JudgeScorer] = {}
        self._factory: Any = None
        for item in self.items():
            check = item.target
            if check.get("kind") == "rubric":
                if not judge:
                    raise TaskOptionError("mined: rubric items need a judge model (option judge)")
                rubric = str(check.get("rubric", ""))
                self._judges.setdefault(
                    rubric,
                    JudgeScorer(model=judge, rubric=rubric, reference=False, extract="whole"),
                )

    def bind_models(self, factory: Any) -> None:
        for scorer in self._judges.values():
            scorer.bind_models(factory)

    def _score_item(self, item: Item, reply: str) -> tuple[str, Score]:
        check = item.target
        if check.get("kind") == "rubric":
            return self._judges[str(check.get("rubric", ""))](item, reply)
        return reply.strip(), rule_score(check, reply)


def read_items(path: Path) -> dict[SplitName, list[Item]]:
    """The items of a mined-items file by split; TaskDataError naming the line otherwise."""
    try:
        raw = read_regular_file(path, MAX_ITEMS_BYTES, "a mined-items file")
    except FileRefused as exc:
        raise TaskDataError(f"mined: {exc}") from None
    except OSError as exc:
        raise TaskDataError(f"mined: {path}: {exc.strerror or exc}") from None
    splits: dict[SplitName, list[Item]] = {s: [] for s in SPLIT_NAMES}
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise TaskDataError(f"{where}: not JSON ({exc})") from None
        check = rec.get("check") if isinstance(rec, dict) else None
        if not isinstance(check, dict) or check.get("kind") not in (*RULE_KINDS, "rubric"):
            raise TaskDataError(f"{where}: field 'check' must be a rule or a rubric")
        split = rec.get("split", "train")
        if split not in SPLIT_NAMES:
            raise TaskDataError(f"{where}: field 'split' must be train, val or test")
        if not isinstance(rec.get("id"), str) or not isinstance(rec.get("input"), str):
            raise TaskDataError(f"{where}: fields 'id' and 'input' must be text")
        meta = {"from": rec.get("from"), "request": rec.get("request")}
        splits[split].append(Item(rec["id"], rec["input"], check, meta))
    return splits


@register_task(
    "mined",
    description="Items mined from agent sessions by `skillfit sleep` (option path=items.jsonl)",
)
def make_mined_task(
    *,
    path: str | None = None,
    judge: str | None = None,
    label: str = "mined",
    initial_skill: str = "",
    instructions: str = INSTRUCTIONS,
    max_tokens: int = 512,
    temperature: float = 0.0,
    base_dir: str | None = None,
) -> MinedTask:
    """The mined items at `path` (see the module docstring)."""
    if not path:
        raise TaskOptionError("mined: option path (the mined items file) is required")
    items_path = resolve_path(path, base_dir)
    splits = read_items(items_path)
    if not splits["train"] or not splits["val"]:
        raise TaskDataError(f"{items_path}: needs train and val items (held out for the gate)")
    options = {"path": str(path), "judge": judge, "label": label, "base_dir": base_dir}
    return MinedTask(
        judge=judge,
        name=label,
        splits=splits,
        instructions=instructions,
        initial_skill=initial_skill,
        options=options,
        max_tokens=max_tokens,
        temperature=temperature,
    )
