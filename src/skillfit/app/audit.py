"""Reading a finished run as a user would: does its trained skill or meta-skill carry item
text, scorer feedback, text foreign to the task, repeated lines or talk of grading the
answer? The guard refuses such edits one by one; this checks
the end product of a whole run, so a benchmark (bench/suite.py) and its tests can vouch for it.

A worked example of a training item (optimizer.examples: train) is item text on purpose: given
the training split, the audit names each marked example whose question is a training item's
input and whose answer is that item's gold answer as deliberate (`deliberate_examples`) and
reads the rest of the skill as usual; a marked example that is not one is named as a problem.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from skillfit.optim.grading import grading_talk
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
    quotes_foreign,
)
from skillfit.optim.marked import MAX_EXAMPLES, gold_answer, item_question, parse_examples
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


def deliberate_examples(text: str, train: Sequence[Item]) -> tuple[list[str], list[str]]:
    """The ids of `text`'s marked examples that are deliberate (a training item's input with
    its gold answer, at most MAX_EXAMPLES, each item once), and what is wrong with the others."""
    by_id = {item.id: item for item in train}
    ids: list[str] = []
    problems: list[str] = []
    for example in parse_examples(text):
        item = by_id.get(example.item_id)
        if item is None:
            problems.append(f"marked example {example.item_id!r} is not a training item")
        elif example.question != item_question(item.input):
            problems.append(f"marked example {example.item_id!r} is not its item's question")
        elif example.answer != gold_answer(item.target):
            problems.append(f"marked example {example.item_id!r} has a wrong answer")
        elif example.item_id in ids:
            problems.append(f"marked example {example.item_id!r} is there twice")
        else:
            ids.append(example.item_id)
    if len(ids) > MAX_EXAMPLES:
        problems.append(f"{len(ids)} examples, more than {MAX_EXAMPLES}")
    return ids, problems


def audit_text(
    text: str,
    *,
    items: Sequence[Item],
    feedback: Sequence[str] = (),
    what: str = "skill",
    common: str = "",
    train: Sequence[Item] | None = None,
    for_target: bool = True,
) -> list[str]:
    """What is wrong with `text` as a deployed skill (or meta-skill); empty when clean.
    `feedback` holds feedback texts the run's optimizer saw; the phrases every scorer and
    harness writes are always checked. `common` is text whose words any rule may use (the
    task's instructions and initial skill). Given the training split (`train`), deliberate
    worked examples (see `deliberate_examples`) are no leak; without it, they are item text.
    Talk of grading the answer is a problem only in text the target reads (`for_target`): the
    meta-skill is the optimizer's, and may speak of the answers it was graded against."""
    problems = []
    if train is not None and parse_examples(text):
        _, wrong = deliberate_examples(text, train)
        problems += [f"{what} holds a {w}" for w in wrong]
        text = _without_deliberate(text, train)
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
    foreign = quotes_foreign(text, words)
    if foreign:
        problems.append(f"{what} quotes text foreign to the task: {foreign[:80]!r}")
    graded = grading_talk(text, words.vocabulary) if for_target else None
    if graded:
        problems.append(f"{what} talks of grading the answer: {graded[:80]!r}")
    for line in repeated_lines(text):
        problems.append(f"{what} repeats a line: {line[:80]!r}")
    return problems


def _without_deliberate(text: str, train: Sequence[Item]) -> str:
    by_id = {item.id: item for item in train}
    for example in parse_examples(text):
        item = by_id.get(example.item_id)
        if (
            item is not None
            and example.question == item_question(item.input)
            and example.answer == gold_answer(item.target)
        ):
            text = text.replace(example.text, "")
    return text


def _run_feedback(run_dir: Path) -> list[str]:
    texts = []
    for path in sorted(run_dir.glob("*/**/rollouts.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            score = json.loads(line).get("score") or {}
            if score.get("feedback"):
                texts.append(str(score["feedback"]))
    return texts


def _run_items(run_dir: Path) -> tuple[list[Item], list[Item], str]:
    """Every item of the run's task, its training split, and its own text (rebuilt from the
    run's config)."""
    from skillfit.app.build import build_task
    from skillfit.train.config import validate_config

    data = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    task = build_task(validate_config(data))
    splits = task.splits()
    items = [*splits["train"], *splits["val"], *splits["test"]]
    return (
        items,
        list(splits["train"]),
        f"{task.initial_skill}\n{getattr(task, 'instructions', '')}",
    )


def run_examples(run_dir: str | Path, train: Sequence[Item] | None = None) -> list[str]:
    """The ids of the deliberate worked examples in a run's best skill (see
    `deliberate_examples`); `train` is rebuilt from the run's config when not given."""
    best = Path(run_dir) / "best_skill.md"
    if not best.is_file():
        return []
    text = best.read_text(encoding="utf-8")
    if not parse_examples(text):
        return []
    if train is None:
        train = _run_items(Path(run_dir))[1]
    return deliberate_examples(text, train)[0]


def audit_run(
    run_dir: str | Path, items: Sequence[Item] | None = None, train: Sequence[Item] | None = None
) -> list[str]:
    """Audit a run directory's best skill and latest meta-skill against the task's items and
    training split (rebuilt from the run's config when `items` is not given) and the feedback
    its rollouts received. Worked examples of training items are judged by `train`."""
    run_dir = Path(run_dir)
    common = ""
    if items is None:
        items, train, common = _run_items(run_dir)
    feedback = _run_feedback(run_dir)
    problems = []
    best = run_dir / "best_skill.md"
    if best.is_file():
        problems += audit_text(
            best.read_text(encoding="utf-8"),
            items=items,
            feedback=feedback,
            common=common,
            train=train,
        )
    metas = sorted(run_dir.glob("meta_skill/epoch_*/meta_skill.md"))
    if metas:
        problems += audit_text(
            metas[-1].read_text(encoding="utf-8"),
            items=items,
            feedback=feedback,
            what="meta-skill",
            common=common,
            for_target=False,
        )
    return problems
