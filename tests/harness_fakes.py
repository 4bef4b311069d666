"""Fakes for the harness and transfer tests: scripted targets over a bundled BBH task whose
answers depend on the skill, in chat and agent form."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from train_fakes import MAGIC

from skillfit.models.scripted import Request, ScriptedModel

TASK = "bbh/boolean_expressions"
OPTIONS = {"n_train": 3, "n_val": 4, "n_test": 4}


def answer_action(answer: str) -> dict[str, Any]:
    return {"action": {"tool": "answer", "args": {"answer": answer}}}


def _answers(task: Any) -> dict[str, str]:
    return {it.input: str(it.target) for split in task.splits().values() for it in split}


def bbh_target(task: Any) -> ScriptedModel:
    """Right only when the skill holds MAGIC; answers in the form the harness asks for."""
    answers = _answers(task)

    def fn(request: Request) -> Any:
        item = next((i for i in answers if request.last_user.startswith(i)), "")
        answer = answers.get(item, "?") if MAGIC in request.system else "maybe"
        if request.response_format is not None:
            return answer_action(answer)
        return f"Thinking.\nAnswer: {answer}"

    return ScriptedModel(fn, name="scripted:bbh-target")


def rules_file(path: Path, task: Any, *, learns: bool) -> Path:
    """A `scripted:<path>` rules file: with `learns`, right on every item when the skill holds
    MAGIC (chat and agent form), else always wrong."""
    rules: list[dict[str, Any]] = []
    if learns:
        for question, answer in _answers(task).items():
            match = "^" + re.escape(question)
            rules.append(
                {
                    "match": match,
                    "system": re.escape(MAGIC),
                    "format": "text",
                    "reply": f"Answer: {answer}",
                }
            )
            rules.append(
                {
                    "match": match,
                    "system": re.escape(MAGIC),
                    "format": "json",
                    "reply": answer_action(answer),
                }
            )
    rules.append({"match": "", "format": "text", "reply": "Answer: maybe"})
    rules.append({"match": "", "format": "json", "reply": answer_action("maybe")})
    path.write_text(json.dumps(rules), encoding="utf-8")
    return path
