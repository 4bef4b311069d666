"""SearchQA (Dunn et al. 2017) as used in the SkillOpt paper: answer a Jeopardy! clue from the
search-engine snippets retrieved for it. Scored by SQuAD exact match (hard) and token F1 (soft).

Split directory items: `{"id", "question", "context", "answers": [str, ...]}`.
Raw release: https://huggingface.co/datasets/lucadiliello/searchqa (`data/*.parquet`; JSON or
JSONL exports of it work too); manifest ids equal its `key` field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from skillfit.tasks.base import Item, Score, SplitName, TaskDataError
from skillfit.tasks.common import ANSWER_INSTRUCTION, SingleTurnTask, check_count, check_seed
from skillfit.tasks.paper.common import (
    MaterializeResult,
    f1_feedback,
    find_raw_files,
    iter_rows,
    load_manifest,
    load_split_dir,
    missing_items,
    missing_raw,
    paper_splits,
    register_materializer,
    require_raw_dir,
    require_split_dir,
    squad_normalize,
    write_split_dir,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.scoring import extract_answer, f1_overlap, format_note

NAME = "searchqa"
MANIFEST = "searchqa_id_split"
PUBLISHED = "https://huggingface.co/datasets/lucadiliello/searchqa (data/*.parquet)"

INSTRUCTIONS = (
    "Answer the trivia clue using the search results. The answer is a short phrase "
    "(usually a few words). " + ANSWER_INSTRUCTION
)

INITIAL_SKILL = """# SearchQA

## Answer format
- The clue is a Jeopardy! clue; the answer is a short entity or phrase, not a sentence.
- Copy the answer's wording from the search results when they contain it.
"""


def score_answer(answer: str, golds: list[str]) -> tuple[int, float]:
    """(exact match, F1), each the best over the gold answers."""
    norm = squad_normalize(answer)
    em = int(any(norm == squad_normalize(g) for g in golds))
    f1 = max((f1_overlap(norm.split(), squad_normalize(g).split()) for g in golds), default=0.0)
    return em, f1


def score_reply(item: Item, reply: str) -> tuple[str, Score]:
    extraction = extract_answer(reply)
    golds: list[str] = list(item.target)
    em, f1 = score_answer(extraction.answer, golds)
    parts = f1_feedback(em, f1, f"Expected one of: {golds[:5]!r}.", extraction.answer)
    if not em and f1 > 0:
        parts.append(
            "The answer overlaps the expected one but is not exactly it (extra or missing words)."
        )
    note = format_note(extraction)
    if note:
        parts.append(note)
    return extraction.answer, Score(hard=em, soft=f1, feedback=" ".join(parts))


def _to_item(row: dict[str, Any], max_context_chars: int | None) -> Item:
    context = row["context"]
    if max_context_chars is not None and len(context) > max_context_chars:
        context = context[:max_context_chars] + " ..."
    return Item(
        id=row["id"],
        input=f"Clue: {row['question']}\n\nSearch results:\n{context}",
        target=[str(a) for a in row["answers"]],
        meta={"question": row["question"]},
    )


def load_items(
    split_dir: str | os.PathLike[str], max_context_chars: int | None = None
) -> dict[SplitName, list[Item]]:
    rows = load_split_dir(
        split_dir, task=NAME, required={"question": str, "context": str, "answers": list}
    )
    for split, split_rows in rows.items():
        for row in split_rows:
            answers = row["answers"]
            if not answers or not all(isinstance(a, str | int | float) for a in answers):
                raise TaskDataError(
                    f"{Path(split_dir) / split / 'items.json'} (id {row['id']!r}): "
                    "'answers' must be a non-empty list of strings"
                )
    return {s: [_to_item(r, max_context_chars) for r in rs] for s, rs in rows.items()}


def make_task(
    *,
    split_dir: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_tokens: int = 256,
    max_context_chars: int | None = None,
) -> SingleTurnTask:
    """SearchQA on the paper's splits; `n_*` keep the first n items of a split."""
    root = require_split_dir(NAME, split_dir)
    check_count(NAME, "max_context_chars", max_context_chars)
    items = load_items(root, max_context_chars)
    splits, options = paper_splits(NAME, root, items, n_train, n_val, n_test)
    return SingleTurnTask(
        name=NAME,
        splits=splits,
        score=score_reply,
        instructions=INSTRUCTIONS,
        initial_skill=INITIAL_SKILL,
        options=options,
        seed=check_seed(NAME, seed),
        max_tokens=max_tokens,
    )


def _answers(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(a) for a in value or []]


def materialize(
    raw_dir: Path, out_dir: Path, manifest_dir: str | os.PathLike[str] | None = None
) -> MaterializeResult:
    """Join the paper's SearchQA ids with the raw release (matched on its `key` field)."""
    manifest = load_manifest(MANIFEST, manifest_dir)
    raw = require_raw_dir(raw_dir, NAME, "the SearchQA data files", PUBLISHED)
    files = find_raw_files(raw, ["*.parquet", "*.jsonl", "*.jsonl.gz", "*.json"])
    if not files:
        raise missing_raw(
            NAME, raw, ["data/train-*.parquet", "data/validation-*.parquet"], PUBLISHED
        )
    wanted = {row["id"] for rows in manifest.splits.values() for row in rows}
    found: dict[str, dict[str, Any]] = {}
    for path in files:
        for row in iter_rows(path):
            key = str(row.get("key", "")) if isinstance(row, dict) else ""
            if key in wanted and key not in found:
                found[key] = {
                    "id": key,
                    "question": str(row.get("question", "")),
                    "context": str(row.get("context", "")),
                    "answers": _answers(row.get("answers")),
                }
    missing = sorted(wanted - set(found))
    if missing:
        raise missing_items(NAME, raw, [f"key {k}" for k in missing], len(wanted), files, PUBLISHED)
    return write_split_dir(out_dir, manifest.select(found))


register_task(
    NAME,
    make_task,
    description="SearchQA (SkillOpt paper splits): clue + search snippets -> short answer; EM / F1",
)
register_materializer(NAME, materialize)
