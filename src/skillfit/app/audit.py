"""Reading a finished run as a user would: does its trained skill or meta-skill carry item
text, scorer feedback, text foreign to the task, repeated lines or talk of grading the
answer? The guard refuses such edits one by one; this checks
the end product of a whole run: `skillfit train` writes what it finds to the run's audit.json
(`write_audit`), `skillfit audit RUN_DIR` reads any run, and a benchmark (bench/suite.py) and
its tests vouch for their skills with it.

A worked example of a training item (optimizer.examples: train) is item text on purpose: given
the training split, the audit names each marked example whose question is a training item's
input and whose answer is that item's gold answer as deliberate (`deliberate_examples`) and
reads the rest of the skill as usual; a marked example that is not one is named as a problem.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from skillfit.core.errors import TrainError
from skillfit.core.io import write_json_atomic
from skillfit.optim.grading import grading_talk
from skillfit.optim.marked import MAX_EXAMPLES, gold_answer, item_question, parse_examples
from skillfit.optim.needles import FEEDBACK_LABELS, MIN_QUOTE, feedback_sentences, leak_needles
from skillfit.optim.prompting import boilerplate_needles, optimizer_prompts
from skillfit.optim.repetition import line_keys, overlapping
from skillfit.optim.vocabulary import (
    borrows_example_topic,
    item_words,
    names_an_item,
    quotes_foreign,
)
from skillfit.record.models import AUDIT_FILE, RunAudit
from skillfit.skill import mentions_any
from skillfit.tasks.base import Item

BEST_SKILL = "best_skill.md"
ARCHIVED_META = "meta_skill.md"  # an archived run (bench/suite/) keeps its meta-skill here

# What `audit_text` looks for, as audit.json and `skillfit audit` say it.
CHECKS = (
    "item text of any split (train, validation, test)",
    "an item's particulars (its names, numbers)",
    "the optimizer prompts' words and example topic",
    "scorer feedback",
    "quoted text foreign to the task",
    "talk of grading the answer (in the skill the target reads)",
    "repeated lines",
    "marked worked examples: a training item's question with its gold answer",
)


def repeated_lines(text: str) -> list[str]:
    """Lines that repeat an earlier one: the same words (list marks, case and end punctuation
    ignored), a near paraphrase, or a shared run of eight words (repetition.overlapping). Headings
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


def task_text(task: object) -> str:
    """The task's own text (its initial skill and instructions): words any rule may use."""
    return f"{getattr(task, 'initial_skill', '')}\n{getattr(task, 'instructions', '')}"


def _run_items(run_dir: Path) -> tuple[list[Item], list[Item], str]:
    """Every item of the run's task, its training split, and its own text (rebuilt from the
    run's config)."""
    from skillfit.app.build import build_task
    from skillfit.train.config import validate_config

    data = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    task = build_task(validate_config(data))
    splits = task.splits()
    items = [*splits["train"], *splits["val"], *splits.get("test", [])]
    return items, list(splits["train"]), task_text(task)


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
    return audit_run_dir(run_dir, items=items, train=train, names=False).problems


def _meta_skill(run_dir: Path) -> Path | None:
    metas = sorted(run_dir.glob("meta_skill/epoch_*/meta_skill.md"))
    if metas:
        return metas[-1]
    archived = run_dir / ARCHIVED_META
    return archived if archived.is_file() else None


def _initial_skill(run_dir: Path) -> str:
    first = run_dir / "skills" / "skill_v0001.md"
    return first.read_text(encoding="utf-8") if first.is_file() else ""


def audit_run_dir(
    run_dir: str | Path,
    *,
    items: Sequence[Item] | None = None,
    train: Sequence[Item] | None = None,
    common: str | None = None,
    names: bool = True,
) -> RunAudit:
    """The audit of a run directory (what audit.json holds): its best skill and latest
    meta-skill read against every item of the task, its training split and the feedback its
    rollouts received. Without `items`, the task is rebuilt from the run's config.json (a
    TrainError when there is none); `common` is the task's own text (`task_text`), whose words
    any rule may use, as are the run's initial skill's. `names`: problems begin with the file
    they are in (`best_skill.md quotes ...`) rather than `skill` / `meta-skill`."""
    run_dir = Path(run_dir)
    if items is None:
        if not (run_dir / "config.json").is_file():
            raise TrainError(f"{run_dir} has no config.json: cannot rebuild the run's task")
        items, train, rebuilt = _run_items(run_dir)
        common = rebuilt if common is None else common
    common = f"{common or ''}\n{_initial_skill(run_dir)}"
    feedback = _run_feedback(run_dir)
    out = RunAudit(skillfit_version=_version(), checked=list(CHECKS))
    best = run_dir / BEST_SKILL
    if best.is_file():
        text = best.read_text(encoding="utf-8")
        found = audit_text(
            text,
            items=items,
            feedback=feedback,
            what=BEST_SKILL if names else "skill",
            common=common,
            train=train,
        )
        out.files[BEST_SKILL] = len(found)
        out.problems += found
        if train is not None and parse_examples(text):
            out.deliberate_examples = deliberate_examples(text, train)[0]
    meta = _meta_skill(run_dir)
    if meta is not None:
        name = meta.relative_to(run_dir).as_posix()
        found = audit_text(
            meta.read_text(encoding="utf-8"),
            items=items,
            feedback=feedback,
            what=name if names else "meta-skill",
            common=common,
            for_target=False,
        )
        out.files[name] = len(found)
        out.problems += found
    return out


def _version() -> str:
    # As skillfit.__version__ says it (the root package imports the API, above this layer).
    try:
        return version("skillfit")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def write_audit(run_dir: str | Path, audit: RunAudit) -> Path:
    """Write `audit` to the run's audit.json, whole or not at all."""
    path = Path(run_dir) / AUDIT_FILE
    write_json_atomic(path, audit.model_dump(mode="json"))
    return path


def clean_text(audit: RunAudit) -> str:
    """What a clean audit vouches for, in a few words."""
    files = list(audit.files)
    read = f"{files[0]} and the meta-skill" if len(files) > 1 else (files or [BEST_SKILL])[0]
    return (
        "no item text, scorer feedback, prompt copies, foreign quotes, grading talk or "
        f"repeated lines in {read}"
    )


def audit_lines(
    audit: RunAudit,
    *,
    label: str = "audit",
    where: str | None = AUDIT_FILE,
    limit: int | None = 3,
) -> list[str]:
    """What a run's output says of its audit: one line beginning with `label`, and with
    problems the first `limit` of them (None: all). `where` names the audit file for the
    reader (None: not named)."""
    files = list(audit.files)  # best_skill.md first
    if not files:
        return [f"{label}: nothing to read (no {BEST_SKILL})"]
    if audit.clean:
        k = len(audit.deliberate_examples)
        examples = f"; {k} worked example{'s' if k != 1 else ''} of training items" if k else ""
        return [f"{label}: clean ({clean_text(audit)}){examples}"]
    n = len(audit.problems)
    hit = [f for f in files if audit.files[f]]
    first = f"{n} problem{'s' if n != 1 else ''}"
    if len(hit) == 1:
        head = f"{label}: {first} in {hit[0]}"
    else:
        head = f"{label}: {first} (" + ", ".join(f"{audit.files[f]} in {f}" for f in hit) + ")"
    lines = [head + (f" — see {where}" if where else "")]
    shown = audit.problems if limit is None else audit.problems[:limit]
    lines += [f"  - {p}" for p in shown]
    if len(shown) < n:
        lines.append(f"  … and {n - len(shown)} more")
    return lines
