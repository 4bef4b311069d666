"""Same command, same skill? Train twice from cold caches, once beside a CPU burner, and diff.

    nice python bench/determinism.py [--config configs/quickstart.yaml] [--set KEY=VALUE ...]
                                     [--out outputs/determinism] [--burners 2]
    nice python bench/determinism.py --probe [--decoding exact-prefix|exact|batched]

Training mode runs `skillfit train` twice in separate processes, each with its own empty
response cache: run A alone, run B with `--burners` busy processes beside it (other load on the
machine changes how llama.cpp batches and schedules, which is what made one command train two
skills). It then compares every file of the two run folders: each rollout reply, each optimizer
reply and proposal, every edit, gate verdict, skill version, the test results and
`best_skill.md`, leaving out only what measures time (seconds, latency, timestamps) and the
folders' own paths. It prints the number of differing files and the first differences, and
exits 1 if there are any.

The default run is a short two-step training on the quickstart task with the embedded models
(0.5B target, 1.5B optimizer): 16 train / 20 validation / 20 test items, one epoch of two
steps, the epoch-end slow update and the three test arms.

Probe mode asks the embedded 0.5B the same 12 prompts (two skills sharing a prefix, greedy and
seeded sampling at 0.7) one by one, in reverse order, and 4 and 2 at a time, through a fresh
server, and prints how many replies match the first pass, with each pass's wall time. Use it to
compare decoding modes (SKILLFIT_LOCAL_DECODING) on a machine. Training mode decodes as
SKILLFIT_LOCAL_DECODING says (both runs inherit it; exact-prefix by default), e.g.
`SKILLFIT_LOCAL_DECODING=exact python bench/determinism.py` for whole reads.
"""

from __future__ import annotations

import argparse
import difflib
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

SHORT_RUN = [
    "task.options.n_train=16",
    "task.options.n_val=20",
    "task.options.n_test=20",
    "train.batch_size=8",
    "train.minibatch_size=4",
    "train.epochs=1",
]

# Keys whose values measure time or name the run's own folders: they differ between any two
# runs and say nothing about what was trained.
VOLATILE = {
    "seconds",
    "latency",
    "time",
    "timestamp",
    "created",
    "started",
    "finished",
    "ended",
    "updated",
    "elapsed",
    "wall_seconds",
    "wall_time",
    "duration",
    "pid",
    "host",
    "run_dir",
    "out_dir",
    "started_at",
    "finished_at",
    "load_seconds",
    "journal_bytes",  # the call journal's size: its lines hold each call's seconds
}
# calls.jsonl, the journal of paid calls, names its fields in one letter: "s" is a call's seconds.
JOURNAL_VOLATILE = {"s"}
SKIP_FILES = {"events.jsonl", "server.log", ".run.lock"}  # who ran it, and when


def _burn(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1_103_515_245 + 12_345) % 2_147_483_648


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _normalized(path: Path, root: Path) -> list[str]:
    """The file's lines with time and the run's own folder left out."""
    text = path.read_text(errors="replace").replace(str(root), "<run>")
    text = re.sub(r"cache_[AB]\.sqlite", "cache.sqlite", text)
    if path.suffix == ".json":
        try:
            return json.dumps(_strip(json.loads(text)), indent=1, sort_keys=True).splitlines()
        except ValueError:
            pass
    if path.suffix == ".jsonl":
        lines = []
        for line in text.splitlines():
            try:
                value = _strip(json.loads(line))
            except ValueError:
                lines.append(line)
                continue
            if path.name == "calls.jsonl" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in JOURNAL_VOLATILE}
            lines.append(json.dumps(value, sort_keys=True))
        # Paid calls are journaled as they finish: two in flight may finish in either order.
        return sorted(lines) if path.name == "calls.jsonl" else lines
    return text.splitlines()


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in SKIP_FILES:
            yield path.relative_to(root)


def compare_runs(a: Path, b: Path) -> list[str]:
    """One entry per differing file: its name and the first lines that differ."""
    differences = []
    names = sorted(set(_files(a)) | set(_files(b)))
    for name in names:
        if not (a / name).exists() or not (b / name).exists():
            differences.append(f"{name}: only in {'A' if (a / name).exists() else 'B'}")
            continue
        left, right = _normalized(a / name, a), _normalized(b / name, b)
        if left != right:
            diff = list(difflib.unified_diff(left, right, "A", "B", n=0, lineterm=""))[2:8]
            differences.append(f"{name}:\n    " + "\n    ".join(d[:200] for d in diff))
    return differences


def _train(config: Path, sets: list[str], out: Path, cache: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "skillfit",
        "train",
        "--config",
        str(config),
        "--out",
        str(out),
        "--quiet",
        "--force",
        *[arg for s in [*sets, f"cache.path={cache}"] for arg in ("--set", s)],
    ]
    begin = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return time.perf_counter() - begin


def train_twice(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sets = [*SHORT_RUN, *args.set]
    for label, burners in (("A", 0), ("B", args.burners)) if not args.compare_only else ():
        cache = out / f"cache_{label}.sqlite"
        for stale in out.glob(f"cache_{label}.sqlite*"):
            stale.unlink()
        stop = multiprocessing.Event()
        procs = [multiprocessing.Process(target=_burn, args=(stop,)) for _ in range(burners)]
        for p in procs:
            p.start()
        load_before = os.getloadavg()[0]
        try:
            seconds = _train(args.config, sets, out / f"run_{label}", cache)
        finally:
            stop.set()
            for p in procs:
                p.join()
        print(
            f"run {label}: {seconds / 60:.1f} min with {burners} CPU burners beside it "
            f"(load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end)",
            flush=True,
        )
    differences = compare_runs(out / "run_A", out / "run_B")
    files = sum(1 for _ in _files(out / "run_A"))
    print(f"compared {files} files of {out / 'run_A'} and {out / 'run_B'}")
    best = [(out / f"run_{x}" / "best_skill.md").read_text() for x in "AB"]
    print(f"best_skill.md identical: {best[0] == best[1]}")
    print(f"differing files: {len(differences)}")
    for d in differences[:20]:
        print("  " + d)
    return 1 if differences else 0


SKILL = (
    "You solve counting puzzles.\n"
    + "\n".join(
        f"- Rule {i}: read every item, note its count, keep a running total; never skip item {i}."
        for i in range(12)
    )
    + "\nEnd with 'Answer: <number>'."
)
THINGS = ["apples", "pens", "cats", "books", "cars", "cups", "hats", "keys", "rings", "coins"]


def _prompt(i: int) -> tuple[list[dict[str, str]], float]:
    rng = random.Random(i)
    parts = [f"{rng.randint(1, 9)} {rng.choice(THINGS)}" for _ in range(3 + i % 5)]
    question = (
        f"I have {', '.join(parts)}. How many {THINGS[i % len(THINGS)]} do I have? "
        "Think step by step."
    )
    skill = SKILL if i % 3 else SKILL.replace("Rule 7", "Step seven")  # a shorter shared prefix
    temperature = 0.7 if i % 4 == 3 else 0.0
    return [{"role": "system", "content": skill}, {"role": "user", "content": question}], (
        temperature
    )


def probe(args: argparse.Namespace) -> int:
    os.environ["SKILLFIT_LOCAL_DECODING"] = args.decoding
    from skillfit.models.local.provider import local_model

    model = local_model("qwen2.5-coder-0.5b")
    n = 12

    def ask(i: int) -> str:
        messages, temperature = _prompt(i)
        return model.complete(messages, max_tokens=160, temperature=temperature, sample=i).text

    passes: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    orders = {
        "one by one": (list(range(n)), 1),
        "reversed": (list(reversed(range(n))), 1),
        "4 at a time": (list(range(n)), 4),
        "2 at a time, shuffled": (random.Random(1).sample(range(n), n), 2),
    }
    for label, (order, workers) in orders.items():
        begin = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            texts = dict(zip(order, pool.map(ask, order), strict=True))
        seconds[label] = time.perf_counter() - begin
        passes[label] = [texts[i] for i in range(n)]
    options = model.server.options
    print(f"decoding {options.decoding}, {options.slots} slot(s), {options.threads} threads")
    if model.server.prefix is not None:
        print(f"  aligned prefix (ubatch {options.ubatch}): {model.server.prefix.stats}")
    first = passes["one by one"]
    for label, texts in passes.items():
        same = sum(a == b for a, b in zip(first, texts, strict=True))
        print(f"  {label:<24} {same:>2}/{n} replies as one by one   {seconds[label]:6.1f} s")
    return 0 if all(t == first for t in passes.values()) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml")
    parser.add_argument("--set", action="append", default=[], help="extra config overrides")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "determinism")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--probe", action="store_true", help="model-level probe only")
    parser.add_argument(
        "--compare-only", action="store_true", help="diff the run folders of an earlier call"
    )
    parser.add_argument(
        "--decoding", default="exact-prefix", choices=["exact-prefix", "exact", "batched"]
    )
    args = parser.parse_args()
    sys.exit(probe(args) if args.probe else train_twice(args))


if __name__ == "__main__":
    main()
