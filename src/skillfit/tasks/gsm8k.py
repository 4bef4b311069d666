"""GSM8K: grade-school maths word problems (openai/grade-school-math, MIT), numeric answer match.

The target is the number after "#### " in the reference solution; a reply is right when the
number in its final answer equals it (thousands separators, currency signs and units ignored).
"""

from __future__ import annotations

import json
from functools import lru_cache

from skillfit.tasks.base import Item, Score, TaskDataError
from skillfit.tasks.common import (
    SingleTurnTask,
    data_file,
    dedupe_by_input,
    initial_skill_text,
    seeded_task,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.scoring import binary_score, extract_answer, numeric_match, parse_number

_SOURCE = "gsm8k/train.jsonl"


def parse_lines(lines: list[str], source: str = _SOURCE) -> tuple[Item, ...]:
    """Validate and convert JSONL lines (TaskDataError names file and line)."""
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}: line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskDataError(f"{where}: not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise TaskDataError(f"{where}: expected an object")
        for key in ("question", "answer"):
            if key not in row:
                raise TaskDataError(f"{where}: missing field {key!r}")
            if not isinstance(row[key], str):
                raise TaskDataError(f"{where}: field {key!r} must be a string")
        solution, sep, final = row["answer"].rpartition("#### ")
        target = final.strip().replace(",", "")
        if not sep or parse_number(target) is None:
            raise TaskDataError(f"{where}: answer has no numeric '#### <number>' final line")
        items.append(
            Item(
                id=f"gsm8k-{n - 1:04d}",
                input=row["question"],
                target=target,
                meta={"solution": solution.strip(), "source_index": n - 1},
            )
        )
    return tuple(items)


@lru_cache(maxsize=1)
def load_items() -> tuple[Item, ...]:
    text = data_file("gsm8k", "train.jsonl").read_text(encoding="utf-8")
    kept, _ = dedupe_by_input(parse_lines(text.splitlines()))
    return tuple(kept)


def score_reply(item: Item, reply: str) -> tuple[str, Score]:
    extraction = extract_answer(reply)
    correct = numeric_match(extraction.answer, str(item.target))
    note = ""
    well_formed = parse_number(extraction.answer) is not None
    if not correct and not well_formed:
        note = "The final answer should be a single number."
    score = binary_score(
        correct,
        given=extraction.answer,
        expected=str(item.target),
        extraction=extraction,
        note=note,
        well_formed=well_formed,
    )
    return extraction.answer, score


@register_task(
    "gsm8k",
    description="GSM8K grade-school maths word problems (numeric answer match)",
    n_items=lambda: len(load_items()),
)
def make_gsm8k(
    *,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_tokens: int = 512,
    temperature: float = 0.0,
) -> SingleTurnTask:
    """GSM8K from the release's train file. Sizes default to 40 / 20 / 60."""
    return seeded_task(
        "gsm8k",
        {"gsm8k": load_items()},
        score=score_reply,
        initial_skill=initial_skill_text("gsm8k"),
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        seed=seed,
        max_tokens=max_tokens,
        temperature=temperature,
    )
