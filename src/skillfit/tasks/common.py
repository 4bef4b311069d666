"""Pieces the bundled tasks share: option checks, seeded splits, package data, initial skills,
`FixedSplitsTask` (name, skill, splits, options, manifest) and `SingleTurnTask`
(that plus an environment per item and a scorer, so it runs under any harness)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, ClassVar

from skillfit.tasks.base import (
    SPLIT_NAMES,
    Environment,
    Item,
    ScoreFn,
    SplitName,
    TaskDataError,
)

DEFAULT_SIZES: tuple[int, int, int] = (40, 20, 60)  # train, val, test

# The fixed instruction every single-turn task adds after the skill: the one convention the
# scorers rely on. Everything else (how to reason, what an answer looks like) is the skill's job.
ANSWER_INSTRUCTION = "End your reply with a final line of the form `Answer: <your answer>`."


class TaskOptionError(TaskDataError):
    """An option given to a task that it does not know or cannot honour."""


# --- options ---------------------------------------------------------------------------------


def check_count(task: str, option: str, value: object) -> int | None:
    """A non-negative integer option (None means "use the default")."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TaskOptionError(
            f"{task}: option {option} must be a non-negative integer, got {value!r}"
        )
    return value


def check_seed(task: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TaskOptionError(f"{task}: option seed must be an integer, got {value!r}")
    return value


def check_positive(task: str, option: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TaskOptionError(f"{task}: option {option} must be a positive integer, got {value!r}")
    return value


def check_temperature(task: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise TaskOptionError(
            f"{task}: option temperature must be a number in [0, 2], got {value!r}"
        )
    return float(value)


def resolve_sizes(
    task: str,
    available: int,
    n_train: object = None,
    n_val: object = None,
    n_test: object = None,
) -> tuple[int, int, int]:
    """Split sizes: explicit values are kept; unset ones default to 40 / 20 / 60, scaled down
    proportionally when the data cannot hold the defaults. Asking for more items than the data
    holds is an error, never a silent shrink."""
    given = [
        check_count(task, "n_train", n_train),
        check_count(task, "n_val", n_val),
        check_count(task, "n_test", n_test),
    ]
    explicit = sum(v for v in given if v is not None)
    if explicit > available:
        asked = ", ".join(
            f"{name}={v}"
            for name, v in zip(("n_train", "n_val", "n_test"), given, strict=True)
            if v is not None
        )
        raise TaskOptionError(
            f"{task}: asked for {explicit} items ({asked}) but the data holds {available}"
        )
    defaults = [DEFAULT_SIZES[i] for i, v in enumerate(given) if v is None]
    room = available - explicit
    scale = min(1.0, room / sum(defaults)) if defaults else 1.0
    sizes = [v if v is not None else int(DEFAULT_SIZES[i] * scale) for i, v in enumerate(given)]
    return sizes[0], sizes[1], sizes[2]


# --- splits ----------------------------------------------------------------------------------


def split_items(
    items: Sequence[Item], sizes: tuple[int, int, int], seed: int, *, salt: str = ""
) -> dict[SplitName, list[Item]]:
    """Shuffle with `seed` (and `salt`, usually the task name, so that two tasks of the same size
    are not shuffled alike), interleave by answer when answers are few labels
    (`stratified_order`), and cut test first, then val, then train: the test set of a seed does
    not change when n_train or n_val change. `items` must already be free of duplicate inputs
    (see `dedupe_by_input`), so no input can straddle two splits."""
    n_train, n_val, n_test = sizes
    if n_train + n_val + n_test > len(items):
        raise TaskOptionError(
            f"asked for {n_train + n_val + n_test} items, only {len(items)} exist"
        )
    order = list(items)
    # A string seed is hashed with SHA-512 by `random`: stable across runs and platforms.
    rng = random.Random(f"{salt}:{seed}")
    rng.shuffle(order)
    order = stratified_order(order, rng)
    test = order[:n_test]
    val = order[n_test : n_test + n_val]
    train = order[n_test + n_val : n_test + n_val + n_train]
    return {"train": train, "val": val, "test": test}


def stratified_order(shuffled: Sequence[Item], rng: random.Random) -> list[Item]:
    """`shuffled` interleaved so that every prefix holds each answer about as often as the whole
    does, when the answers are few labels (yes/no, option letters): a validation split that
    happens to hold mostly "No" makes the gate adopt a skill that says "No". Answers with more
    distinct values than `len(items) // 10` (numbers, free text) keep the plain shuffle."""
    groups: dict[str, list[Item]] = {}
    for item in shuffled:
        groups.setdefault(json.dumps(item.target, sort_keys=True, default=str), []).append(item)
    if len(groups) < 2 or len(groups) > len(shuffled) // 10:
        return list(shuffled)
    keyed: list[tuple[float, float, Item]] = []
    for members in groups.values():
        # Systematic sampling within each label: member k sits at (k + u) / n on [0, 1).
        offset = rng.random()
        keyed += [((k + offset) / len(members), rng.random(), it) for k, it in enumerate(members)]
    keyed.sort(key=lambda entry: (entry[0], entry[1]))
    return [item for _, _, item in keyed]


def dedupe_by_input(items: Iterable[Item]) -> tuple[list[Item], list[str]]:
    """Keep the first item of each distinct input. An input that occurs with conflicting targets
    is dropped entirely (no answer to it can be scored right). Returns (kept, dropped ids)."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.input.strip(), []).append(item)
    kept: list[Item] = []
    dropped: list[str] = []
    for group in groups.values():
        if len({json.dumps(it.target, sort_keys=True, default=str) for it in group}) > 1:
            dropped.extend(it.id for it in group)
        else:
            kept.append(group[0])
            dropped.extend(it.id for it in group[1:])
    return kept, dropped


def check_unique_ids(items: Iterable[Item], source: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise TaskDataError(f"{source}: duplicate item id {item.id!r}")
        seen.add(item.id)


# --- package data ----------------------------------------------------------------------------


def data_file(*parts: str) -> Traversable:
    """A file under skillfit/tasks/data/ (works from a wheel as well as a source tree)."""
    node = resources.files("skillfit.tasks").joinpath("data")
    for part in parts:
        node = node.joinpath(part)
    return node


def initial_skill_text(family: str) -> str:
    """The human-written starting skill in skillfit/tasks/skills/<family>.md ("" if none)."""
    node = resources.files("skillfit.tasks").joinpath("skills", f"{family}.md")
    return node.read_text(encoding="utf-8") if node.is_file() else ""


# --- the task --------------------------------------------------------------------------------


class FixedSplitsTask:
    """What every bundled task holds: a name, a starting skill, fixed splits and the options
    that made them. Subclasses add `rollout`."""

    def __init__(
        self,
        *,
        name: str,
        splits: Mapping[SplitName, Sequence[Item]],
        initial_skill: str = "",
        options: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self._name = name
        self._splits: dict[SplitName, list[Item]] = {
            s: list(splits.get(s, ())) for s in SPLIT_NAMES
        }
        self._initial_skill = initial_skill
        self.options: dict[str, Any] = dict(options or {})
        self.seed = seed
        check_unique_ids(self.items(), name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def initial_skill(self) -> str:
        return self._initial_skill

    def splits(self) -> dict[SplitName, list[Item]]:
        return {s: list(items) for s, items in self._splits.items()}

    def items(self) -> Iterator[Item]:
        for split in SPLIT_NAMES:
            yield from self._splits[split]

    def split_manifest(self) -> dict[str, Any]:
        """What a run records to reproduce this task's data exactly: name, options, seed and
        the item ids of every split (in order)."""
        return {
            "task": self._name,
            "options": dict(self.options),
            "seed": self.seed,
            "sizes": {s: len(items) for s, items in self._splits.items()},
            "splits": {s: [it.id for it in items] for s, items in self._splits.items()},
        }


class SingleTurnTask(FixedSplitsTask):
    """A task whose target answers each item in one turn, scored by `score`: under the chat
    harness one reply ending in an `Answer:` line, under the agent harness (no tools) one
    answer action.

    `rollout` runs the harness a run chose when the task is bound to one
    (`skillfit.harness.bind_harness`), else `default_harness`. A subclass with its own loop
    overrides `rollout` and sets `uses_harness = False`."""

    default_harness: ClassVar[str] = "chat"
    uses_harness: ClassVar[bool] = True

    def __init__(
        self,
        *,
        name: str,
        splits: Mapping[SplitName, Sequence[Item]],
        score: ScoreFn,
        instructions: str = ANSWER_INSTRUCTION,
        initial_skill: str = "",
        options: Mapping[str, Any] | None = None,
        seed: int = 0,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> None:
        super().__init__(
            name=name, splits=splits, initial_skill=initial_skill, options=options, seed=seed
        )
        self._score = score
        self.instructions = instructions
        self.max_tokens = max_tokens
        self.temperature = temperature

    def score(self, item: Item, reply: str) -> tuple[str, Any]:
        """Score a raw reply to `item`: (extracted answer, Score)."""
        return self._score(item, reply)

    def environment(self, item: Item) -> Environment:
        """The item as the user's turn after the task's fixed instructions; no tools."""
        return Environment(
            item_id=item.id,
            prompt=item.input,
            instructions=self.instructions,
            task=self.name,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            answer_template="Answer: {answer}",
        )


def seeded_task(
    name: str,
    pools: Mapping[str, Sequence[Item]],
    *,
    score: ScoreFn,
    initial_skill: str,
    n_train: int | None,
    n_val: int | None,
    n_test: int | None,
    seed: int,
    max_tokens: int,
    temperature: float,
    options: Mapping[str, Any] | None = None,
) -> SingleTurnTask:
    """A single-turn task whose splits are drawn by `seed` from each pool: `pools` maps a pool's
    own task name ("gsm8k", "bbh/snarks") to its items; sizes apply per pool, and the shuffle is
    salted with the last part of the pool's name. Records `options` then the common ones."""
    recorded = {
        **(options or {}),
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "seed": seed,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    seed = check_seed(name, seed)
    max_tokens = check_positive(name, "max_tokens", max_tokens)
    temperature = check_temperature(name, temperature)
    splits: dict[SplitName, list[Item]] = {s: [] for s in SPLIT_NAMES}
    for pool_name, pool in pools.items():
        sizes = resolve_sizes(pool_name, len(pool), n_train, n_val, n_test)
        salt = pool_name.rpartition("/")[2]
        for split, items in split_items(pool, sizes, seed, salt=salt).items():
            splits[split].extend(items)
    return SingleTurnTask(
        name=name,
        splits=splits,
        score=score,
        initial_skill=initial_skill,
        options=recorded,
        seed=seed,
        max_tokens=max_tokens,
        temperature=temperature,
    )
