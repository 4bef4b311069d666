"""How far can a skill move the target on each suite task at all? No training.

    nice python bench/headroom.py [--tasks bbh/web_of_lies,gsm8k] [--n 40]
                                  [--target local:qwen2.5-coder-0.5b] [--skills FILE]

Runs the suite's validation items (splits 32/40/60, seed 0, max_tokens 384, the chat harness)
with each task's human-written initial skill, then with the initial skill plus each
hand-written addition from `bench/headroom_skills.yaml` (a procedure written by someone who
knows the task, and a made-up worked example). Prints accuracy, wins and losses against the
initial skill with the paired 95% interval, and the median reply length (does the target
write the steps, or answer at once?). Training cannot be expected to find more than a person
who knows the task writes; a task where no addition moves the target has no room to learn.
Every call goes through the response cache, so a rerun costs seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from skillfit.core.stats import paired_difference
from skillfit.harness.run import run_item
from skillfit.models.cache import ResponseCache
from skillfit.models.registry import get_model
from skillfit.skill import Skill
from skillfit.tasks.registry import get_task

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="", help="comma-separated; default: every task")
    parser.add_argument("--n", type=int, default=40, help="validation items per task")
    parser.add_argument("--target", default="local:qwen2.5-coder-0.5b")
    parser.add_argument("--skills", type=Path, default=HERE / "headroom_skills.yaml")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    additions: dict[str, dict[str, str]] = yaml.safe_load(args.skills.read_text())
    names = [t for t in args.tasks.split(",") if t] or list(additions)
    unknown = [t for t in names if t not in additions]
    if unknown:
        sys.exit(f"no hand-written skills for {', '.join(unknown)} in {args.skills}")
    model = get_model(args.target, role="target", cache=ResponseCache())
    header = (
        "| task | skill | right | wins / losses vs initial | difference [95% CI], points "
        "| median reply tokens |\n|---|---|---|---|---|---|"
    )
    rows = [header]
    print(header, flush=True)
    for name in names:
        task = get_task(name, n_train=32, n_val=40, n_test=60, seed=0, max_tokens=384)
        items = list(task.splits()["val"])[: args.n]
        initial = task.initial_skill
        base: list[float] = []
        for label, extra in {"initial": "", **additions[name]}.items():
            skill = Skill.parse("\n\n".join(p.strip() for p in (initial, extra) if p.strip())).text

            def one(item, skill=skill, task=task):  # type: ignore[no-untyped-def]
                return run_item(task, "chat", model, skill, item)

            with ThreadPoolExecutor(4) as pool:
                trajectories = list(pool.map(one, items))
            scores = [float(t.score.hard) if t.score else 0.0 for t in trajectories]
            tokens = [t.usage.completion_tokens if t.usage else 0 for t in trajectories]
            if not base:
                base = scores
            diff = paired_difference(scores, base)
            ci = (
                "—"
                if label == "initial"
                else f"{100 * diff.mean_diff:+.1f} [{100 * diff.ci_low:+.1f}, "
                f"{100 * diff.ci_high:+.1f}]"
            )
            row = (
                f"| {name} | {label} | {int(sum(scores))}/{len(scores)} | "
                f"{diff.wins} / {diff.losses} | {ci} | {statistics.median(tokens):.0f} |"
            )
            rows.append(row)
            print(row, flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
