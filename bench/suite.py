"""The learning benchmark: does training teach the task, or only the answer format?

    nice python bench/suite.py [--tasks bbh/web_of_lies,gsm8k] [--out outputs/suite]
                               [--markdown bench/suite.md] [--set train.epochs=2 ...]
    nice python bench/suite.py --from-headroom [bench/headroom_results.json] [--seeds 3]
                               [--out outputs/suite-headroom] [--markdown bench/suite_headroom.md]

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

`--from-headroom` trains the pre-registered suite instead: the (task, target) pairs that
`bench/headroom.py --select` picks from the screen's results file, each with its target
(`target.model`) and `--seeds` training seeds (`skillfit train --seeds`: runs in
`<out>/<task>__<target>/seed-<s>`), and tests the pair's best hand skill (the initial skill
plus the screen's addition, built by bench/headroom.py) on the same test items through the
same config and response cache. The table gives each seed's trained − initial, their mean and
spread, the pooled paired interval, the hand skill's test gain, and whether the trained skill
gained at least half the hand skill's gain with the pooled interval above zero; then how many
pairs meet that (the learning issue asks for at least half), and the audit of every seed's
skill. Runs resume as above; the config must keep the screen's splits, token cap and harness.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from skillfit.app.seeds import SeedsResult
from skillfit.core.io import write_json_atomic
from skillfit.skill import Skill
from skillfit.train.evaluation import EvalResult

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


# --- the pre-registered suite: pairs from bench/headroom.py, several seeds each ---------------

HEADROOM = ROOT / "bench" / "headroom.py"
HEADROOM_RESULTS = ROOT / "bench" / "headroom_results.json"
CRITERION = "trained ≥ half of hand gain and pooled CI > 0"
# Differences are means of 0/1 (or seed-averaged) item scores: exactly half is half.
_TOLERANCE = 1e-9


def headroom_module() -> ModuleType:
    """bench/headroom.py, imported from its file (the bench folder is not a package): its
    `select`, `skill_texts` and `digest` are the screen's own."""
    name = "headroom_bench"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HEADROOM)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def meets_criterion(
    trained_mean: float | None, pooled_ci_low: float | None, hand_gain: float | None
) -> bool:
    """The learning issue's test of one pair: the trained skill's mean test gain over the
    initial skill (over the seeds) is at least half the best hand skill's test gain, and the
    pooled paired interval of trained − initial lies above zero. False when a figure is
    missing."""
    if trained_mean is None or pooled_ci_low is None or hand_gain is None:
        return False
    return trained_mean >= hand_gain / 2 - _TOLERANCE and pooled_ci_low > 0


def verdict_text(
    trained_mean: float | None, pooled_ci_low: float | None, hand_gain: float | None
) -> str:
    """ "yes" or "no", with the reason a "no" has."""
    if trained_mean is None or pooled_ci_low is None or hand_gain is None:
        return "no (not measured)"
    if meets_criterion(trained_mean, pooled_ci_low, hand_gain):
        return "yes"
    reasons = []
    if not trained_mean >= hand_gain / 2 - _TOLERANCE:
        reasons.append(f"{100 * trained_mean:+.1f} < {100 * hand_gain / 2:+.1f}")
    if not pooled_ci_low > 0:
        reasons.append("pooled CI reaches 0")
    return f"no ({'; '.join(reasons)})"


def pair_dir_name(task: str, target: str) -> str:
    """`bbh__web_of_lies__local-qwen2.5-coder-0.5b`: one folder per (task, target)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", target).strip("-")
    return f"{task.replace('/', '__')}__{slug}"


@dataclass
class PairResult:
    """One (task, target) pair of the suite: its seeds' runs and the hand skill on the test."""

    task: str
    target: str
    kind: str  # the best hand skill: procedure, examples or knowledge
    seeds: SeedsResult
    initial: dict[str, float]  # each test item's initial-skill score, mean over the seeds
    hand: EvalResult
    hand_vs_initial: dict[str, Any] | None
    problems: dict[int, list[str]]  # seed -> audit problems of its kept skill and meta-skill
    examples: dict[int, list[str]]  # seed -> deliberate worked examples

    @property
    def trained_mean(self) -> float | None:
        mean = self.seeds.spread()["mean"]
        return None if mean is None else float(mean)

    @property
    def pooled_ci_low(self) -> float | None:
        pooled = self.seeds.pooled_vs_initial or {}
        return None if pooled.get("ci_low") is None else float(pooled["ci_low"])

    @property
    def hand_gain(self) -> float | None:
        gain = (self.hand_vs_initial or {}).get("mean_diff")
        return None if gain is None else float(gain)

    @property
    def meets(self) -> bool:
        return meets_criterion(self.trained_mean, self.pooled_ci_low, self.hand_gain)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "target": self.target,
            "hand_skill": self.kind,
            "seeds": self.seeds.to_dict(),
            "hand_test": {k: v for k, v in self.hand.to_dict().items() if k != "per_item"},
            "hand_vs_initial": self.hand_vs_initial,
            "trained_mean_vs_initial": self.trained_mean,
            "meets_criterion": self.meets,
            "audit": {str(s): p for s, p in self.problems.items()},
        }


def check_settings(cfg: Any, settings: dict[str, Any]) -> list[str]:
    """How the training config differs from the screen's settings (splits, the target's token
    cap and temperature, the harness): the hand skills were chosen, and their worked examples checked to be
    training items, under those settings only."""
    options = dict(cfg.task.options or {})
    found = {k: options.get(k) for k in ("n_train", "n_val", "n_test", "seed")}
    found["max_tokens"] = options.get("max_tokens", cfg.target.max_tokens)
    found["harness"] = cfg.target.harness
    found["temperature"] = options.get("temperature", cfg.target.temperature)
    settings = {"temperature": 0.0, **settings}  # the screen's tasks decode at 0
    return [
        f"{key} is {found[key]!r}, the screen's {settings[key]!r}"
        for key in found
        if key in settings and found[key] != settings[key]
    ]


def check_decoding(hr: ModuleType, results: Any, pick: Any) -> str | None:
    """Why the pair cannot be trained under this process's decoding, or None: the screen chose
    it from replies decoded one way, and another decoding is another target in places."""
    record = results.get(pick.target, pick.task, pick.skill) or {}
    screened, here = hr.record_decoding(record), hr.decoding_for(pick.target)
    if screened == here:
        return None
    return (
        f"{pick.task} @ {pick.target}: the screen measured it under {screened}, this process "
        f"decodes under {here} (SKILLFIT_LOCAL_DECODING); run bench/headroom.py again or set "
        "the screen's decoding"
    )


def hand_skill(hr: ModuleType, results: Any, skills: dict[str, Any], pick: Any) -> str:
    """The pick's hand skill as the screen built and measured it (the initial skill plus the
    addition); SystemExit when bench/headroom_skills.yaml changed it since."""
    if pick.task not in skills:
        raise SystemExit(f"{pick.task}: no hand-written skills in the skills file")
    text: str = hr.skill_texts(hr.make_task(pick.task), skills[pick.task])[pick.skill]
    record = results.get(pick.target, pick.task, pick.skill) or {}
    if record.get("skill_sha") != hr.digest(text):
        raise SystemExit(
            f"{pick.task} {pick.skill}: the hand skill changed since the screen measured it "
            f"for {pick.target}; run bench/headroom.py again before training on its suite"
        )
    return text


def run_pair(
    pick: Any,
    text: str,
    config: str,
    seeds: int,
    overrides: list[str],
    root: Path,
) -> PairResult:
    """Train `seeds` seeds of one pair into `root/seed-<s>` (resumed from files and the
    response cache), test the hand skill on the same test items, audit every seed's skill."""
    from skillfit import evaluate
    from skillfit.app.audit import audit_run, run_examples
    from skillfit.app.compare import paired_summary, per_item_scores
    from skillfit.app.seeds import mean_over, train_seeds
    from skillfit.record import load_run

    name = f"{pick.task} @ {pick.target}"

    def progress(event: dict[str, Any]) -> None:
        if event["event"] == "seed_start":
            print(f"[suite] {name}: seed {event['seed']} ({event['of']} seeds)", flush=True)
        elif event["event"] in ("gate", "test_eval", "meta_skill"):
            brief = {k: v for k, v in event.items() if k in ("step", "accepted", "arm")}
            print(f"[suite] {name}: {event['event']} {json.dumps(brief)}", flush=True)

    pair = [f"task.name={pick.task}", f"target.model={pick.target}", *overrides]
    # No force: a run of the same config resumes from its files (a finished one costs nothing),
    # one of another config is refused rather than moved aside.
    result = train_seeds(config, seeds, overrides=pair, out_dir=root, progress=progress)
    records = [load_run(r.run_dir, with_events=False) for r in result.runs]
    initial = mean_over([per_item_scores(rec, "initial") for rec in records])
    # The hand skill under the same config as the runs' test arms: same task, items, target,
    # token cap, harness, samples and response cache, so its replies are cached with theirs.
    print(f"[suite] {name}: testing the hand skill ({pick.skill})", flush=True)
    hand = evaluate(Skill.parse(text), config, split="test", overrides=pair)
    scores = {i: s for i, s in hand.item_means().items() if s is not None}
    vs = paired_summary(scores, initial)
    (root / "hand_skill.md").write_text(text, encoding="utf-8")
    write_json_atomic(
        root / "hand_test.json", {"kind": pick.skill, **hand.to_dict(), "vs_initial": vs}
    )
    problems = {r.seed: audit_run(r.run_dir) for r in result.runs}
    examples = {r.seed: run_examples(r.run_dir) for r in result.runs}
    return PairResult(
        pick.task, pick.target, pick.skill, result, initial, hand, vs, problems, examples
    )


HEADROOM_HEADER = (
    "| task | target | seed | initial | trained | trained − initial, points [95% CI] | adopted "
    f"| mean (sd) over seeds | pooled [95% CI] | hand skill | hand − initial [95% CI] "
    f"| {CRITERION} |"
)


def pair_rows(p: PairResult) -> list[str]:
    """One row per seed, then the pair's row: mean and spread over the seeds, the pooled
    interval, the hand skill's test result and the verdict."""
    from skillfit.app.compare import diff_cell
    from skillfit.app.seeds import accuracy_cell

    rows = []
    for r in p.seeds.runs:
        cells = [
            p.task,
            p.target,
            str(r.seed),
            accuracy_cell(r.correct["initial"], r.n),
            accuracy_cell(r.correct["best"], r.n),
            diff_cell(r.vs_initial),
            str(r.adopted),
            "",
            "",
            "",
            "",
            "",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    spread = p.seeds.spread()
    mean = "–"
    if spread["mean"] is not None:
        sd = "–" if spread["sd"] is None else f"{100 * spread['sd']:.1f}"
        mean = f"{100 * spread['mean']:+.1f} (sd {sd})"
    hand = f"{p.kind}: {accuracy_cell(p.hand.correct, p.hand.scored)}"
    cells = [
        p.task,
        p.target,
        f"all {len(p.seeds.runs)}",
        "",
        "",
        "",
        "",
        mean,
        diff_cell(p.seeds.pooled_vs_initial),
        hand,
        diff_cell(p.hand_vs_initial),
        verdict_text(p.trained_mean, p.pooled_ci_low, p.hand_gain),
    ]
    rows.append("| " + " | ".join(cells) + " |")
    return rows


def criterion_line(pairs: list[PairResult]) -> str:
    met = sum(1 for p in pairs if p.meets)
    if not pairs:
        return "No pair to train: the results file selects no suite."
    done = "met" if 2 * met >= len(pairs) else "not met"
    return (
        f"{met} of {len(pairs)} pairs meet the criterion ({CRITERION}); the issue asks for at "
        f"least half: {done}."
    )


def headroom_table(pairs: list[PairResult]) -> str:
    sep = "|" + "---|" * HEADROOM_HEADER.count(" | ") + "---|"
    rows = [r for p in pairs for r in pair_rows(p)]
    return "\n".join([HEADROOM_HEADER, sep, *rows, "", criterion_line(pairs)])


def run_headroom(args: argparse.Namespace, seeds: int) -> int:
    """The pre-registered suite (`bench/headroom.py --select`), `seeds` training seeds per
    pair, the hand skill tested beside them, one table."""
    from skillfit.api import load

    hr = headroom_module()
    if not Path(args.from_headroom).is_file():
        raise SystemExit(f"{args.from_headroom}: no such results file (run bench/headroom.py)")
    results = hr.Results.open(Path(args.from_headroom))
    picks = hr.select(results)
    considered = sum(len(t) for t in results.data["results"].values())
    print(hr.suite_text(picks, considered), flush=True)
    skills = hr.load_skills(Path(args.skills))
    out = Path(args.out or ROOT / "outputs" / "suite-headroom")
    keep_root = Path(args.keep or ROOT / "bench" / "suite_headroom")
    texts = {}
    for pick in picks:  # every pair checked before anything is trained
        pair = [f"task.name={pick.task}", f"target.model={pick.target}", *args.overrides]
        wrong = check_settings(load(args.config, pair), results.data["settings"])
        mismatch = check_decoding(hr, results, pick)
        if mismatch:
            raise SystemExit(mismatch)
        if wrong:
            raise SystemExit(
                f"{pick.task} @ {pick.target}: the config is not the screen's: " + "; ".join(wrong)
            )
        texts[(pick.task, pick.target)] = hand_skill(hr, results, skills, pick)
    started = time.perf_counter()
    pairs: list[PairResult] = []
    for pick in picks:
        root = out / pair_dir_name(pick.task, pick.target)
        print(f"[suite] {pick.task} @ {pick.target}: {seeds} seeds in {root}", flush=True)
        p = run_pair(
            pick, texts[(pick.task, pick.target)], args.config, seeds, args.overrides, root
        )
        pairs.append(p)
        for r in p.seeds.runs:
            keep = keep_root / root.name / f"seed-{r.seed}"
            keep.mkdir(parents=True, exist_ok=True)
            run_dir = Path(r.run_dir)
            shutil.copy(run_dir / "best_skill.md", keep / "best_skill.md")
            metas = sorted((run_dir / "meta_skill").glob("epoch_*/meta_skill.md"))
            if metas:
                shutil.copy(metas[-1], keep / "meta_skill.md")
            (keep / "config.json").write_text((run_dir / "config.json").read_text())
        print("\n".join([HEADROOM_HEADER, *pair_rows(p)]), flush=True)
    write_json_atomic(out / "suite_headroom.json", {"pairs": [p.to_dict() for p in pairs]})
    text = headroom_table(pairs)
    wall = (time.perf_counter() - started) / 60
    notes = [
        "",
        f"Pairs from `bench/headroom.py --select` on {args.from_headroom}, {seeds} training",
        "seeds each. Test accuracy as correct/scored [95% Wilson interval, %]; differences in",
        "points with 95% paired intervals (* = interval off zero). Pooled: each test item's",
        "trained score averaged over the seeds, paired with the initial skill. Hand skill: the",
        "screen's best hand-written skill (initial skill plus the addition) on the same test",
        f"items, through the same config and cache. The whole run took {wall:.1f} min here.",
    ]
    audit = [
        f"- {p.task} @ {p.target} seed {s}: {'; '.join(problems)}"
        for p in pairs
        for s, problems in p.problems.items()
        if problems
    ]
    notes += [
        "",
        "Audit of every seed's kept skill and meta-skill: " + ("clean" if not audit else ""),
    ]
    notes += audit
    held = [
        f"- {p.task} @ {p.target} seed {s}: {', '.join(ids)}"
        for p in pairs
        for s, ids in p.examples.items()
        if ids
    ]
    if held:
        notes += ["", "Deliberate worked examples (training items with their gold answers):"]
        notes += held
    print(text)
    print("\n".join(notes))
    markdown = Path(args.markdown or ROOT / "bench" / "suite_headroom.md")
    markdown.write_text(text + "\n" + "\n".join(notes) + "\n", encoding="utf-8")
    return 1 if audit else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", help="comma-separated task names (default: the suite's seven)")
    ap.add_argument("--config", default=str(ROOT / "configs" / "suite.yaml"))
    ap.add_argument("--out", help="runs go here (default: outputs/suite, outputs/suite-headroom)")
    ap.add_argument(
        "--markdown", help="the table (default: bench/suite.md, bench/suite_headroom.md)"
    )
    ap.add_argument("--keep", help="copy skills here (default: bench/suite, bench/suite_headroom)")
    ap.add_argument(
        "--force",
        action="store_true",
        help="move a run of another config aside and retrain it (default: resume, refuse a changed run)",
    )
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument(
        "--from-headroom",
        nargs="?",
        const=str(HEADROOM_RESULTS),
        metavar="RESULTS",
        help="train the pre-registered suite of bench/headroom.py --select on this results "
        "file (default bench/headroom_results.json), --seeds per (task, target) pair",
    )
    ap.add_argument("--seeds", type=int, help="with --from-headroom: training seeds per pair (3)")
    ap.add_argument(
        "--skills",
        default=str(ROOT / "bench" / "headroom_skills.yaml"),
        help="with --from-headroom: the hand-written skills the screen measured",
    )
    args = ap.parse_args(argv)
    if args.from_headroom is None:
        if args.seeds is not None:
            ap.error("--seeds goes with --from-headroom")
        return run_tasks(args)
    if args.tasks is not None:
        ap.error("--tasks does not go with --from-headroom: the results file names the pairs")
    seeds = 3 if args.seeds is None else args.seeds
    if seeds < 1:
        ap.error("--seeds must be 1 or more")
    from skillfit.core.errors import TrainError

    try:
        return run_headroom(args, seeds)
    except TrainError as exc:  # a run directory of another config, a bad key: said plainly
        raise SystemExit(f"suite: {exc}") from None


def run_tasks(args: argparse.Namespace) -> int:
    """One training per task (the default): the table of `table_row`s."""
    from skillfit import train
    from skillfit.app.audit import audit_run, run_examples

    tasks = [t.strip() for t in (args.tasks or ",".join(DEFAULT_TASKS)).split(",") if t.strip()]
    out = Path(args.out or ROOT / "outputs" / "suite")
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
            force=args.force,
            progress=progress,
        )
        seconds = time.perf_counter() - t0
        summary = dict(result.summary)
        rows.append(table_row(task, summary, float(summary.get("seconds") or seconds), run_dir))
        problems[task] = audit_run(run_dir)
        examples[task] = run_examples(run_dir)
        keep = Path(args.keep or ROOT / "bench" / "suite") / task.replace("/", "__")
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
    Path(args.markdown or ROOT / "bench" / "suite.md").write_text(
        text + "\n" + "\n".join(notes) + "\n", encoding="utf-8"
    )
    return 1 if audit else 0


if __name__ == "__main__":
    sys.exit(main())
