"""A `skillfit compare` directory as a table and a plot, read tolerantly.

It reads `compare.json`. Rows of the shape `skillfit compare` writes (`strategy`, `accuracy`,
`ci_low`, `ci_high`, `vs_none`, `vs_skillfit`, calls, tokens, wall time, the runs) get their own
table, each run linked to its page; any other list of rows (or an object holding one under
`rows`, `runs`, `strategies` or `results`) is shown column by column (nested objects flattened
one level as `key.sub`). The plot shows accuracy with its interval. `compare.md` is shown as it
is when present.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from skillfit.dashboard.charts import Bar, interval_bars
from skillfit.models.redact import redact, redact_obj

_ROW_KEYS = ("rows", "runs", "strategies", "results", "arms")
_LABEL_KEYS = ("strategy", "name", "run", "label", "arm")
_VALUE_KEYS = ("test_accuracy", "accuracy", "test.accuracy", "best.accuracy", "best_accuracy")


@dataclass
class StrategyRow:
    strategy: str
    seeds: str
    correct: int
    n: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    vs_none: dict[str, Any] | None
    vs_skillfit: dict[str, Any] | None
    train_target_calls: int | None
    calls: dict[str, Any]
    tokens: dict[str, Any]
    adopted: int | None
    wall_seconds: float | None
    runs: list[tuple[str, str]]  # (label, listed run name or "")


@dataclass
class CompareView:
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    strategies: list[StrategyRow] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    chart: Markup | None = None
    markdown: str = ""
    problem: str = ""


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _dict(x: Any) -> dict[str, Any]:
    return dict(x) if isinstance(x, dict) else {}


def _strategy_rows(rows: list[dict[str, Any]], names: dict[Path, str]) -> list[StrategyRow]:
    out = []
    for r in rows:
        runs = []
        for run in r.get("runs") or []:
            path = Path(str(run))
            try:
                key = path.resolve()
            except OSError:
                key = path
            runs.append((path.name, names.get(key) or names.get(Path(path.name), "")))
        out.append(
            StrategyRow(
                strategy=str(r.get("strategy", "")),
                seeds=", ".join(str(x) for x in r.get("seeds") or []),
                correct=int(r.get("correct") or 0),
                n=int(r.get("n") or 0),
                accuracy=_num(r.get("accuracy")),
                ci_low=_num(r.get("ci_low")),
                ci_high=_num(r.get("ci_high")),
                vs_none=r.get("vs_none") if isinstance(r.get("vs_none"), dict) else None,
                vs_skillfit=r.get("vs_skillfit")
                if isinstance(r.get("vs_skillfit"), dict)
                else None,
                train_target_calls=r.get("train_target_calls"),
                calls=_dict(r.get("calls")),
                tokens=_dict(r.get("tokens")),
                adopted=r.get("adopted"),
                wall_seconds=_num(r.get("wall_seconds")),
                runs=runs,
            )
        )
    return out


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                if not isinstance(vv, dict | list):
                    out[f"{k}.{kk}"] = vv
        elif not isinstance(v, list):
            out[k] = v
    return out


def read(path: Path, run_names: dict[Path, str] | None = None) -> CompareView:
    """The comparison in `path`; `run_names` maps run directories to their listed names."""
    view = CompareView()
    md = path / "compare.md"
    if md.is_file():
        with contextlib.suppress(OSError):
            view.markdown = redact(md.read_text(encoding="utf-8"))
    try:
        data = json.loads((path / "compare.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        view.problem = f"compare.json cannot be read: {exc}"
        return view
    rows: Any = data
    if isinstance(data, dict):
        rows = next((data[k] for k in _ROW_KEYS if isinstance(data.get(k), list | dict)), [])
        if isinstance(rows, dict):
            rows = [{"name": k, **v} for k, v in rows.items() if isinstance(v, dict)]
    if not isinstance(rows, list):
        view.problem = "compare.json holds no rows"
        return view
    if isinstance(data, dict) and isinstance(data.get("meta"), dict):
        view.meta = {
            k: v for k, v in redact_obj(data["meta"]).items() if not isinstance(v, dict | list)
        }
    dict_rows = [redact_obj(r) for r in rows if isinstance(r, dict)]
    if dict_rows and all("strategy" in r and "accuracy" in r for r in dict_rows):
        view.strategies = _strategy_rows(dict_rows, run_names or {})
        view.chart = interval_bars(
            [Bar(r.strategy, r.accuracy, r.ci_low, r.ci_high) for r in view.strategies],
            title="test accuracy",
        )
        return view
    flat = [_flat(redact_obj(r)) for r in rows if isinstance(r, dict)]
    columns: list[str] = []
    for r in flat:
        columns += [k for k in r if k not in columns]
    view.columns, view.rows = columns, flat
    value_key = next((k for k in _VALUE_KEYS if k in columns), None)
    label_key = next((k for k in _LABEL_KEYS if k in columns), None)
    if value_key and label_key:
        prefix = value_key.rsplit(".", 1)[0] + "." if "." in value_key else ""
        bars = []
        for r in flat:
            v = r.get(value_key)
            lo, hi = r.get(prefix + "ci_low"), r.get(prefix + "ci_high")
            bars.append(
                Bar(
                    str(r.get(label_key, "")),
                    float(v) if isinstance(v, int | float) else None,
                    float(lo) if isinstance(lo, int | float) else None,
                    float(hi) if isinstance(hi, int | float) else None,
                )
            )
        view.chart = interval_bars(bars, title=value_key)
    return view
