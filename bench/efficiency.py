"""Where a training run's calls, tokens and seconds go, phase by phase (issue 24).

    nice -n 10 .venv/bin/python bench/efficiency.py                 # scripted models (smoke)
    nice -n 10 .venv/bin/python bench/efficiency.py --real          # the main job, embedded models

Both run a short training and print the per-phase table of its summary.json (`phases`: rollouts,
reflection, guard, gate, epoch_end, test, and `other` for calls outside every phase, such as the
target check): paid model calls, cache hits, prompt and completion tokens, and wall seconds.

Scripted mode trains a made-up addition task (32 train, 40 validation, 60 test items) with a
scripted target, right on a third of the items without help and on all of them once the skill
states the method, and a scripted optimizer whose first proposal changes nothing and whose
second states the method: one rejected and one adopted candidate, as on a real run. No model
is loaded; its seconds measure the loop's own overhead, not a model's.

`--real` runs configs/quickstart.yaml (the README's main job: the embedded 0.5B target, the
embedded 1.5B optimizer, one epoch of two steps) in a fresh run directory with a fresh
response cache, so the figures are a cold run's. Extra `--set key=value` options pass through
to the config. Under `SKILLFIT_LOCAL_DECODING=exact-prefix` it also prints, per embedded model,
how many skill prefixes were saved, how many requests reused one, were read whole, or fell back
to a whole read.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from skillfit.api import train
from skillfit.models import ChatModel, InfraError
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.tasks.base import Item, Score, Trajectory

ROOT = Path(__file__).resolve().parents[1]
METHOD = "Add the two numbers and reply with the sum only."
COLUMNS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "seconds")


class AddTask:
    """Items "What is a plus b?"; the answer must be the sum, exactly."""

    name = "bench-add"
    initial_skill = "# Addition\n\nAnswer the question.\n"

    def __init__(self, n_train: int = 32, n_val: int = 40, n_test: int = 60) -> None:
        def items(prefix: str, start: int, n: int) -> list[Item]:
            return [
                Item(id=f"{prefix}-{i}", input=f"What is {i} plus {i + 7}?", target=str(2 * i + 7))
                for i in range(start, start + n)
            ]

        self._splits = {
            "train": items("train", 0, n_train),
            "val": items("val", 1000, n_val),
            "test": items("test", 2000, n_test),
        }

    def splits(self) -> dict[str, list[Item]]:
        return {k: list(v) for k, v in self._splits.items()}

    def split_manifest(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "splits": {k: [i.id for i in v] for k, v in self._splits.items()},
        }

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        messages = [
            {"role": "system", "content": skill + "\n\nSolve the task."},
            {"role": "user", "content": item.input},
        ]
        try:
            reply = model.complete(messages, max_tokens=32, sample=sample)
        except InfraError as exc:
            return Trajectory(item_id=item.id, messages=messages, error=str(exc), sample=sample)
        ok = reply.text.strip() == item.target
        return Trajectory(
            item_id=item.id,
            messages=[*messages, {"role": "assistant", "content": reply.text}],
            answer=reply.text,
            score=Score(hard=int(ok), soft=float(ok), feedback="" if ok else "wrong sum"),
            usage=reply.usage,
            sample=sample,
        )


def _target(request: Request) -> str:
    words = request.last_user.split()
    a, b = int(words[2]), int(words[4].rstrip("?"))
    if METHOD in request.system or a % 3 == 0:
        return str(a + b)
    return "It is a sum."


class _Optimizer:
    """Replies per prompt kind; the rules calls take their replies in turn, the last repeats."""

    def __init__(self) -> None:
        self.rules = [("Tone", "Stay calm and friendly."), ("Method", METHOD)]
        self.lock = threading.Lock()
        self.n = 0

    def __call__(self, request: Request) -> Any:
        if "short notes for an optimizer" in request.system:
            return {"notes": "- stating the method helped"}
        if "You check the work of an AI model" in request.system:
            return {"task": "adding two numbers", "mistakes": ["gave no sum"], "contrast": ""}
        with self.lock:
            title, rule = self.rules[min(self.n, len(self.rules) - 1)]
            self.n += 1
        return {
            "analysis": "the target does not add",
            "rules": [{"fixes": "no sum", "title": title, "rule": rule, "replaces": None}],
        }


def run_scripted(out: Path, overrides: Sequence[str]) -> tuple[dict[str, Any], float]:
    from skillfit.train.config import load_config

    cfg = load_config(
        None,
        [
            "task.name=bench-add",
            "target.model=scripted:target",
            "optimizer.model=scripted:optimizer",
            "train.epochs=1",
            "train.batch_size=16",
            "train.minibatch_size=8",
            "optimizer.procedure=false",
            "run.target_check=false",
            f"cache.path={out / 'cache.sqlite'}",
            f"run.out_dir={out}",
            "run.name=scripted",
            *overrides,
        ],
    )
    started = time.perf_counter()
    result = train(
        cfg,
        task=AddTask(),
        target=ScriptedModel(_target, name="scripted:target"),
        optimizer=ScriptedModel(_Optimizer(), name="scripted:optimizer"),
    )
    return result.summary, time.perf_counter() - started


def run_real(out: Path, overrides: Sequence[str]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    result = train(
        ROOT / "configs" / "quickstart.yaml",
        overrides=[
            "train.epochs=1",
            "train.max_steps=2",
            f"cache.path={out / 'cache.sqlite'}",
            f"run.out_dir={out}",
            "run.name=real",
            *overrides,
        ],
    )
    return result.summary, time.perf_counter() - started


def rows(phases: Mapping[str, Mapping[str, float]]) -> list[list[str]]:
    out = []
    for name, row in phases.items():
        cells = [name]
        for key in COLUMNS:
            value = row.get(key)
            cells.append(
                "–" if value is None else f"{value:.1f}" if key == "seconds" else str(int(value))
            )
        out.append(cells)
    total = ["total"]
    for key in COLUMNS:
        value = sum(float(r.get(key, 0) or 0) for r in phases.values())
        total.append(f"{value:.1f}" if key == "seconds" else str(int(value)))
    out.append(total)
    return out


def markdown(table: Sequence[Sequence[str]]) -> str:
    head = ["phase", "paid calls", "cache hits", "prompt tokens", "completion tokens", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in table]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--real", action="store_true", help="the main job on the embedded models")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", type=Path, default=None, help="run directory parent (default: temp)")
    ap.add_argument("--json", action="store_true", help="print the phases as JSON instead")
    args = ap.parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="skillfit-efficiency-") as tmp:
        out = args.out or Path(tmp)
        runner = run_real if args.real else run_scripted
        summary, seconds = runner(out, args.overrides)
    phases = summary.get("phases") or {}
    if args.json:
        print(json.dumps({"phases": phases, "wall_seconds": round(seconds, 1)}, indent=1))
        return
    mode = "embedded models (configs/quickstart.yaml)" if args.real else "scripted models"
    table = Table(title=f"Per-phase cost of one training run, {mode}")
    for col in ("phase", *COLUMNS):
        table.add_column(col, justify="left" if col == "phase" else "right")
    body = rows(phases)
    for row in body:
        table.add_row(*row)
    console.print(table)
    console.print(
        f"{summary.get('steps')} steps, {summary.get('adoptions')} adopted; wall time "
        f"{seconds:.1f} s. Markdown:",
        highlight=False,
    )
    console.print(markdown(body), highlight=False, markup=False, soft_wrap=True)
    if args.real:
        from skillfit.models.local.server import shared_servers

        for srv in shared_servers():
            if srv.prefix is not None:
                console.print(
                    f"{srv.model_path.name}: aligned prefix (ubatch {srv.options.ubatch}): "
                    f"{srv.prefix.stats}",
                    highlight=False,
                    markup=False,
                )


if __name__ == "__main__":
    main()
