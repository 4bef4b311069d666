"""The skillfit loop against GEPA on the pre-registered suite (the learning and efficiency issues).

    nice python bench/suite_compare.py [RESULTS] [--seeds 3]
                                       [--strategies skillfit,gepa,none,initial]
                                       [--budget-tokens N] [--budget-calls N]
                                       [--out outputs/suite-compare]
                                       [--markdown bench/suite_compare.md] [--set KEY=VALUE ...]

For each (task, target) pair `bench/headroom.py --select` picks from the screen's results file
(default bench/headroom_results.json), refused like `bench/suite.py --from-headroom` when the
config is not the screen's (splits, token cap, temperature, harness), this runs `skillfit
compare` (the API: same splits, cache and budget for every strategy) with `configs/suite.yaml`
and the pair's target, `--seeds` seeds per strategy. Without `--budget-tokens` /
`--budget-calls` GEPA's budget of training target calls is what the skillfit loop spent in its
run of the same seed (compare's default); with either, every strategy gets that budget. The
runs lie in `<out>/<task>__<target>/<strategy>-s<seed>` with the pair's compare.{md,csv,json,
png}; a rerun resumes them from their files and every model call from the response cache.

The response cache is `<out>/cache.sqlite` unless `--set cache.path=...` names one: a cache a
`bench/suite.py --from-headroom` run has filled already holds the skillfit loop's replies, so
its runs here would take no time and the wall-time comparison would mean nothing. Inside the
compare the strategies share it, the skillfit loop first: replies GEPA asks for too (the initial
skill on validation and training items) are paid by the skillfit loop and served to GEPA from
the cache, so the wall time leans toward GEPA. Training target tokens count such cached replies
(as the training target calls do), so they do not lean.

`bench/suite_compare.md` gets one table, a row per pair: each strategy's mean test accuracy over
the seeds with each seed's, GEPA − skillfit on the same test items pooled over the seeds with its
paired 95% interval, the training budget, each side's training target tokens and training wall
time (the run's wall time less its test evaluation), summed over the seeds, and two verdicts:
"skillfit ≥ GEPA accuracy" (mean over seeds) and "skillfit ≤ GEPA training target tokens and
wall time". Then how many pairs meet each: the learning issue asks for the accuracy on at least
half of the pairs, the efficiency issue for the tokens and time on every pair.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from skillfit.app.compare import CompareResult, Row
from skillfit.core.io import write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "bench" / "suite.py"
DEFAULT_STRATEGIES = ("skillfit", "gepa", "none", "initial")
ACCURACY = "skillfit ≥ GEPA accuracy"
COST = "skillfit ≤ GEPA training target tokens and wall time"
# Accuracies are means of 0/1 item scores over the seeds: equal is equal.
_TOLERANCE = 1e-9


def suite_module() -> ModuleType:
    """bench/suite.py, imported from its file: its headroom module, settings check and pair
    folder names are the suite's own."""
    name = "suite_bench"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SUITE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# --- the verdicts ----------------------------------------------------------------------------


def accuracy_verdict(skillfit: float | None, gepa: float | None) -> bool:
    """The skillfit loop's mean test accuracy over the seeds is at least GEPA's. False when
    either is missing."""
    if skillfit is None or gepa is None:
        return False
    return skillfit >= gepa - _TOLERANCE


def cost_verdict(
    skillfit_tokens: int | None,
    gepa_tokens: int | None,
    skillfit_seconds: float | None,
    gepa_seconds: float | None,
) -> bool:
    """The skillfit loop spent no more training target tokens and no more training wall time
    than GEPA. False when a figure is missing."""
    if None in (skillfit_tokens, gepa_tokens, skillfit_seconds, gepa_seconds):
        return False
    assert skillfit_tokens is not None and gepa_tokens is not None
    assert skillfit_seconds is not None and gepa_seconds is not None
    return skillfit_tokens <= gepa_tokens and skillfit_seconds <= gepa_seconds


def accuracy_text(skillfit: float | None, gepa: float | None) -> str:
    """ "yes", or "no" with the two means."""
    if skillfit is None or gepa is None:
        return "no (not measured)"
    if accuracy_verdict(skillfit, gepa):
        return "yes"
    return f"no ({100 * skillfit:.1f} < {100 * gepa:.1f})"


def cost_text(
    skillfit_tokens: int | None,
    gepa_tokens: int | None,
    skillfit_seconds: float | None,
    gepa_seconds: float | None,
) -> str:
    """ "yes", or "no" with what the skillfit loop spent more of."""
    if None in (skillfit_tokens, gepa_tokens, skillfit_seconds, gepa_seconds):
        return "no (not measured)"
    if cost_verdict(skillfit_tokens, gepa_tokens, skillfit_seconds, gepa_seconds):
        return "yes"
    assert skillfit_tokens is not None and gepa_tokens is not None
    assert skillfit_seconds is not None and gepa_seconds is not None
    reasons = []
    if skillfit_tokens > gepa_tokens:
        reasons.append(f"tokens {tokens_cell(skillfit_tokens)} > {tokens_cell(gepa_tokens)}")
    if skillfit_seconds > gepa_seconds:
        reasons.append(f"time {minutes_cell(skillfit_seconds)} > {minutes_cell(gepa_seconds)}")
    return f"no ({'; '.join(reasons)})"


def tokens_cell(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def minutes_cell(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


# --- one pair --------------------------------------------------------------------------------


@dataclass
class PairCompare:
    """One (task, target) pair of the suite and its compare."""

    task: str
    target: str
    result: CompareResult

    def row(self, strategy: str) -> Row | None:
        return next((r for r in self.result.rows if r.strategy == strategy), None)

    def figure(self, strategy: str, key: str) -> Any:
        """A figure of one strategy's row (`mean_accuracy`, `train_target_tokens`, ...); None
        when the strategy was not run."""
        row = self.row(strategy)
        return None if row is None else getattr(row, key)

    def _accuracy(self) -> tuple[float | None, float | None]:
        return self.figure("skillfit", "mean_accuracy"), self.figure("gepa", "mean_accuracy")

    def _cost(self) -> tuple[int | None, int | None, float | None, float | None]:
        return (
            self.figure("skillfit", "train_target_tokens"),
            self.figure("gepa", "train_target_tokens"),
            self.figure("skillfit", "train_wall_seconds"),
            self.figure("gepa", "train_wall_seconds"),
        )

    @property
    def accuracy_met(self) -> bool:
        return accuracy_verdict(*self._accuracy())

    @property
    def cost_met(self) -> bool:
        return cost_verdict(*self._cost())

    def verdicts(self) -> tuple[str, str]:
        """The two verdict cells: accuracy, then tokens and time."""
        return accuracy_text(*self._accuracy()), cost_text(*self._cost())

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "target": self.target,
            "compare_dir": str(self.result.out_dir),
            "budget": self.result.meta.get("budgets"),
            "rows": [r.to_dict() for r in self.result.rows],
            "accuracy_met": self.accuracy_met,
            "cost_met": self.cost_met,
        }


def accuracy_cell(row: Row | None) -> str:
    """ "58.3 (56.7, 60.0)": the mean test accuracy over the seeds, then each seed's, in %."""
    if row is None or row.mean_accuracy is None:
        return "–"
    seeds = ", ".join(
        "–" if s["accuracy"] is None else f"{100 * s['accuracy']:.1f}" for s in row.per_seed
    )
    return f"{100 * row.mean_accuracy:.1f} ({seeds})"


HEADER = (
    "| task | target | skillfit test % mean (per seed) | GEPA test % mean (per seed) "
    "| none | initial | GEPA − skillfit, points [95% CI] | training budget "
    "| training target tokens (skillfit / GEPA) | training wall time (skillfit / GEPA) "
    f"| {ACCURACY} | {COST} |"
)


def pair_row(p: PairCompare) -> str:
    from skillfit.app.compare import budget_text, diff_cell

    sf, gepa = p.row("skillfit"), p.row("gepa")

    def both(fmt: Any, key: str) -> str:
        values = [getattr(r, key) if r is not None else None for r in (sf, gepa)]
        return " / ".join("–" if v is None else fmt(v) for v in values)

    cells = [
        p.task,
        p.target,
        accuracy_cell(sf),
        accuracy_cell(gepa),
        accuracy_cell(p.row("none")),
        accuracy_cell(p.row("initial")),
        diff_cell(gepa.vs_skillfit if gepa is not None else None),
        budget_text(p.result.meta),
        both(tokens_cell, "train_target_tokens"),
        both(minutes_cell, "train_wall_seconds"),
        *p.verdicts(),
    ]
    return "| " + " | ".join(cells) + " |"


def verdict_lines(pairs: list[PairCompare]) -> list[str]:
    """How many pairs meet each verdict, against what the issues ask."""
    if not pairs:
        return ["No pair to compare: the results file selects no suite."]
    m = len(pairs)
    acc = sum(1 for p in pairs if p.accuracy_met)
    cost = sum(1 for p in pairs if p.cost_met)
    return [
        f"{acc} of {m} pairs: skillfit accuracy ≥ GEPA's (needed: at least half): "
        + ("met." if 2 * acc >= m else "not met."),
        f"{cost} of {m} pairs: skillfit spent no more training target tokens and no more "
        "training wall time than GEPA (needed: every pair): "
        + ("met." if cost == m else "not met."),
    ]


def table(pairs: list[PairCompare]) -> str:
    sep = "|" + "---|" * HEADER.count(" | ") + "---|"
    return "\n".join([HEADER, sep, *(pair_row(p) for p in pairs), "", *verdict_lines(pairs)])


def run_pair(pick: Any, args: argparse.Namespace, root: Path) -> PairCompare:
    """`skillfit compare` of the strategies on one pair, resumed from `root` and the cache."""
    from skillfit.app.compare import compare

    name = f"{pick.task} @ {pick.target}"

    def progress(event: dict[str, Any]) -> None:
        if event["event"] == "compare_start":
            budget = event.get("budget")
            more = f", budget {budget} target calls" if budget else ""
            print(f"[compare] {name}: {event['strategy']} seed {event['seed']}{more}", flush=True)
        elif event["event"] == "compare_end":
            print(f"[compare] {name}: done in {event['wall']:.0f} s", flush=True)

    result = compare(
        args.config,
        args.strategies,
        seeds=args.seeds,
        overrides=pair_overrides(pick, args),
        out_dir=root,
        budget_calls=args.budget_calls,
        budget_tokens=args.budget_tokens,
        progress=progress,
    )
    return PairCompare(pick.task, pick.target, result)


def pair_overrides(pick: Any, args: argparse.Namespace) -> list[str]:
    """The pair's task and target, the user's overrides, and the bench's own cache unless the
    user named one."""
    sets = [f"task.name={pick.task}", f"target.model={pick.target}", *args.overrides]
    if not any(s.startswith("cache.path=") for s in args.overrides):
        sets.append(f"cache.path={Path(args.out) / 'cache.sqlite'}")
    return sets


def run(args: argparse.Namespace) -> int:
    from skillfit.api import load

    suite = suite_module()
    hr = suite.headroom_module()
    if not Path(args.results).is_file():
        raise SystemExit(f"{args.results}: no such results file (run bench/headroom.py)")
    results = hr.Results.open(Path(args.results))
    picks = hr.select(results)
    considered = sum(len(t) for t in results.data["results"].values())
    print(hr.suite_text(picks, considered), flush=True)
    for pick in picks:  # every pair checked before anything runs
        mismatch = suite.check_decoding(hr, results, pick)
        if mismatch:
            raise SystemExit(mismatch)
        wrong = suite.check_settings(
            load(args.config, pair_overrides(pick, args)), results.data["settings"]
        )
        if wrong:
            raise SystemExit(
                f"{pick.task} @ {pick.target}: the config is not the screen's: " + "; ".join(wrong)
            )
    out = Path(args.out)
    started = time.perf_counter()
    pairs: list[PairCompare] = []
    for pick in picks:
        root = out / suite.pair_dir_name(pick.task, pick.target)
        print(f"[compare] {pick.task} @ {pick.target}: {args.seeds} seeds in {root}", flush=True)
        pairs.append(run_pair(pick, args, root))
        print("\n".join([HEADER, pair_row(pairs[-1])]), flush=True)
    write_json_atomic(out / "suite_compare.json", {"pairs": [p.to_dict() for p in pairs]})
    text = table(pairs)
    wall = (time.perf_counter() - started) / 60
    strategies = ", ".join(args.strategies)
    notes = [
        "",
        f"Pairs from `bench/headroom.py --select` on {args.results}; `skillfit compare` of "
        f"{strategies} with {args.seeds} seeds each,",
        "the same splits, response cache and training budget for every strategy. Test accuracy:",
        "the mean over the seeds of each seed's correct/scored (%), each seed's in brackets.",
        "GEPA − skillfit: the paired difference on the same test items, pooled over the seeds,",
        "with its 95% interval (* = interval off zero). Training target tokens: the target's",
        "prompt + completion tokens before the test, replies from the response cache included;",
        "training wall time: each run's wall time less its test evaluation; both summed over",
        "the seeds. The skillfit loop runs first in each seed and pays for the replies GEPA",
        "then reads from the shared cache, so the time comparison leans toward GEPA; a run",
        "resumed after a kill counts only the time after the resume.",
        f"The whole run took {wall:.1f} min here.",
    ]
    print(text)
    print("\n".join(notes))
    markdown = Path(args.markdown)
    markdown.write_text(text + "\n" + "\n".join(notes) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "results",
        nargs="?",
        default=str(ROOT / "bench" / "headroom_results.json"),
        help="the screen's results file (default bench/headroom_results.json)",
    )
    ap.add_argument("--config", default=str(ROOT / "configs" / "suite.yaml"))
    ap.add_argument("--seeds", type=int, default=3, help="seeds per strategy (3)")
    ap.add_argument(
        "--strategies",
        default=",".join(DEFAULT_STRATEGIES),
        help="comma-separated, skillfit and gepa among them (default skillfit,gepa,none,initial)",
    )
    ap.add_argument(
        "--budget-tokens",
        type=int,
        help="training tokens each run may spend, every strategy the same (train.budget_tokens)",
    )
    ap.add_argument(
        "--budget-calls",
        type=int,
        help="training model calls each run may make, every strategy the same (train.budget_calls)",
    )
    ap.add_argument("--out", default=str(ROOT / "outputs" / "suite-compare"))
    ap.add_argument("--markdown", default=str(ROOT / "bench" / "suite_compare.md"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    args.strategies = list(
        dict.fromkeys(s.strip() for s in args.strategies.split(",") if s.strip())
    )
    missing = [s for s in ("skillfit", "gepa") if s not in args.strategies]
    if missing:
        ap.error(f"--strategies must include {' and '.join(missing)}: the verdicts compare them")
    if args.seeds < 1:
        ap.error("--seeds must be 1 or more")
    for flag in ("budget_tokens", "budget_calls"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be 1 or more")
    from skillfit.core.errors import TrainError

    try:
        return run(args)
    except TrainError as exc:  # a run directory of another config, a bad key: said plainly
        raise SystemExit(f"suite_compare: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
