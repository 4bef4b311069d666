"""The learning benchmark: does training teach the task, or only the answer format?

    nice python bench/suite.py [--tasks bbh/web_of_lies,gsm8k] [--out outputs/suite]
                               [--markdown bench/suite.md] [--set train.epochs=2 ...]

Trains one skill per task with `configs/suite.yaml` (embedded 0.5B target, embedded 1.5B
optimizer, starting from each task's human-written initial skill) and prints one table: test
accuracy of no skill, the initial skill and the trained skill with 95% intervals, the paired
differences trained − initial and trained − none with 95% intervals, and two columns that keep
form apart from substance: the share of replies with a valid answer format, and the accuracy
among those replies. Then wall time, tokens by role and adopted candidates per task.

Each task's run lives in `<out>/<task>`; a rerun resumes finished and half-finished runs from
their files and every model call from the response cache, so a second run costs minutes. Every
trained skill and meta-skill is audited (no item text, no scorer feedback, no repeated line;
worked examples of training items, `optimizer.examples: train`, are listed as deliberate);
the skills and the table are copied to `bench/suite/` so a test can audit them too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TASKS = (
    "bbh/boolean_expressions",
    "bbh/web_of_lies",
    "bbh/hyperbaton",
    "bbh/logical_deduction_three_objects",
    "bbh/tracking_shuffled_objects_three_objects",
    "bbh/multistep_arithmetic_two",
    "gsm8k",
)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}"


def _arm(test: dict[str, Any], name: str) -> str:
    arm = test.get(name) or {}
    if arm.get("accuracy") is None:
        return "n/a"
    return f"{arm['correct']}/{arm['scored']} [{_pct(arm['ci_low'])}, {_pct(arm['ci_high'])}]"


def _diff(test: dict[str, Any], key: str) -> str:
    d = test.get(key) or {}
    if d.get("mean_diff") is None:
        return "n/a"
    mark = " *" if (d.get("ci_low") or 0) > 0 else ""
    return (
        f"{100 * d['mean_diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]{mark}"
    )


def _form(test: dict[str, Any]) -> tuple[str, str]:
    rates, accs = [], []
    for name in ("none", "initial", "best"):
        arm = test.get(name) or {}
        rates.append(_pct(arm.get("format_rate")))
        accs.append(_pct(arm.get("formatted_accuracy")))
    return " / ".join(rates), " / ".join(accs)


def _tokens(summary: dict[str, Any]) -> str:
    parts = []
    for role in ("target", "optimizer"):
        stats = (summary.get("tokens") or {}).get(role) or {}
        total = int(stats.get("prompt_tokens", 0) + stats.get("completion_tokens", 0))
        parts.append(f"{total / 1000:.0f}k")
    return " / ".join(parts)


def _reply_lengths(run_dir: Path) -> str:
    """Median reply tokens of the trained skill's test replies, and the share cut off by the
    target's token cap (room to reason: a cut reply loses its answer line)."""
    path = run_dir / "test_eval" / "best.jsonl"
    if not path.is_file():
        return "n/a"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    tokens = sorted(int((r.get("usage") or {}).get("completion_tokens", 0)) for r in rows)
    cut = sum(1 for r in rows if "token limit" in ((r.get("score") or {}).get("feedback") or ""))
    median = tokens[len(tokens) // 2] if tokens else 0
    return f"{median} / {100 * cut / max(1, len(rows)):.0f}%"


def _one_answer(run_dir: Path) -> str:
    """The test accuracy of the best single answer given to every item (the commonest test
    answer): the most a skill can score by making the target repeat one label (web_of_lies'
    "No") without any reasoning."""
    from collections import Counter

    from skillfit.tasks import get_task

    task_cfg = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["task"]
    test = get_task(task_cfg["name"], **(task_cfg.get("options") or {})).splits()["test"]
    labels = Counter(json.dumps(it.target, sort_keys=True) for it in test)
    return f"{labels.most_common(1)[0][1]}/{len(test)}" if labels else "n/a"


def _moved(summary: dict[str, Any]) -> str:
    """Validation outcomes the candidates changed (won or lost) of those compared, over every
    gate: near zero, the target ignores what the optimizer writes."""
    moved = summary.get("val_outcomes_moved") or {}
    if not moved.get("compared"):
        return "n/a"
    return f"{moved['moved']} / {moved['compared']}"


HEADER = (
    "| task | none | initial | trained | one answer for all | trained − initial | trained − none "
    "| valid format % (none / initial / trained) | accuracy among valid % (none / initial / "
    "trained) | adopted | val outcomes moved by candidates | trained reply tokens (median / cut) "
    "| tokens (target / optimizer) | wall time |"
)


def table_row(task: str, summary: dict[str, Any], seconds: float, run_dir: Path) -> str:
    test = summary.get("test") or {}
    rates, accs = _form(test)
    cells = [
        task,
        _arm(test, "none"),
        _arm(test, "initial"),
        _arm(test, "best"),
        _one_answer(run_dir),
        _diff(test, "best_vs_initial"),
        _diff(test, "best_vs_none"),
        rates,
        accs,
        f"{summary.get('adoptions', 0)} of {summary.get('steps', 0)} steps",
        _moved(summary),
        _reply_lengths(run_dir),
        _tokens(summary),
        f"{seconds / 60:.1f} min",
    ]
    return "| " + " | ".join(cells) + " |"


def table(rows: list[str]) -> str:
    sep = "|" + "---|" * HEADER.count(" | ") + "---|"
    return "\n".join([HEADER, sep, *rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help="comma-separated task names")
    ap.add_argument("--config", default=str(ROOT / "configs" / "suite.yaml"))
    ap.add_argument("--out", default=str(ROOT / "outputs" / "suite"))
    ap.add_argument("--markdown", default=str(ROOT / "bench" / "suite.md"))
    ap.add_argument("--keep", default=str(ROOT / "bench" / "suite"), help="copy skills here")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)

    from skillfit import train
    from skillfit.app.audit import audit_run, run_examples

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    out = Path(args.out)
    rows: list[str] = []
    problems: dict[str, list[str]] = {}
    examples: dict[str, list[str]] = {}
    started = time.perf_counter()
    for task in tasks:
        run_dir = out / task.replace("/", "__")
        t0 = time.perf_counter()
        print(f"[suite] {task}: training in {run_dir}", flush=True)

        def progress(event: dict[str, Any], task: str = task) -> None:
            if event["event"] in ("gate", "test_eval", "meta_skill"):
                brief = {k: v for k, v in event.items() if k in ("step", "accepted", "arm")}
                print(f"[suite] {task}: {event['event']} {json.dumps(brief)}", flush=True)

        result = train(
            args.config,
            overrides=[f"task.name={task}", *args.overrides],
            out_dir=run_dir,
            force=True,
            progress=progress,
        )
        seconds = time.perf_counter() - t0
        summary = dict(result.summary)
        rows.append(table_row(task, summary, float(summary.get("seconds") or seconds), run_dir))
        problems[task] = audit_run(run_dir)
        examples[task] = run_examples(run_dir)
        keep = Path(args.keep) / task.replace("/", "__")
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(run_dir / "best_skill.md", keep / "best_skill.md")
        metas = sorted((run_dir / "meta_skill").glob("epoch_*/meta_skill.md"))
        if metas:
            shutil.copy(metas[-1], keep / "meta_skill.md")
        (keep / "config.json").write_text((run_dir / "config.json").read_text())
        print(rows[-1], flush=True)

    text = table(rows)
    wall = (time.perf_counter() - started) / 60
    notes = [
        "",
        "Test accuracy as correct/scored [95% Wilson interval, %]; differences in points with",
        "95% paired intervals (* = interval above zero). Valid format: an `Answer:` line holding",
        "an answer of the kind the task wants. Val outcomes moved: validation items, over every",
        "gate, that a candidate won or lost against the current skill, of those compared (a gate",
        "stops scoring once its candidate cannot pass). One answer for all: the test accuracy",
        "of giving every item the commonest test answer, the most a skill earns by making the",
        "target repeat one label. Wall time per task is the run's own (a cached",
        f"rerun is shorter); the whole suite took {wall:.1f} min here.",
    ]
    audit = [f"- {t}: {'; '.join(p)}" for t, p in problems.items() if p]
    notes += ["", "Audit of trained skills and meta-skills: " + ("clean" if not audit else "")]
    notes += audit
    held = [f"- {t}: {', '.join(ids)}" for t, ids in examples.items() if ids]
    if held:
        notes += ["", "Deliberate worked examples (training items with their gold answers):"]
        notes += held
    print(text)
    print("\n".join(notes))
    Path(args.markdown).write_text(text + "\n" + "\n".join(notes) + "\n", encoding="utf-8")
    return 1 if audit else 0


if __name__ == "__main__":
    sys.exit(main())
