"""LiveMathematicianBench as used in the SkillOpt paper: multiple-choice questions about theorems
from recent arXiv papers. Scored by matching the chosen letter.

The choices of every item are shuffled per seed, deterministically (the same seed and id always
give the same order), so a skill cannot learn "the answer is usually A".

Split directory items (the reference implementation's normalized form):
`{"id": "<month>:<no>", "question", "choices": [{"label", "text"}], "correct_choice": {"label",
"text"}, ...}`; optional `theorem`, `sketch`, `theorem_type`, `month`, `no`, `paper_link`.
Raw release: https://huggingface.co/datasets/LiveMathematicianBench/LiveMathematicianBench
(`data/<month>/qa_<month>_final.json`).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from pathlib import Path
from typing import Any

from skillfit.tasks.base import Item, Score, SplitName, TaskDataError
from skillfit.tasks.common import SingleTurnTask, check_seed
from skillfit.tasks.paper.common import (
    MaterializeResult,
    find_raw_files,
    load_manifest,
    load_split_dir,
    missing_items,
    missing_raw,
    paper_splits,
    read_json,
    register_materializer,
    require_raw_dir,
    require_split_dir,
    write_split_dir,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.scoring import answer_letter, binary_score, extract_answer

NAME = "livemathematicianbench"
MANIFEST = "livemathematicianbench_id_split"
PUBLISHED = (
    "https://huggingface.co/datasets/LiveMathematicianBench/LiveMathematicianBench "
    "(data/<month>/qa_<month>_final.json)"
)
LABELS = "ABCDEFGHIJ"

INSTRUCTIONS = (
    "Solve the multiple-choice mathematics question. Exactly one choice is correct. "
    "End your reply with a final line of the form `Answer: <letter>`."
)

INITIAL_SKILL = """# LiveMathematicianBench

## Approach
- Read every choice; the choices often differ in one condition or quantifier.
- Check each choice against the hypotheses of the theorem before picking one.

## Answer format
- Finish with the letter of the single correct choice.
"""


def _label(text: Any) -> str:
    return str(text).strip().upper().rstrip(".):").lstrip("(")


def shuffle_choices(
    choices: list[dict[str, str]], correct: str, item_id: str, seed: int
) -> tuple[list[dict[str, str]], str]:
    """Shuffle and relabel A, B, ...; returns (choices, new correct label). The order depends
    only on (seed, item id), as in the reference implementation."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()
    order = [dict(c) for c in choices]
    random.Random(int(digest[:16], 16)).shuffle(order)
    new_correct = ""
    relabelled = []
    for index, choice in enumerate(order):
        if _label(choice["label"]) == correct:
            new_correct = LABELS[index]
        relabelled.append({"label": LABELS[index], "text": choice["text"]})
    return relabelled, new_correct


def _check_choices(row: dict[str, Any], where: str) -> tuple[list[dict[str, str]], str]:
    choices = row["choices"]
    if not choices or len(choices) > len(LABELS):
        raise TaskDataError(f"{where}: 'choices' must hold 1 to {len(LABELS)} choices")
    for c in choices:
        if (
            not isinstance(c, dict)
            or not isinstance(c.get("label"), str)
            or not isinstance(c.get("text"), str)
        ):
            raise TaskDataError(
                f"{where}: each choice must be an object with string label and text"
            )
    labels = [_label(c["label"]) for c in choices]
    if len(set(labels)) != len(labels):
        raise TaskDataError(f"{where}: duplicate choice labels {labels}")
    correct = row["correct_choice"]
    label = _label(correct.get("label", "")) if isinstance(correct, dict) else _label(correct)
    if label not in labels:
        raise TaskDataError(f"{where}: correct label {label!r} is not one of the choices {labels}")
    return [{"label": _label(c["label"]), "text": c["text"]} for c in choices], label


def _to_item(row: dict[str, Any], where: str, seed: int, shuffle: bool) -> Item:
    choices, correct = _check_choices(row, where)
    if shuffle:
        choices, correct = shuffle_choices(choices, correct, row["id"], seed)
    text = {c["label"]: c["text"] for c in choices}
    listing = "\n".join(f"({c['label']}) {c['text']}" for c in choices)
    return Item(
        id=row["id"],
        input=f"{row['question'].strip()}\n\nChoices:\n{listing}",
        target={"label": correct, "text": text[correct]},
        meta={
            "choices": text,
            "theorem_type": row.get("theorem_type") or [],
            "paper_link": row.get("paper_link", ""),
        },
    )


def load_items(
    split_dir: str | os.PathLike[str], *, seed: int = 0, shuffle: bool = True
) -> dict[SplitName, list[Item]]:
    rows = load_split_dir(
        split_dir,
        task=NAME,
        required={"question": str, "choices": list, "correct_choice": (dict, str)},
        optional={"theorem_type": (list, str), "paper_link": str},
    )
    out: dict[SplitName, list[Item]] = {}
    for split, split_rows in rows.items():
        path = Path(split_dir) / split / "items.json"
        out[split] = [
            _to_item(row, f"{path} (id {row['id']!r})", seed, shuffle) for row in split_rows
        ]
    return out


def score_reply(item: Item, reply: str) -> tuple[str, Score]:
    extraction = extract_answer(reply)
    options: dict[str, str] = dict(item.meta["choices"])
    letter = answer_letter(extraction.answer, options)
    expected = f"({item.target['label']}) {item.target['text']}"
    if letter is None:
        note = f"No choice letter ({', '.join(options)}) could be read from the answer."
    elif letter != item.target["label"]:
        note = f"Chose ({letter}) {options[letter]}"
    else:
        note = ""
    score = binary_score(
        letter == item.target["label"],
        given=extraction.answer,
        expected=expected,
        extraction=extraction,
        note=note,
    )
    return letter or extraction.answer, score


def make_task(
    *,
    split_dir: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    shuffle_choices: bool = True,
    max_tokens: int = 1024,
) -> SingleTurnTask:
    """LiveMathematicianBench on the paper's splits, choices shuffled by `seed`."""
    root = require_split_dir(NAME, split_dir)
    seed = check_seed(NAME, seed)
    items = load_items(root, seed=seed, shuffle=shuffle_choices)
    splits, options = paper_splits(
        NAME, root, items, n_train, n_val, n_test, shuffle_choices=shuffle_choices
    )
    return SingleTurnTask(
        name=NAME,
        splits=splits,
        score=score_reply,
        instructions=INSTRUCTIONS,
        initial_skill=INITIAL_SKILL,
        options=options,
        seed=seed,
        max_tokens=max_tokens,
    )


# ----------------------------------------------------------------------------- materializer

_MONTH_FILE = re.compile(r"qa_(\d{6})_final\.json$")


def normalize_raw(item: dict[str, Any], index: int, path: Path) -> dict[str, Any] | None:
    """A raw monthly row in the reference's normalized form (None when it has no usable
    question, choices or correct label)."""
    mcq = item.get("mcq") if isinstance(item.get("mcq"), dict) else {}
    assert isinstance(mcq, dict)
    question = str(mcq.get("question") or item.get("question") or "").strip()
    raw_choices = mcq.get("choices") or item.get("choices") or []
    choices: list[dict[str, str]] = []
    if isinstance(raw_choices, dict):
        raw_choices = [{"label": k, "text": v} for k, v in sorted(raw_choices.items())]
    for i, c in enumerate(raw_choices if isinstance(raw_choices, list) else []):
        if i >= len(LABELS):
            break
        if isinstance(c, dict):
            label = _label(c.get("label") or LABELS[i])
            text = str(c.get("text") or c.get("content") or "").strip()
        else:
            label, text = LABELS[i], str(c).strip()
        if text:
            choices.append({"label": label, "text": text})
    correct = mcq.get("correct_choice") or item.get("correct_choice") or {}
    label = _label(correct.get("label", "")) if isinstance(correct, dict) else _label(correct)
    by_label = {c["label"]: c["text"] for c in choices}
    if not question or not choices or label not in by_label:
        return None
    match = _MONTH_FILE.search(path.name)
    month = str(item.get("month") or (match.group(1) if match else "")).strip()
    number = item.get("no", index + 1)
    return {
        "id": f"{month}:{number}" if month else str(number),
        "month": month,
        "no": number,
        "paper_link": str(item.get("paper_link") or "").strip(),
        "theorem": str(item.get("theorem") or "").strip(),
        "sketch": str(item.get("sketch") or "").strip(),
        "theorem_type": item.get("theorem_type") or [],
        "question": question,
        "choices": choices,
        "correct_choice": {"label": label, "text": by_label[label]},
    }


def materialize(
    raw_dir: Path, out_dir: Path, manifest_dir: str | os.PathLike[str] | None = None
) -> MaterializeResult:
    """Join the paper's ids (`<month>:<no>`) with the raw monthly qa_*_final.json files."""
    manifest = load_manifest(MANIFEST, manifest_dir)
    raw = require_raw_dir(raw_dir, NAME, "the monthly qa_<month>_final.json files", PUBLISHED)
    present = {p.name: p for p in find_raw_files(raw, ["qa_*_final.json"])}
    needed = sorted(
        {str(r.get("source_file", "")) for rows in manifest.splits.values() for r in rows}
    )
    missing_files = [f for f in needed if f and Path(f).name not in present]
    if missing_files or not present:
        raise missing_raw(
            NAME, raw, missing_files or ["data/<month>/qa_<month>_final.json"], PUBLISHED
        )
    found: dict[str, dict[str, Any]] = {}
    for path in present.values():
        data = read_json(path)
        if not isinstance(data, list):
            raise TaskDataError(f"{path}: expected a JSON array of questions")
        for index, raw_item in enumerate(data):
            if isinstance(raw_item, dict):
                row = normalize_raw(raw_item, index, path)
                if row is not None:
                    found.setdefault(row["id"], row)
    wanted = [row["id"] for rows in manifest.splits.values() for row in rows]
    missing = [i for i in wanted if i not in found]
    if missing:
        scanned = sorted(present.values())
        raise missing_items(
            NAME, raw, [f"question {i}" for i in missing], len(wanted), scanned, PUBLISHED
        )
    return write_split_dir(out_dir, manifest.select(found))


register_task(
    NAME,
    make_task,
    description="LiveMathematicianBench (SkillOpt paper splits): theorem MCQ, choices shuffled per seed",
)
register_materializer(NAME, materialize)
