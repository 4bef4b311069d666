"""Reading a finished run as a user would: does its trained skill or meta-skill carry item
text, scorer feedback or repeated lines? The guard refuses such edits one by one; this checks
the end product of a whole run, so a benchmark (bench/suite.py) and its tests can vouch for it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from skillfit.optim.guard import (
    FEEDBACK_LABELS,
    MIN_QUOTE,
    borrows_example_topic,
    feedback_sentences,
    item_words,
    leak_needles,
    line_keys,
    names_an_item,
    overlapping,
)
from skillfit.optim.prompting import boilerplate_needles, optimizer_prompts
from skillfit.skill import mentions_any
from skillfit.tasks.base import Item


def repeated_lines(text: str) -> list[str]:
    """Lines that repeat an earlier one: the same words (list marks, case and end punctuation
    ignored), a near paraphrase, or a shared run of eight words (guard.overlapping). Headings
    and lines under three words do not count. Each repeat is named once, as written."""
    seen: list[str] = []
    out: list[str] = []
    for line in text.splitlines():
        keys = line_keys(line)
        if not keys:
            continue
        repeat = any(keys[0] == k or overlapping(keys[0], k) for k in seen)
        if repeat and line.strip() not in out:
            out.append(line.strip())
        seen.append(keys[0])
    return out


def audit_text(
    text: str,
    *,
    items: Sequence[Item],
    feedback: Sequence[str] = (),
    what: str = "skill",
    common: str = "",
) -> list[str]:
    """What is wrong with `text` as a deployed skill (or meta-skill); empty when clean.
    `feedback` holds feedback texts the run's optimizer saw; the phrases every scorer and
    harness writes are always checked. `common` is text whose words any rule may use (the
    task's instructions and initial skill)."""
    problems = []
    quoted = mentions_any(text, leak_needles(items), min_len=MIN_QUOTE)
    if quoted:
        problems.append(f"{what} quotes a task item: {quoted[:80]!r}")
    words = item_words(items, common=f"{common}\n{optimizer_prompts()}", task_text=common)
    named = names_an_item(text, words)
    if named:
        problems.append(f"{what} names an item's particulars: {named!r}")
    borrowed = borrows_example_topic(text, words)
    if borrowed:
        problems.append(f"{what} writes about the optimizer prompts' example topic: {borrowed!r}")
    label = FEEDBACK_LABELS.search(text)
    copied = label.group(0) if label else mentions_any(text, feedback_sentences(feedback))
    if copied:
        problems.append(f"{what} copies scorer feedback: {copied[:80]!r}")
    echoed = mentions_any(text, boilerplate_needles(), min_len=MIN_QUOTE)
    if echoed:
        problems.append(f"{what} copies the optimizer's prompt: {echoed[:80]!r}")
    for line in repeated_lines(text):
        problems.append(f"{what} repeats a line: {line[:80]!r}")
    return problems


def _run_feedback(run_dir: Path) -> list[str]:
    texts = []
    for path in sorted(run_dir.glob("*/**/rollouts.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            score = json.loads(line).get("score") or {}
            if score.get("feedback"):
                texts.append(str(score["feedback"]))
    return texts


def audit_run(run_dir: str | Path, items: Sequence[Item] | None = None) -> list[str]:
    """Audit a run directory's best skill and latest meta-skill against the task's items
    (rebuilt from the run's config when not given) and the feedback its rollouts received."""
    run_dir = Path(run_dir)
    common = ""
    if items is None:
        from skillfit.app.build import build_task
        from skillfit.train.config import validate_config

        data = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        task = build_task(validate_config(data))
        splits = task.splits()
        items = [*splits["train"], *splits["val"], *splits["test"]]
        common = f"{task.initial_skill}\n{getattr(task, 'instructions', '')}"
    feedback = _run_feedback(run_dir)
    problems = []
    best = run_dir / "best_skill.md"
    if best.is_file():
        problems += audit_text(
            best.read_text(encoding="utf-8"), items=items, feedback=feedback, common=common
        )
    metas = sorted(run_dir.glob("meta_skill/epoch_*/meta_skill.md"))
    if metas:
        problems += audit_text(
            metas[-1].read_text(encoding="utf-8"),
            items=items,
            feedback=feedback,
            what="meta-skill",
            common=common,
        )
    return problems
