"""A `skillfit compare` directory as a table and a plot, read tolerantly.

It reads `compare.json`: a list of rows, or an object holding one under `rows`, `runs`,
`strategies` or `results` (each row a flat object; nested objects are flattened one level as
`key.sub`); the plot shows the first accuracy-like column with its interval when the row
carries `ci_low`/`ci_high` beside it. `compare.md` is shown as it is when present.
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
class CompareView:
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    chart: Markup | None = None
    markdown: str = ""
    problem: str = ""


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


def read(path: Path) -> CompareView:
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
