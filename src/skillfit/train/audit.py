"""Reading a finished run as a user would: does its trained skill or meta-skill carry item
text, scorer feedback or repeated lines? The guard refuses such edits one by one; this checks
the end product of a whole run, so a benchmark (bench/suite.py) and its tests can vouch for it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from skillfit.skill import mentions_any
from skillfit.tasks.base import Item
from skillfit.train.guard import MIN_QUOTE, leak_needles

# Sentences every scorer or harness writes; seen in a skill, they were copied from feedback.
FEEDBACK_MARKS = re.compile(
    r"token limit and was cut off|no 'answer:' line found|^\W*(?:expected|given): '"
    r"|\b(?:wrong|correct)\. expected:",
    re.IGNORECASE | re.MULTILINE,
)


def _line_key(line: str) -> str:
    text = re.sub(r"^[\s>*#\-\d.)]+", "", line).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def repeated_lines(text: str) -> list[str]:
    """Lines of three or more words that occur twice or more (list marks, case and
    punctuation ignored)."""
    keys = [(_line_key(line), line.strip()) for line in text.splitlines()]
    counts = Counter(k for k, _ in keys if len(k.split()) >= 3)
    seen: set[str] = set()
    out = []
    for key, line in keys:
        if counts.get(key, 0) > 1 and key not in seen:
            seen.add(key)
            out.append(line)
    return out


def feedback_sentences(feedbacks: Iterable[str]) -> list[str]:
    """The sentences of scorer feedback that are long enough to count as copied."""
    out: set[str] = set()
    for text in feedbacks:
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            if len(" ".join(sentence.split())) >= MIN_QUOTE:
                out.add(sentence)
    return sorted(out)


def audit_text(
    text: str, *, items: Sequence[Item], feedback: Sequence[str] = (), what: str = "skill"
) -> list[str]:
    """What is wrong with `text` as a deployed skill (or meta-skill); empty when clean."""
    problems = []
    quoted = mentions_any(text, leak_needles(items), min_len=MIN_QUOTE)
    if quoted:
        problems.append(f"{what} quotes a task item: {quoted[:80]!r}")
    copied = mentions_any(text, feedback, min_len=MIN_QUOTE) if feedback else None
    mark = FEEDBACK_MARKS.search(text)
    if copied or mark:
        problems.append(f"{what} copies scorer feedback: {(copied or mark.group(0))[:80]!r}")  # type: ignore[union-attr]
    for line in repeated_lines(text):
        problems.append(f"{what} repeats a line: {line[:80]!r}")
    return problems


def _run_feedback(run_dir: Path) -> list[str]:
    texts = []
    for path in sorted(run_dir.glob("*/**/rollouts.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            score = row.get("score") or {}
            if score.get("feedback"):
                texts.append(str(score["feedback"]))
    return feedback_sentences(texts)


def audit_run(run_dir: str | Path, items: Sequence[Item] | None = None) -> list[str]:
    """Audit a run directory's best skill and latest meta-skill against the task's items
    (rebuilt from the run's config when not given) and the feedback its rollouts received."""
    run_dir = Path(run_dir)
    if items is None:
        from skillfit.api import build_task  # the composition root, only for this lookup
        from skillfit.train.config import validate_config

        data = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        splits = build_task(validate_config(data)).splits()
        items = [*splits["train"], *splits["val"], *splits["test"]]
    feedback = _run_feedback(run_dir)
    problems = []
    best = run_dir / "best_skill.md"
    if best.is_file():
        problems += audit_text(best.read_text(encoding="utf-8"), items=items, feedback=feedback)
    metas = sorted(run_dir.glob("meta_skill/epoch_*/meta_skill.md"))
    if metas:
        problems += audit_text(
            metas[-1].read_text(encoding="utf-8"),
            items=items,
            feedback=feedback,
            what="meta-skill",
        )
    return problems
