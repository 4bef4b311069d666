"""BIG-Bench Hard: 20 tasks with exact-match targets (suzgunmirac/BIG-Bench-Hard, MIT).

`bbh/<task>` is one task; `bbh` with `tasks=[...]` mixes several (sizes apply per subtask, item
ids carry the subtask name). Scoring is exact match after answer extraction, with the
equivalences a fair grader allows: "(A)", "A", "A)", "(A) text" and the option's own text name
the same option; True/False, Yes/No and valid/invalid ignore case and a trailing full stop;
numeric targets compare as numbers; bracket sequences ignore spaces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from skillfit.tasks.base import Item, Score, TaskDataError
from skillfit.tasks.common import (
    SingleTurnTask,
    TaskOptionError,
    data_file,
    dedupe_by_input,
    initial_skill_text,
    seeded_task,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.scoring import (
    Extraction,
    answer_letter,
    binary_score,
    choice_letter,
    extract_answer,
    normalize,
    numeric_match,
    parse_number,
    parse_options,
)

BBH_TASKS: tuple[str, ...] = (
    "boolean_expressions",
    "causal_judgement",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
)

_BINARY_LABELS = ({"true", "false"}, {"yes", "no"}, {"valid", "invalid"})


@cache
def load_items(task: str) -> tuple[Item, ...]:
    """Every example of `task` in file order, validated (TaskDataError names file and item)."""
    if task not in BBH_TASKS:
        raise TaskDataError(f"unknown BBH task {task!r}")
    node = data_file("bbh", f"{task}.json")
    source = f"bbh/{task}.json"
    try:
        data = json.loads(node.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TaskDataError(f"{source}: cannot read: {exc}") from exc
    return parse_examples(data, task, source)


def parse_examples(data: Any, task: str, source: str) -> tuple[Item, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise TaskDataError(f"{source}: expected an object with an 'examples' list")
    items = []
    for i, example in enumerate(data["examples"]):
        where = f"{source}: example {i}"
        if not isinstance(example, dict):
            raise TaskDataError(f"{where}: expected an object, got {type(example).__name__}")
        for key in ("input", "target"):
            if key not in example:
                raise TaskDataError(f"{where}: missing field {key!r}")
            if not isinstance(example[key], str):
                raise TaskDataError(
                    f"{where}: field {key!r} must be a string, got {type(example[key]).__name__}"
                )
        if not example["input"].strip():
            raise TaskDataError(f"{where}: empty input")
        items.append(
            Item(
                id=f"{task}-{i:03d}",
                input=example["input"],
                target=example["target"],
                meta={"subtask": task, "source_index": i},
            )
        )
    return tuple(items)


@cache
def usable_items(task: str) -> tuple[Item, ...]:
    """The items splits are drawn from: duplicate inputs kept once, conflicting ones dropped."""
    kept, _ = dedupe_by_input(load_items(task))
    return tuple(kept)


# --- scoring ---------------------------------------------------------------------------------


def _first_word(text: str) -> str:
    words = normalize(text).split()
    return words[0].strip(".,;:!\"'()") if words else ""


def judge(item: Item, answer: str) -> tuple[bool, str]:
    """Is `answer` right for `item`? Returns (correct, a hint for the feedback when useful)."""
    target = str(item.target)
    letter = choice_letter(target)
    if letter is not None:
        options = parse_options(item.input)
        given = answer_letter(answer, options)
        if given is None:
            return False, "The answer should name one option, e.g. '(A)'."
        return given == letter, ""
    label = normalize(target)
    for labels in _BINARY_LABELS:
        if label in labels:
            ok = normalize(answer) == label or _first_word(answer) == label
            words = " or ".join(sorted(labels, reverse=True))
            hint = "" if _first_word(answer) in labels else f"The answer should be {words}."
            return ok, hint
    if parse_number(target) is not None and re.fullmatch(r"-?\d+(\.\d+)?", target.strip()):
        if parse_number(answer) is None:
            return False, "The answer should be a number."
        return numeric_match(answer, target), ""
    if not re.search(r"\w", target):  # bracket sequences (dyck_languages): spacing is free
        return re.sub(r"\s+", "", answer) == re.sub(r"\s+", "", target), ""
    return normalize(answer) == label, ""


def score_reply(item: Item, reply: str) -> tuple[str, Score]:
    extraction: Extraction = extract_answer(reply)
    correct, hint = judge(item, extraction.answer)
    score = binary_score(
        correct,
        given=extraction.answer,
        expected=str(item.target),
        extraction=extraction,
        note="" if correct else hint,
        well_formed=not hint,  # a hint names an answer of the wrong kind
    )
    return extraction.answer, score


# --- factories -------------------------------------------------------------------------------


def make_bbh_task(
    task: str,
    *,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_tokens: int = 512,
    temperature: float = 0.0,
) -> SingleTurnTask:
    """One BBH task. Sizes default to 40 / 20 / 60 (scaled down for a small task)."""
    name = f"bbh/{task}"
    return seeded_task(
        name,
        {name: usable_items(task)},
        score=score_reply,
        initial_skill=initial_skill_text("bbh"),
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        seed=seed,
        max_tokens=max_tokens,
        temperature=temperature,
    )


def make_bbh_mix(
    *,
    tasks: Sequence[str] | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_tokens: int = 512,
    temperature: float = 0.0,
) -> SingleTurnTask:
    """Several BBH tasks as one (all 20 when `tasks` is None); sizes are per subtask."""
    if tasks is None:
        chosen = list(BBH_TASKS)
    elif isinstance(tasks, str):  # "web_of_lies,snarks" from a command line
        chosen = list(dict.fromkeys(t.strip() for t in tasks.split(",") if t.strip()))
    elif not isinstance(tasks, list | tuple) or not all(isinstance(t, str) for t in tasks):
        raise TaskOptionError(f"bbh: option tasks must be a list of task names, got {tasks!r}")
    else:
        chosen = list(dict.fromkeys(tasks))
    unknown = [t for t in chosen if t not in BBH_TASKS]
    if unknown or not chosen:
        raise TaskOptionError(
            f"bbh: unknown subtask(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from: {', '.join(BBH_TASKS)}"
        )
    return seeded_task(
        "bbh",
        {f"bbh/{t}": usable_items(t) for t in chosen},
        score=score_reply,
        initial_skill=initial_skill_text("bbh"),
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        seed=seed,
        max_tokens=max_tokens,
        temperature=temperature,
        options={"tasks": chosen},
    )


register_task(
    "bbh/",
    make_bbh_task,
    description="BIG-Bench Hard {member} (exact match)",
    members=lambda: list(BBH_TASKS),
    n_items=lambda member: len(usable_items(member)),
)
register_task(
    "bbh",
    make_bbh_mix,
    description="Several BIG-Bench Hard tasks at once (option tasks=[...]; all 20 by default)",
    n_items=lambda: sum(len(usable_items(t)) for t in BBH_TASKS),
)
