"""How far can a hand-written skill move the target on each task at all? No training.

    nice python bench/headroom.py [--tasks bbh/web_of_lies,gsm8k] [--n-val 40]
                                  [--target local:qwen2.5-coder-0.5b] [--skills FILE]
                                  [--results bench/headroom_results.json] [--markdown FILE]
    nice python bench/headroom.py --select [--results ...]     # the pre-registered suite

Runs each task's validation items (splits 32/40/60, seed 0, max_tokens 384, the chat harness,
temperature 0) with the task's human-written initial skill, then with the initial skill plus
each hand-written addition from `bench/headroom_skills.yaml`:

- `procedure`: the working steps a person who knows the task would ask for;
- `examples`: 2-3 worked examples, each a TRAINING item of the task (named by its id, its
  input copied from the data) with a short worked solution and the right answer (the unit test
  scores every one with the task's own scorer and checks it is a training item);
- `knowledge`: what a solver must know (definitions, label meanings, rules), no item text.

Prints accuracy, wins and losses against the initial skill with the paired 95% interval, and
the median reply length (does the target write the steps, or answer at once?). Training cannot
be expected to find more than a person who knows the task writes; a task where no addition
moves the target has no room to learn.

Results go to a JSON file as each (target, task, skill) is measured, so an interrupted run
loses nothing and a rerun skips what is there (a skill whose text changed is measured again).
Every model call also goes through the response cache. `--select` reads that file and prints
the suite: every (task, target) where some hand skill beats the initial skill with a paired 95%
interval above zero, up to 8, largest gain first.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from skillfit.core.io import read_json, write_json_atomic
from skillfit.core.stats import paired_difference
from skillfit.harness.run import run_item
from skillfit.models.base import ChatModel
from skillfit.models.cache import ResponseCache
from skillfit.models.registry import get_model
from skillfit.skill import Skill
from skillfit.tasks.base import Item
from skillfit.tasks.common import SingleTurnTask
from skillfit.tasks.registry import get_task

HERE = Path(__file__).resolve().parent
DEFAULT_TARGET = "local:qwen2.5-coder-0.5b"
DEFAULT_RESULTS = HERE / "headroom_results.json"
# The measurement's fixed settings: the learning benchmark's (configs/suite.yaml).
SPLITS = {"n_train": 32, "n_val": 40, "n_test": 60, "seed": 0}
MAX_TOKENS = 384
HARNESS = "chat"
KINDS = ("procedure", "examples", "knowledge")
SUITE_SIZE = 8
# Seconds per target call, for the estimate printed at start. The 0.5B: 3.0 s median (8.7
# tokens/s over 340 calls of median 11 reply tokens, 129 prompt tokens) in this machine's
# response cache while another benchmark ran; bench/headroom.md's 1.5B figure: about 166 reply
# tokens at about 18 tokens/s where it writes its working. A worked-examples skill adds a few
# hundred prompt tokens, a procedure longer replies: the estimate rounds up.
SECONDS_PER_CALL = {"local:qwen2.5-coder-0.5b": 5.0, "local:qwen2.5-coder-1.5b": 12.0}


# --- the hand-written skills -----------------------------------------------------------------


def load_skills(path: Path) -> dict[str, dict[str, Any]]:
    """{task: {kind: text or list of examples}} from the YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of task names")
    for task, kinds in data.items():
        if not isinstance(kinds, dict):
            raise SystemExit(f"{path}: {task}: expected a mapping of skill kinds")
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise SystemExit(f"{path}: {task}: unknown kind(s) {', '.join(unknown)}")
    return data


def make_task(name: str) -> SingleTurnTask:
    return get_task(name, **SPLITS, max_tokens=MAX_TOKENS)  # type: ignore[return-value]


def example_items(task: SingleTurnTask, examples: Sequence[Mapping[str, Any]]) -> list[Item]:
    """The training items the worked examples name, in order. SystemExit for an id that is not
    a training item of `task` under the fixed splits (a val or test item must never be shown)."""
    train = {item.id: item for item in task.splits()["train"]}
    items = []
    for example in examples:
        item_id = str(example.get("item", ""))
        if item_id not in train:
            raise SystemExit(f"{task.name}: worked example {item_id!r} is not a training item")
        items.append(train[item_id])
    return items


def render_examples(task: SingleTurnTask, examples: Sequence[Mapping[str, Any]]) -> str:
    """The `## Worked examples` section: each training item's question, then the worked reply."""
    blocks = ["## Worked examples"]
    for item, example in zip(example_items(task, examples), examples, strict=True):
        question = "\n".join(line.rstrip() for line in item.input.strip().splitlines())
        blocks.append(f"Question:\n{question}\nReply:\n{str(example['reply']).strip()}")
    blocks.append(
        "Reply to a new question in the same way: the working first, then the answer line."
    )
    return "\n\n".join(blocks)


def addition_text(task: SingleTurnTask, kind: str, spec: Any) -> str:
    if kind == "examples":
        return render_examples(task, spec)
    return str(spec).strip()


def skill_texts(task: SingleTurnTask, additions: Mapping[str, Any]) -> dict[str, str]:
    """{"initial": the task's skill, kind: the initial skill plus that addition, ...}."""
    initial = task.initial_skill
    out = {"initial": Skill.parse(initial).text}
    for kind in KINDS:
        if kind in additions:
            extra = addition_text(task, kind, additions[kind])
            joined = "\n\n".join(p.strip() for p in (initial, extra) if p.strip())
            out[kind] = Skill.parse(joined).text
    return out


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# Records from before the screen kept its decoding were made under the embedded models'
# former default.
FORMER_DECODING = "decoding=exact"


def decoding_for(target: str) -> str:
    """How this process decodes the target: an embedded model's decoding mode (its replies
    differ between modes), else the provider's own (hosted models are not exact anyway)."""
    if target.startswith("local:"):
        from skillfit.models.local.server import ServerOptions

        return ServerOptions().cache_namespace or "decoding=batched"
    return "hosted"


def record_decoding(record: Mapping[str, Any]) -> str:
    return str(record.get("decoding", FORMER_DECODING))


# Records from before the screen kept its CPU were made on this one (bench/determinism.md).
FORMER_CPU = "AMD EPYC (x86_64, avx2)"


def cpu_kind() -> str:
    """The kind of CPU this process decodes on, as far as it may change the floats: llama.cpp
    picks its kernels by instruction set, so an AVX-512 machine may decode another reply."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
                break
    except OSError:
        pass
    isa = next((f for f in ("avx512f", "avx2", "asimd") if f in flags), "base")
    return f"{name} ({platform.machine()}, {isa.removesuffix('f')})"


def record_cpu(record: Mapping[str, Any]) -> str:
    return str(record.get("cpu", FORMER_CPU))


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Results:
    """The results file: {"settings": ..., "results": {target: {task: {skill: record}}}}."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> Results:
        data = read_json(path) if path.exists() else {}
        data.setdefault("settings", {**SPLITS, "max_tokens": MAX_TOKENS, "harness": HARNESS})
        data.setdefault("results", {})
        return cls(path, data)

    def get(self, target: str, task: str, skill: str) -> dict[str, Any] | None:
        record: dict[str, Any] | None = (
            self.data["results"].get(target, {}).get(task, {}).get(skill)
        )
        return record

    def fresh(
        self, target: str, task: str, skill: str, text: str, ids: Sequence[str], decoding: str
    ) -> bool:
        """Is a record there for exactly this skill text on exactly these items, decoded as
        this process decodes?"""
        record = self.get(target, task, skill)
        return (
            bool(record)
            and record["skill_sha"] == digest(text)
            and record["items"] == list(ids)
            and record_decoding(record) == decoding
        )

    def put(self, target: str, task: str, skill: str, record: dict[str, Any]) -> None:
        self.data["results"].setdefault(target, {}).setdefault(task, {})[skill] = record
        write_json_atomic(self.path, self.data)


def measure_skill(
    task: SingleTurnTask,
    model: ChatModel,
    text: str,
    items: Sequence[Item],
    workers: int,
    decoding: str,
) -> dict[str, Any]:
    def one(item: Item) -> tuple[float, int, str]:
        traj = run_item(task, HARNESS, model, text, item)
        if traj.error is not None:
            raise SystemExit(f"{task.name}: {item.id}: {traj.error}")
        score = float(traj.score.hard) if traj.score else 0.0
        return score, traj.usage.completion_tokens if traj.usage else 0, traj.answer

    with ThreadPoolExecutor(max(1, workers)) as pool:
        rows = list(pool.map(one, items))
    return {
        "skill_sha": digest(text),
        "items": [item.id for item in items],
        "scores": [r[0] for r in rows],
        "reply_tokens": [r[1] for r in rows],
        "answers": [r[2] for r in rows],
        "decoding": decoding,
        "cpu": cpu_kind(),
    }


def plan(
    names: Sequence[str],
    skills: Mapping[str, Mapping[str, Any]],
    target: str,
    n_val: int,
    results: Results,
) -> list[tuple[str, str, str, list[Item]]]:
    """Every (task, skill label, skill text, items) still to measure, in order. A task with
    something to measure has its records from another kind of CPU measured again too, so that
    every skill of a task is paired with an initial skill decoded on the same CPU."""
    decoding, cpu = decoding_for(target), cpu_kind()
    todo = []
    for name in names:
        task = make_task(name)
        items = list(task.splits()["val"])[:n_val]
        ids = [item.id for item in items]
        texts = skill_texts(task, skills[name])
        stale = {
            label
            for label, text in texts.items()
            if not results.fresh(target, name, label, text, ids, decoding)
        }
        if stale:
            stale |= {
                label
                for label in texts
                if (record := results.get(target, name, label)) and record_cpu(record) != cpu
            }
        todo.extend((name, label, text, items) for label, text in texts.items() if label in stale)
    return todo


def estimate_text(target: str, calls: int, done: int) -> str:
    per_call = SECONDS_PER_CALL.get(target)
    when = (
        f"; at about {per_call:.0f} s per call on a 2-core machine, about "
        f"{calls * per_call / 3600:.1f} h"
        if per_call
        else ""
    )
    return (
        f"{calls} target calls to make ({done} skill measurements already in the results "
        f"file){when}. Every call goes through the response cache: a rerun replays them."
    )


def run(
    names: Sequence[str],
    skills: Mapping[str, Mapping[str, Any]],
    target: str,
    model: ChatModel,
    n_val: int,
    results: Results,
    *,
    workers: int = 4,
    say: Callable[[str], None] = print,
) -> None:
    todo = plan(names, skills, target, n_val, results)
    planned = sum(len(items) for *_, items in todo)
    total = sum(len(skill_texts(make_task(n), skills[n])) for n in names)
    say(estimate_text(target, planned, total - len(todo)))
    for name, label, text, items in todo:
        started = time.monotonic()
        record = measure_skill(make_task(name), model, text, items, workers, decoding_for(target))
        record["seconds"] = round(time.monotonic() - started, 1)
        results.put(target, name, label, record)
        say(
            f"  {name} {label}: {int(sum(record['scores']))}/{len(items)} "
            f"({record['seconds']:.0f} s)"
        )


# --- reporting -------------------------------------------------------------------------------

HEADER = (
    "| task | skill | right | wins / losses vs initial | difference [95% CI], points "
    "| median reply tokens |\n|---|---|---|---|---|---|"
)


def _diff(record: Mapping[str, Any], base: Mapping[str, Any]) -> Any:
    if (
        record["items"] != base["items"]
        or record_decoding(record) != record_decoding(base)
        or record_cpu(record) != record_cpu(base)
    ):
        return None
    return paired_difference(record["scores"], base["scores"])


def table(results: Results, target: str, names: Iterable[str]) -> str:
    rows = [HEADER]
    measured = results.data["results"].get(target, {})
    for name in names:
        records = measured.get(name, {})
        base = records.get("initial")
        for label in ("initial", *KINDS):
            record = records.get(label)
            if record is None:
                continue
            scores = record["scores"]
            diff = _diff(record, base) if base and label != "initial" else None
            if diff is None:
                ci, wl = "—", "—"
            else:
                star = " *" if diff.ci_low > 0 or diff.ci_high < 0 else ""
                ci = (
                    f"{100 * diff.mean_diff:+.1f} [{100 * diff.ci_low:+.1f}, "
                    f"{100 * diff.ci_high:+.1f}]{star}"
                )
                wl = f"{diff.wins} / {diff.losses}"
            tokens = statistics.median(record["reply_tokens"]) if record["reply_tokens"] else 0
            rows.append(
                f"| {name} | {label} | {int(sum(scores))}/{len(scores)} | {wl} | {ci} "
                f"| {tokens:.0f} |"
            )
    cpus = Counter(
        record_cpu(record) for name in names for record in measured.get(name, {}).values()
    )
    where = ", ".join(f"{cpu} ({n})" for cpu, n in cpus.most_common())
    return "\n".join(rows) + (f"\n\nMeasured on: {where}." if where else "")


@dataclass(frozen=True)
class Pick:
    task: str
    target: str
    skill: str
    mean_diff: float
    ci_low: float
    ci_high: float
    initial: str  # "13/40"
    best: str


def select(results: Results, limit: int = SUITE_SIZE) -> list[Pick]:
    """Every (task, target) where some hand skill beats the initial skill with a paired 95%
    interval above zero, its best such skill (largest mean gain), largest gain first."""
    picks = []
    for target, tasks in results.data["results"].items():
        for name, records in tasks.items():
            base = records.get("initial")
            if not base:
                continue
            best: Pick | None = None
            for label in KINDS:
                record = records.get(label)
                diff = _diff(record, base) if record else None
                if diff is None or not diff.ci_low > 0:
                    continue
                if best is None or diff.mean_diff > best.mean_diff:
                    best = Pick(
                        name,
                        target,
                        label,
                        diff.mean_diff,
                        diff.ci_low,
                        diff.ci_high,
                        f"{int(sum(base['scores']))}/{len(base['scores'])}",
                        f"{int(sum(record['scores']))}/{len(record['scores'])}",  # type: ignore[index]
                    )
            if best is not None:
                picks.append(best)
    picks.sort(key=lambda p: (-p.mean_diff, -p.ci_low, p.task, p.target))
    return picks[:limit]


def suite_text(picks: Sequence[Pick], considered: int) -> str:
    if not picks:
        return (
            f"No (task, target) pair of the {considered} measured has a hand skill beating the "
            "initial skill with a paired 95% interval above zero: no suite."
        )
    lines = [
        f"Pre-registered suite: {len(picks)} (task, target) pairs of the {considered} measured "
        f"where a hand skill beats the initial skill with a paired 95% interval above zero "
        f"(at most {SUITE_SIZE}, largest gain first).",
        "",
        "| task | target | best hand skill | initial | hand skill | difference [95% CI], points |",
        "|---|---|---|---|---|---|",
    ]
    for p in picks:
        lines.append(
            f"| {p.task} | {p.target} | {p.skill} | {p.initial} | {p.best} | "
            f"{100 * p.mean_diff:+.1f} [{100 * p.ci_low:+.1f}, {100 * p.ci_high:+.1f}] |"
        )
    return "\n".join(lines)


# --- the command -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", default="", help="comma-separated; default: every task")
    parser.add_argument("--n-val", "--n", type=int, default=40, help="validation items per task")
    parser.add_argument("--target", default=DEFAULT_TARGET)
    parser.add_argument("--skills", type=Path, default=HERE / "headroom_skills.yaml")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results JSON")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--cache", type=Path, help="response cache file (default: the user's)")
    parser.add_argument("--workers", type=int, default=4, help="rollouts in flight at once")
    parser.add_argument(
        "--select", action="store_true", help="print the suite chosen from the results file"
    )
    parser.add_argument(
        "--estimate", action="store_true", help="print the calls still to make, run nothing"
    )
    args = parser.parse_args(argv)
    results = Results.open(args.results)
    if args.select:
        considered = sum(len(t) for t in results.data["results"].values())
        print(suite_text(select(results), considered))
        return
    skills = load_skills(args.skills)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()] or list(skills)
    unknown = [t for t in names if t not in skills]
    if unknown:
        sys.exit(f"no hand-written skills for {', '.join(unknown)} in {args.skills}")
    if args.n_val < 1 or args.n_val > SPLITS["n_val"]:
        sys.exit(f"--n-val must lie in 1..{SPLITS['n_val']}")
    if args.estimate:
        todo = plan(names, skills, args.target, args.n_val, results)
        total = sum(len(skill_texts(make_task(n), skills[n])) for n in names)
        print(
            f"{len(names)} tasks: "
            + estimate_text(args.target, sum(len(i) for *_, i in todo), total - len(todo))
        )
        return
    model = get_model(args.target, role="target", cache=ResponseCache(args.cache))
    run(names, skills, args.target, model, args.n_val, results, workers=args.workers)
    text = table(results, args.target, names)
    print(f"\nTarget {args.target}, {args.n_val} validation items per task:\n")
    print(text, flush=True)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
