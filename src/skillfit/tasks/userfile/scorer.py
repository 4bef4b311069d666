"""What every scorer of a file task is (`Scorer`), and how one names an item or its target.

The kinds themselves live in `scorers` (and the model-graded one in `judge`)."""

from __future__ import annotations

import json
from typing import Any

from skillfit.tasks.base import Item, Score
from skillfit.tasks.common import TaskOptionError
from skillfit.tasks.scoring import Extraction, extract_answer

EXTRACT_MODES = ("answer_line", "multiline", "whole")


class Scorer:
    """(item, reply) -> (the answer found, its Score). `instructions` is the fixed text the
    target gets after the skill; `needs_target` says whether items must carry a target."""

    kind = ""
    needs_target = True
    instructions = "End your reply with a final line of the form `Answer: <your answer>`."

    def __init__(self, extract: str = "answer_line") -> None:
        if extract not in EXTRACT_MODES:
            raise TaskOptionError(
                f"file: scorer option extract must be one of {', '.join(EXTRACT_MODES)}, "
                f"got {extract!r}"
            )
        self.extract = extract

    def extraction(self, reply: str) -> Extraction:
        if self.extract == "whole":
            text = reply.strip()
            return Extraction(text, "answer_line" if text else "empty")
        return extract_answer(reply, multiline=self.extract == "multiline")

    def __call__(self, item: Item, reply: str) -> tuple[str, Score]:
        raise NotImplementedError

    def target_problem(self, target: Any) -> str | None:
        """Why this scorer cannot use `target` (checked for every row before a run), or None."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}


def where(item: Item) -> str:
    """ "item <id> (line <n>)": how a refusal names an item of the user's file."""
    line = item.meta.get("line")
    return f"item {item.id}" + (f" (line {line})" if line is not None else "")


def _targets(target: Any) -> list[Any]:
    return list(target) if isinstance(target, list) else [target]


def _expected(target: Any) -> str:
    if isinstance(target, list):
        return " | ".join(str(t) for t in target)
    if isinstance(target, dict):
        return json.dumps(target, ensure_ascii=False)
    return str(target)
