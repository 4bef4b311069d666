"""Charts as inline SVG, drawn on the server: no script library, nothing fetched at view time.

Every label is escaped; numbers are formatted by us. Presentation attributes (fill, stroke)
rather than style attributes, so the page's content security policy needs no inline styles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

GREEN, RED, BLUE, GREY, AMBER = "#1a7f37", "#cf222e", "#0969da", "#8c959f", "#bf8700"


@dataclass(frozen=True)
class CurvePoint:
    x: float  # step number
    incumbent: float | None  # the current skill's validation score after the step
    candidate: float | None  # the candidate's validation score (None: no gate ran)
    adopted: bool
    kind: str = "step"  # step or slow_update
    train: float | None = None  # train batch score of the step
    label: str = ""


def validation_curve(points: Sequence[CurvePoint], *, start: float | None = None) -> Markup:
    """The validation score of the current skill after each step (a line), each gated
    candidate (green dot: adopted, red cross: rejected; diamonds for epoch-end updates) and the
    train batch score (grey dashes)."""
    w, h, left, right, top, bottom = 720, 300, 48, 16, 16, 56
    pw, ph = w - left - right, h - top - bottom
    n = max([p.x for p in points] + [1.0])
    ys = [v for p in points for v in (p.incumbent, p.candidate, p.train) if v is not None]
    if start is not None:
        ys.append(start)
    lo, hi = 0.0, max([1.0, *ys])

    def sx(x: float) -> float:
        return left + pw * (x / n if n else 0.0)

    def sy(y: float) -> float:
        return top + ph * (1 - (y - lo) / (hi - lo or 1.0))

    out = [
        f'<svg class="chart" role="img" aria-label="validation curve" viewBox="0 0 {w} {h}" '
        f'width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(6):  # grid and y labels
        y = lo + (hi - lo) * i / 5
        out.append(
            f'<line x1="{left}" x2="{w - right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
            f'stroke="#d0d7de" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#57606a">{y:.1f}</text>'
        )
    ticks = sorted({int(p.x) for p in points} | {0})
    for t in ticks:
        out.append(
            f'<text x="{sx(t):.1f}" y="{h - bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="#57606a">{t}</text>'
        )
    out.append(
        f'<text x="{left + pw / 2:.1f}" y="{h - bottom + 32}" text-anchor="middle" '
        f'font-size="12" fill="#24292f">step</text>'
    )
    # The current skill's validation score: before the first step (the first gate's
    # measurement of the initial skill), then after each gated step.
    line: list[tuple[float, float]] = []
    first = next((p for p in points if p.candidate is not None), None)
    if start is not None:
        line.append((0.0, start))
    elif first is not None and first.incumbent is not None:
        before = first.incumbent if not first.adopted else None
        if before is not None:
            line.append((0.0, before))
    for p in points:
        if p.incumbent is not None:
            line.append((p.x, p.incumbent))
    if line:
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{sx(x):.1f} {sy(y):.1f}" for i, (x, y) in enumerate(line)
        )
        out.append(
            f'<path class="incumbent" d="{d}" fill="none" stroke="{BLUE}" stroke-width="2.5"/>'
        )
        for x, y in line:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{BLUE}"/>')
    train = [(p.x, p.train) for p in points if p.kind == "step" and p.train is not None]
    if len(train) >= 2:
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{sx(x):.1f} {sy(y):.1f}" for i, (x, y) in enumerate(train)
        )
        out.append(
            f'<path d="{d}" fill="none" stroke="{GREY}" stroke-width="1.5" stroke-dasharray="5 4"/>'
        )
    for x, y in train if len(train) < 2 else []:
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{GREY}"/>')
    for p in points:
        if p.candidate is None:
            continue
        cx, cy = sx(p.x), sy(p.candidate)
        title = f"<title>{escape(p.label)}</title>"
        color = GREEN if p.adopted else RED
        cls = "adopted" if p.adopted else "rejected"
        if p.kind == "slow_update":
            out.append(
                f'<path class="cand {cls}" d="M{cx:.1f} {cy - 7:.1f} L{cx + 7:.1f} {cy:.1f} '
                f'L{cx:.1f} {cy + 7:.1f} L{cx - 7:.1f} {cy:.1f} Z" fill="{color}" '
                f'fill-opacity="0.85">{title}</path>'
            )
        elif p.adopted:
            out.append(
                f'<circle class="cand adopted" cx="{cx:.1f}" cy="{cy:.1f}" r="6" '
                f'fill="{GREEN}">{title}</circle>'
            )
        else:
            out.append(
                f'<path class="cand rejected" d="M{cx - 5:.1f} {cy - 5:.1f} L{cx + 5:.1f} '
                f'{cy + 5:.1f} M{cx - 5:.1f} {cy + 5:.1f} L{cx + 5:.1f} {cy - 5:.1f}" '
                f'stroke="{RED}" stroke-width="2.5">{title}</path>'
            )
    # Legend.
    ly = h - 12
    items = [
        (
            f'<line x1="0" x2="18" y1="0" y2="0" stroke="{BLUE}" stroke-width="2.5"/>',
            "current skill (val)",
        ),
        (f'<circle cx="9" cy="0" r="5" fill="{GREEN}"/>', "adopted candidate"),
        (
            f'<path d="M5 -4 L13 4 M5 4 L13 -4" stroke="{RED}" stroke-width="2.5"/>',
            "rejected candidate",
        ),
        (
            f'<path d="M9 -6 L15 0 L9 6 L3 0 Z" fill="none" stroke="{GREY}" stroke-width="1.5"/>',
            "epoch-end candidate",
        ),
        (
            f'<line x1="0" x2="18" y1="0" y2="0" stroke="{GREY}" stroke-width="1.5" '
            f'stroke-dasharray="5 4"/>',
            "train batch",
        ),
    ]
    x = left
    for icon, label in items:
        out.append(
            f'<g transform="translate({x},{ly})">{icon}<text x="22" y="4" font-size="11" '
            f'fill="#24292f">{escape(label)}</text></g>'
        )
        x += 30 + 5.9 * len(label)
    if not points:
        out.append(
            f'<text x="{left + pw / 2:.1f}" y="{top + ph / 2:.1f}" text-anchor="middle" '
            f'font-size="13" fill="#57606a">no step has finished yet</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None


def interval_bars(bars: Sequence[Bar], *, title: str = "accuracy") -> Markup:
    """Horizontal bars with their intervals (whiskers), one row per label, 0..1."""
    row, left, w, right = 26, 220, 720, 60
    h = 24 + row * max(1, len(bars)) + 20
    pw = w - left - right

    def sx(v: float) -> float:
        return left + pw * max(0.0, min(1.0, v))

    out = [
        f'<svg class="chart bars" role="img" aria-label="{escape(title)}" viewBox="0 0 {w} {h}" '
        f'width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(6):
        v = i / 5
        out.append(
            f'<line x1="{sx(v):.1f}" x2="{sx(v):.1f}" y1="16" y2="{h - 20}" stroke="#d0d7de"/>'
            f'<text x="{sx(v):.1f}" y="{h - 6}" text-anchor="middle" font-size="11" '
            f'fill="#57606a">{v:.1f}</text>'
        )
    for i, bar in enumerate(bars):
        y = 20 + i * row
        label = bar.label if len(bar.label) <= 32 else bar.label[:31] + "…"
        out.append(
            f'<text x="{left - 8}" y="{y + 13}" text-anchor="end" font-size="12" '
            f'fill="#24292f">{escape(label)}</text>'
        )
        if bar.value is None:
            continue
        out.append(
            f'<rect x="{left}" y="{y + 2}" width="{sx(bar.value) - left:.1f}" height="{row - 10}" '
            f'fill="{BLUE}" fill-opacity="0.75"><title>{escape(bar.label)}: '
            f"{bar.value:.3f}</title></rect>"
        )
        if bar.low is not None and bar.high is not None:
            mid = y + 2 + (row - 10) / 2
            out.append(
                f'<path d="M{sx(bar.low):.1f} {mid:.1f} H{sx(bar.high):.1f} M{sx(bar.low):.1f} '
                f"{mid - 5:.1f} V{mid + 5:.1f} M{sx(bar.high):.1f} {mid - 5:.1f} V{mid + 5:.1f}"
                f'" stroke="#24292f" stroke-width="1.5"/>'
            )
        out.append(
            f'<text x="{sx(bar.high if bar.high is not None else bar.value) + 6:.1f}" '
            f'y="{y + 13}" font-size="11" fill="#24292f">{bar.value:.3f}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))
