"""reasoning_gym/<name>: procedurally generated problems with built-in checkers, from the
installed `reasoning-gym` package (no download: generators run locally).

Items come from `reasoning_gym.create_dataset(name, size=..., seed=seed, **config)` and are
scored by that dataset's own `score_answer` (soft = its score, hard = a full score; the few
checkers that would `eval` the model's answer only read literals here). Questions
that repeat are kept once, so splits are disjoint by question text; the test split is cut first
so it does not change when n_train or n_val change.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from skillfit.tasks.base import Item, Score, TaskDataError
from skillfit.tasks.common import (
    SingleTurnTask,
    TaskOptionError,
    check_count,
    check_positive,
    check_seed,
    check_temperature,
    initial_skill_text,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.scoring import extract_answer, feedback

_DEFAULTS = {"n_train": 40, "n_val": 20, "n_test": 60}

# Checkers in reasoning-gym 0.1.x that pass the model's answer to the builtin `eval`: model
# text must never run as code, so in these modules `eval` only reads Python literals.
_EVAL_ON_ANSWER = (
    "reasoning_gym.algorithmic.binary_matrix",
    "reasoning_gym.algorithmic.spiral_matrix",
    "reasoning_gym.algorithmic.string_insertion",
    "reasoning_gym.games.n_queens",
)


def _literal_eval(source: Any, *_: Any) -> Any:
    return ast.literal_eval(source)


@lru_cache(maxsize=1)
def _harden_checkers() -> None:
    for name in _EVAL_ON_ANSWER:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a later reasoning-gym may move or drop it
            continue
        module.eval = _literal_eval  # type: ignore[attr-defined]


_MAX_ATTEMPTS = 4  # each doubles the number of generated problems


@lru_cache(maxsize=1)
def dataset_names() -> list[str]:
    """Every generator the installed reasoning-gym offers."""
    from reasoning_gym.factory import DATASETS  # imported lazily: it loads many modules

    return sorted(DATASETS)


def _generate(
    name: str, count: int, seed: int, config: Mapping[str, Any]
) -> tuple[Any, list[Item]]:
    """`count` distinct problems (by question text), in generator order. The generator's own
    entry of an item (which its checker needs) is `dataset[item.meta["source_index"]]`."""
    import reasoning_gym

    _harden_checkers()
    size = count + count // 5 + 10
    items: list[Item] = []
    for _ in range(_MAX_ATTEMPTS):
        try:
            dataset = reasoning_gym.create_dataset(name, size=size, seed=seed, **config)
        except (TypeError, ValueError, AssertionError) as exc:
            raise TaskOptionError(
                f"reasoning_gym/{name}: bad config {dict(config)!r}: {exc}"
            ) from exc
        seen: set[str] = set()
        items = []
        for index in range(size):
            entry = dataset[index]
            question = entry.get("question")
            if not isinstance(question, str) or "answer" not in entry:
                raise TaskDataError(
                    f"reasoning_gym/{name}: item {index} lacks a question or an answer"
                )
            if question.strip() in seen:
                continue
            seen.add(question.strip())
            items.append(
                Item(
                    id=f"{name}-{seed}-{index:05d}",
                    input=question,
                    target=entry["answer"],
                    meta={"source_dataset": name, "source_index": index},
                )
            )
            if len(items) == count:
                return dataset, items
        size *= 2
    raise TaskOptionError(
        f"reasoning_gym/{name}: the generator gave only {len(items)} distinct problems "
        f"for seed {seed}; ask for fewer than {count} items"
    )


def make_reasoning_gym_task(
    name: str,
    *,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    config: Mapping[str, Any] | None = None,
    max_tokens: int = 512,
    temperature: float = 0.0,
) -> SingleTurnTask:
    """A reasoning-gym generator as a task; `config` goes to the generator (e.g. difficulty)."""
    task = f"reasoning_gym/{name}"
    if name not in dataset_names():
        raise TaskOptionError(f"{task}: reasoning-gym has no dataset {name!r}")
    if config is not None and not isinstance(config, Mapping):
        raise TaskOptionError(f"{task}: option config must be a mapping, got {config!r}")
    sizes = {
        key: check_count(task, key, value)
        for key, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test))
    }
    n = {key: _DEFAULTS[key] if value is None else value for key, value in sizes.items()}
    seed = check_seed(task, seed)
    dataset, items = _generate(name, sum(n.values()), seed, dict(config or {}))
    test = items[: n["n_test"]]
    val = items[n["n_test"] : n["n_test"] + n["n_val"]]
    train = items[n["n_test"] + n["n_val"] :]

    def score(item: Item, reply: str) -> tuple[str, Score]:
        # Grid and move-list answers span lines: take the whole block after "Answer:".
        extraction = extract_answer(reply, multiline="\n" in str(item.target or ""))
        try:
            entry = dataset[item.meta["source_index"]]
            value = float(dataset.score_answer(extraction.answer, entry))
        except Exception:  # a checker crashing on odd model output is a wrong answer
            value = 0.0
        value = min(1.0, max(0.0, value))
        correct = value >= 1.0
        text = feedback(
            correct=correct,
            given=extraction.answer,
            expected=(
                str(item.target)
                if item.target is not None
                else "(no single answer: the generator's checker verifies it)"
            ),
            extraction=extraction,
            note="" if correct or value == 0 else f"Partial credit {value:.2f}.",
        )
        return extraction.answer, Score(hard=int(correct), soft=value, feedback=text)

    return SingleTurnTask(
        name=task,
        splits={"train": train, "val": val, "test": test},
        score=score,
        initial_skill=initial_skill_text("reasoning_gym"),
        options={
            **{k: sizes[k] for k in sizes},
            "seed": seed,
            "config": dict(config or {}),
            "max_tokens": max_tokens,
            "temperature": temperature,
        },
        seed=seed,
        max_tokens=check_positive(task, "max_tokens", max_tokens),
        temperature=check_temperature(task, temperature),
    )


register_task(
    "reasoning_gym/",
    make_reasoning_gym_task,
    description="reasoning-gym generator {member} (generated on demand, built-in checker)",
    members=dataset_names,
    list_members=False,
)
