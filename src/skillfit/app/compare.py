"""`skillfit compare`: several strategies on the same task, models, splits, cache and budget.

    result = compare("configs/quickstart.yaml", ["skillfit", "gepa", "oneshot", "none", "initial"])

Each (strategy, seed) is an ordinary run in `<out>/<strategy>-s<seed>/` (resumable, readable
with `skillfit.record.load_run` and `skillfit report`). The budget of target calls for training
is the same for every strategy: `target_calls` when given, else what the skillfit strategy
spent in its run of the same seed (run first). `budget_calls` / `budget_tokens` instead give
every strategy, skillfit included, the same budget of training calls / tokens (every role,
cache hits included: `train.budget_calls`, `train.budget_tokens`); GEPA then searches until it
is spent (checked between its iterations) unless `target_calls` caps its metric calls too. The table gives per strategy: test accuracy
(pooled over seeds, 95% Wilson interval), the paired difference against no skill and against
skillfit on the same test items (95% interval), the training target calls and tokens spent,
calls and tokens by role, and wall time; as markdown, CSV, JSON and a PNG plot. Each row also
keeps every seed's accuracy, training target calls and tokens, and training wall time
(`per_seed`), and the mean accuracy over the seeds.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillfit.core.errors import TrainError
from skillfit.core.io import read_json, write_json_atomic, write_text_atomic
from skillfit.core.stats import paired_difference, wilson_interval
from skillfit.record import load_run
from skillfit.record.models import RunRecord

COMPARE_FILE = "compare.json"
DEFAULT_STRATEGIES = ("skillfit", "gepa", "oneshot", "none", "initial")


@dataclass
class Row:
    strategy: str
    seeds: list[int]
    correct: int
    n: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    vs_none: dict[str, Any] | None
    vs_skillfit: dict[str, Any] | None
    train_target_calls: int
    calls: dict[str, int]
    tokens: dict[str, int]
    wall_seconds: float
    adopted: int = 0
    runs: list[str] = field(default_factory=list)
    # Prompt + completion tokens of the target while training (cache hits included, the test
    # left out), summed over the seeds: what `train_target_calls` cost in tokens.
    train_target_tokens: int = 0
    # Wall time less each run's test evaluation, summed over the seeds.
    train_wall_seconds: float = 0.0
    # The mean over the seeds of each seed's test accuracy (None when no seed was scored).
    mean_accuracy: float | None = None
    # Per seed: seed, correct, n, accuracy, train_target_calls, train_target_tokens,
    # wall_seconds, train_wall_seconds.
    per_seed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class CompareResult:
    out_dir: Path
    rows: list[Row]
    meta: dict[str, Any]

    def markdown(self) -> str:
        return to_markdown(self.rows, self.meta)


def per_item_scores(rec: RunRecord, arm: str = "best") -> dict[str, float]:
    """Each test item's mean hard score in `arm` (samples lost to infra errors left out)."""
    if rec.test is None or arm not in rec.test.arms:
        return {}
    out: dict[str, float] = {}
    for item, scores in rec.test.arms[arm].per_item.items():
        vals = [float(s) for s in scores if s is not None]
        if vals:
            out[item] = sum(vals) / len(vals)
    return out


def paired_summary(a: dict[str, float], b: dict[str, float]) -> dict[str, Any] | None:
    """The paired difference a − b over the items both scored, or None if none."""
    ids = [i for i in a if i in b]
    if not ids:
        return None
    res = paired_difference([a[i] for i in ids], [b[i] for i in ids])
    clean = res.to_dict()
    return {
        k: clean[k]
        for k in ("mean_diff", "ci_low", "ci_high", "p_value", "wins", "losses", "ties", "n")
    }


def target_calls_of(rec: RunRecord) -> int:
    return sum(
        int(s.tokens["target"].calls) + int(s.tokens["target"].cache_hits)
        for s in rec.steps
        if "target" in s.tokens
    )


def target_tokens_of(rec: RunRecord) -> int:
    """The target's prompt + completion tokens over the run's training steps, those of replies
    served from the response cache included (as `target_calls_of` counts hits): the test
    evaluation is not a step, so it is left out."""
    return sum(
        s.tokens["target"].tokens + int(s.tokens["target"].hit_tokens)
        for s in rec.steps
        if "target" in s.tokens
    )


def train_wall_of(rec: RunRecord, wall: float) -> float:
    """A run's wall time less its test evaluation: the time its strategy trained (and the run
    was set up)."""
    test = float(rec.test.seconds) if rec.test is not None else 0.0
    return max(0.0, float(wall) - test)


def compare(
    config: Any,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    *,
    seeds: int | Sequence[int] = 1,
    overrides: Sequence[str] = (),
    out_dir: str | os.PathLike[str] | None = None,
    target_calls: int | None = None,
    budget_calls: int | None = None,
    budget_tokens: int | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    run: Callable[..., Any] | None = None,
) -> CompareResult:
    """Run every strategy for every seed (skillfit first: its spending sets the budget) and
    write compare.{md,csv,json,png} in the compare directory. `run` defaults to skillfit.train."""
    from skillfit.app import build, training
    from skillfit.strategies import strategy_names

    train = run or training.train
    names = list(dict.fromkeys(s.strip() for s in strategies if s.strip()))
    unknown = [s for s in names if s not in strategy_names()]
    if unknown:
        raise TrainError(
            f"unknown strategies: {', '.join(unknown)} (known: {', '.join(strategy_names())})"
        )
    if not names:
        raise TrainError("no strategy to compare")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise TrainError("--seeds must be at least 1")
    cfg = build.load(config, overrides)
    if out_dir is None:
        slug = "".join(c if c.isalnum() else "-" for c in cfg.task.name).strip("-")
        out_dir = Path(cfg.run.out_dir) / f"compare-{slug}"
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    previous = read_json(root / COMPARE_FILE) if (root / COMPARE_FILE).exists() else {}
    walls: dict[str, float] = dict(previous.get("wall_seconds", {}))
    order = (["skillfit"] if "skillfit" in names else []) + [n for n in names if n != "skillfit"]
    budgets: dict[int, int | None] = {}
    records: dict[tuple[str, int], RunRecord] = {}
    meta: dict[str, Any] = {
        "task": cfg.task.name,
        "target": cfg.target.model,
        "optimizer": cfg.optimizer.model,
        "strategies": names,
        "seeds": seed_list,
        "overrides": list(overrides),
        "config": str(config) if not hasattr(config, "model_dump") else "(object)",
        "budget_calls": budget_calls,
        "budget_tokens": budget_tokens,
    }
    # A budget the user sets is every strategy's; the target calls skillfit spent are then
    # not imposed on the others on top of it.
    shared = [f"train.budget_calls={budget_calls}"] if budget_calls else []
    shared += [f"train.budget_tokens={budget_tokens}"] if budget_tokens else []
    derive = target_calls is None and not shared

    def save() -> None:
        write_json_atomic(
            root / COMPARE_FILE,
            {
                "meta": meta,
                "budgets": {str(k): v for k, v in budgets.items()},
                "wall_seconds": walls,
            },
        )

    for seed in seed_list:
        budgets[seed] = target_calls
        for name in order:
            key = f"{name}-s{seed}"
            sets = [*overrides, f"strategy.name={name}", f"train.seed={seed}", f"run.name={key}"]
            sets += shared
            if budgets[seed] is not None and name != "skillfit":
                sets.append(f"strategy.target_calls={budgets[seed]}")
            elif target_calls is not None:
                sets.append(f"strategy.target_calls={target_calls}")
            if progress:
                progress(
                    {
                        "event": "compare_start",
                        "strategy": name,
                        "seed": seed,
                        "budget": budgets[seed],
                    }
                )
            started = time.perf_counter()
            done_before = (root / key / "summary.json").exists() and key in walls
            result = train(config, overrides=sets, out_dir=root / key)
            if not done_before or key not in walls:
                walls[key] = round(time.perf_counter() - started, 1)
            rec = load_run(result.run_dir, with_events=False)
            records[(name, seed)] = rec
            if name == "skillfit" and budgets[seed] is None and derive:
                budgets[seed] = max(1, target_calls_of(rec))
            save()
            if progress:
                progress(
                    {"event": "compare_end", "strategy": name, "seed": seed, "wall": walls[key]}
                )
    meta["budgets"] = {str(k): v for k, v in budgets.items()}
    rows = [_row(name, seed_list, records, walls) for name in names]
    result = CompareResult(out_dir=root, rows=rows, meta=meta)
    write_outputs(result)
    return result


def _row(
    name: str,
    seeds: list[int],
    records: dict[tuple[str, int], RunRecord],
    walls: dict[str, float],
) -> Row:
    correct = n = calls_used = tokens_used = adopted = 0
    train_wall = 0.0
    per_seed: list[dict[str, Any]] = []
    vs_none_a: list[float] = []
    vs_none_b: list[float] = []
    vs_sf_a: list[float] = []
    vs_sf_b: list[float] = []
    calls: dict[str, int] = {}
    tokens: dict[str, int] = {}
    wall = 0.0
    runs = []
    for seed in seeds:
        rec = records[(name, seed)]
        runs.append(rec.meta.run_dir)
        best = per_item_scores(rec)
        seed_correct = int(round(sum(best.values())))
        correct += seed_correct
        n += len(best)
        none = (
            per_item_scores(records[("none", seed)])
            if ("none", seed) in records
            else per_item_scores(rec, "none")
        )
        for i in best:
            if i in none:
                vs_none_a.append(best[i])
                vs_none_b.append(none[i])
        if ("skillfit", seed) in records:
            sf = per_item_scores(records[("skillfit", seed)])
            for i in best:
                if i in sf:
                    vs_sf_a.append(best[i])
                    vs_sf_b.append(sf[i])
        seed_calls, seed_tokens = target_calls_of(rec), target_tokens_of(rec)
        calls_used += seed_calls
        tokens_used += seed_tokens
        adopted += sum(1 for s in rec.steps if s.adopted)
        for role, use in rec.tokens.items():
            calls[role] = calls.get(role, 0) + int(use.calls) + int(use.cache_hits)
            tokens[role] = tokens.get(role, 0) + use.tokens
        seed_wall = float(walls.get(f"{name}-s{seed}", 0.0))
        seed_train_wall = train_wall_of(rec, seed_wall)
        wall += seed_wall
        train_wall += seed_train_wall
        per_seed.append(
            {
                "seed": seed,
                "correct": seed_correct,
                "n": len(best),
                "accuracy": seed_correct / len(best) if best else None,
                "train_target_calls": seed_calls,
                "train_target_tokens": seed_tokens,
                "wall_seconds": round(seed_wall, 1),
                "train_wall_seconds": round(seed_train_wall, 1),
            }
        )
    acc = correct / n if n else None
    scored = [float(s["accuracy"]) for s in per_seed if s["accuracy"] is not None]
    mean_accuracy = sum(scored) / len(scored) if scored else None
    lo, hi = wilson_interval(correct, n) if n else (None, None)

    def diff(a: list[float], b: list[float]) -> dict[str, Any] | None:
        if not a:
            return None
        res = paired_difference(a, b).to_dict()
        return {
            k: res[k]
            for k in ("mean_diff", "ci_low", "ci_high", "p_value", "wins", "losses", "ties", "n")
        }

    return Row(
        strategy=name,
        seeds=list(seeds),
        correct=correct,
        n=n,
        accuracy=acc,
        ci_low=lo,
        ci_high=hi,
        vs_none=diff(vs_none_a, vs_none_b) if name != "none" else None,
        vs_skillfit=diff(vs_sf_a, vs_sf_b) if name != "skillfit" else None,
        train_target_calls=calls_used,
        calls=calls,
        tokens=tokens,
        wall_seconds=round(wall, 1),
        adopted=adopted,
        runs=runs,
        train_target_tokens=tokens_used,
        train_wall_seconds=round(train_wall, 1),
        mean_accuracy=mean_accuracy,
        per_seed=per_seed,
    )


HEADERS = [
    "strategy",
    "test accuracy [95% CI]",
    "vs none (points) [95% CI]",
    "vs skillfit (points) [95% CI]",
    "training target calls",
    "training target tokens",
    "calls (target / optimizer)",
    "tokens (target / optimizer)",
    "adopted",
    "wall time",
]


def budget_text(meta: dict[str, Any]) -> str:
    shared = [
        f"{meta[key]:,} {what}"
        for key, what in (("budget_calls", "calls"), ("budget_tokens", "tokens"))
        if meta.get(key)
    ]
    if shared:
        return " and ".join(shared) + " per run (every role, cache hits included)"
    return _target_budget_text(meta)


def _target_budget_text(meta: dict[str, Any]) -> str:
    """ "288 target calls per run" or "288 (seed 0), 301 (seed 1) target calls"."""
    budgets = meta.get("budgets") or {}
    values = set(budgets.values())
    if not budgets or values == {None}:
        return "none"
    if len(values) == 1:
        return f"{next(iter(values))} target calls per run"
    return ", ".join(f"{v} (seed {k})" for k, v in budgets.items()) + " target calls"


def _pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}"


def diff_cell(d: dict[str, Any] | None) -> str:
    """A paired difference in points with its interval; * when the interval excludes zero."""
    if not d or d.get("mean_diff") is None:
        return "–"
    star = " *" if (d.get("ci_low") or 0) > 0 or (d.get("ci_high") or 0) < 0 else ""
    return (
        f"{100 * d['mean_diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]{star}"
    )


def _k(x: int) -> str:
    return f"{x / 1000:.0f}k" if x >= 10_000 else f"{x / 1000:.1f}k" if x >= 1000 else str(x)


def _wall(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def table_rows(rows: Sequence[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        acc = (
            "–"
            if r.accuracy is None
            else f"{r.correct}/{r.n} = {r.accuracy:.3f} [{_pct(r.ci_low)}, {_pct(r.ci_high)}]"
        )
        out.append(
            [
                r.strategy,
                acc,
                diff_cell(r.vs_none),
                diff_cell(r.vs_skillfit),
                str(r.train_target_calls),
                _k(r.train_target_tokens),
                f"{r.calls.get('target', 0)} / {r.calls.get('optimizer', 0)}",
                f"{_k(r.tokens.get('target', 0))} / {_k(r.tokens.get('optimizer', 0))}",
                str(r.adopted),
                _wall(r.wall_seconds),
            ]
        )
    return out


def to_markdown(rows: Sequence[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"# Compare: {meta.get('task')} — target `{meta.get('target')}`, optimizer "
        f"`{meta.get('optimizer')}`, seeds {meta.get('seeds')}, training budget "
        f"{budget_text(meta)}",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(rows)]
    lines += [
        "",
        "Test accuracy pooled over seeds with a 95% Wilson interval (%); differences in points on "
        "the same test items with 95% paired intervals (* = the interval excludes zero). "
        "Training target calls and tokens: rollouts spent before the test (cache hits "
        "included); calls and tokens by role cover the whole run, test included.",
    ]
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "strategy", "correct", "n", "accuracy", "ci_low", "ci_high",
            "vs_none", "vs_none_low", "vs_none_high", "vs_none_p",
            "vs_skillfit", "vs_skillfit_low", "vs_skillfit_high", "vs_skillfit_p",
            "train_target_calls", "train_target_tokens", "target_calls", "optimizer_calls",
            "target_tokens", "optimizer_tokens", "adopted", "wall_seconds", "train_wall_seconds",
            "mean_accuracy",
        ]
    )  # fmt: skip
    for r in rows:

        def d(x: dict[str, Any] | None) -> list[Any]:
            return (
                [x.get(k) for k in ("mean_diff", "ci_low", "ci_high", "p_value")]
                if x
                else ["", "", "", ""]
            )

        w.writerow(
            [r.strategy, r.correct, r.n, r.accuracy, r.ci_low, r.ci_high, *d(r.vs_none),
             *d(r.vs_skillfit), r.train_target_calls, r.train_target_tokens,
             r.calls.get("target", 0), r.calls.get("optimizer", 0), r.tokens.get("target", 0),
             r.tokens.get("optimizer", 0), r.adopted, r.wall_seconds, r.train_wall_seconds,
             r.mean_accuracy]
        )  # fmt: skip
    return buf.getvalue()


def plot(rows: Sequence[Row], meta: dict[str, Any], path: Path) -> None:
    """Test accuracy with 95% intervals, and training target calls, per strategy (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.strategy for r in rows]
    acc = [r.accuracy or 0.0 for r in rows]
    lo = [max(0.0, (r.accuracy or 0.0) - (r.ci_low or 0.0)) for r in rows]
    hi = [max(0.0, (r.ci_high or 0.0) - (r.accuracy or 0.0)) for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.bar(names, acc, yerr=[lo, hi], capsize=4, color="#4C72B0")
    a1.set_ylim(0, 1)
    a1.set_ylabel("test accuracy (95% CI)")
    a1.set_title(str(meta.get("task", "")))
    a2.bar(names, [r.train_target_calls for r in rows], color="#DD8452")
    a2.set_ylabel("training target calls")
    a2.set_title(f"budget: {budget_text(meta)}")
    for ax in (a1, a2):
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(result: CompareResult) -> None:
    root = result.out_dir
    write_text_atomic(root / "compare.md", result.markdown())
    write_text_atomic(root / "compare.csv", to_csv(result.rows))
    data = read_json(root / COMPARE_FILE) if (root / COMPARE_FILE).exists() else {}
    data.update({"meta": result.meta, "rows": [r.to_dict() for r in result.rows]})
    write_json_atomic(root / COMPARE_FILE, data)
    plot(result.rows, result.meta, root / "compare.png")
