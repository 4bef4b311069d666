"""The dashboard's templates: a Jinja2 environment whose every printed value is redacted, and
the filters the pages format numbers, tokens and times with."""

from __future__ import annotations

import time
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from skillfit.models.redact import redact


def _finalize(value: Any) -> Any:
    """Every value a template prints is redacted (a key pasted anywhere never shows)."""
    if isinstance(value, Markup):  # tojson, charts: redacting leaves markup intact
        return Markup(redact(str(value)))
    if isinstance(value, str):
        return redact(value)
    return value


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("skillfit.dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda x, d=3: "–" if x is None else f"{x:.{d}f}"
    env.filters["signed"] = lambda x, d=3: "–" if x is None else f"{x:+.{d}f}"
    env.filters["pval"] = lambda p: "–" if p is None else ("< 0.0001" if p < 1e-4 else f"{p:.4f}")
    env.filters["tokens"] = _tokens
    env.filters["duration"] = _duration
    env.filters["ago"] = _ago
    return env


def _tokens(n: int | float | None) -> str:
    if not n:
        return "0"
    n = float(n)
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return f"{int(n)}"


def _duration(s: float | None) -> str:
    if s is None:
        return "–"
    s = float(s)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _ago(t: float | None) -> str:
    if not t:
        return "–"
    return _duration(max(0.0, time.time() - t)) + " ago"
