"""`skillfit report`: one self-contained HTML page for a run or a comparison.

Plots are PNGs drawn with matplotlib and embedded as data URIs, so the page needs no network
and no script. A run's page holds: the test results, the audit of the trained skill
(audit.json), validation score per step with adopted and rejected candidates, the edit budget
and edits applied, tokens per step by role, skill size over time, a diff of every adopted
edit, and example test trajectories before and after.
"""

from __future__ import annotations

import base64
import difflib
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillfit.core.errors import TrainError
from skillfit.core.io import read_json, write_text_atomic
from skillfit.record import RunRecord, load_run, load_trajectories


class DamagedRun(TrainError):
    """A run file that cannot be read or holds values of the wrong type (said in one line:
    the CLI exits 2, as for any problem the user can fix)."""


def damage_line(run_dir: Path, damaged: dict[str, str]) -> str:
    """The first damaged file of a run, with what is wrong, and how many more there are."""
    name, problem = next(iter(damaged.items()))
    more = f" (and {len(damaged) - 1} more damaged files)" if len(damaged) > 1 else ""
    return f"{run_dir / name} is damaged: {problem}{more}"


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right} td:first-child,th:first-child{text-align:left}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;white-space:pre-wrap;font-size:.85em}
.add{color:#116329;background:#dafbe1}.del{color:#82071e;background:#ffebe9}
.plots img{max-width:100%;margin:.5em 0;border:1px solid #eee} .muted{color:#777}
details{margin:.4em 0}
"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(src: str, alt: str) -> str:
    return f'<img class="plot" alt="{html.escape(alt)}" src="{src}">'


def run_plots(rec: RunRecord) -> list[tuple[str, str]]:
    """(title, data URI) of each plot of a run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = rec.steps
    out: list[tuple[str, str]] = []
    xs = list(range(1, len(units) + 1))
    labels = [f"{s.step}" if s.kind == "step" else f"{s.kind[:4]}{s.epoch}" for s in units]

    fig, ax = plt.subplots(figsize=(9, 3.2))
    cur = [s.val_current for s in units]
    ax.plot(
        [x for x, v in zip(xs, cur, strict=True) if v is not None],
        [v for v in cur if v is not None],
        "o-",
        color="#4C72B0",
        label="current skill",
    )
    for adopted, color, name in ((True, "#2ca02c", "adopted"), (False, "#d62728", "rejected")):
        pts = [
            (x, s.val_candidate)
            for x, s in zip(xs, units, strict=True)
            if s.val_candidate is not None and s.adopted == adopted
        ]
        if pts:
            ax.scatter(
                [p[0] for p in pts],
                [p[1] for p in pts],
                color=color,
                marker="^" if adopted else "x",
                s=60,
                label=f"candidate {name}",
                zorder=3,
            )
    ax.set_ylim(-0.02, 1.02)
    if xs:
        ax.set_xticks(xs, labels)
    ax.set_xlabel("step")
    ax.set_ylabel("validation score")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Validation score per step")
    out.append(("Validation score per step", _png(fig)))

    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.bar(
        [x - 0.2 for x in xs],
        [s.budget for s in units],
        width=0.4,
        label="edit budget",
        color="#8172B2",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [s.applied for s in units],
        width=0.4,
        label="edits applied",
        color="#64B5CD",
    )
    if xs:
        ax.set_xticks(xs, labels)
    ax.set_ylabel("edits")
    ax.legend(fontsize=8)
    ax.set_title("Edit budget and edits applied")
    out.append(("Edit budget", _png(fig)))

    fig, ax = plt.subplots(figsize=(9, 2.8))
    roles = sorted({r for s in units for r in s.tokens})
    bottom = [0] * len(units)
    for role in roles:
        vals = [s.tokens[role].tokens if role in s.tokens else 0 for s in units]
        ax.bar(xs, vals, bottom=bottom, label=role)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    if xs:
        ax.set_xticks(xs, labels)
    ax.set_ylabel("tokens (paid)")
    if roles:
        ax.legend(fontsize=8)
    ax.set_title("Tokens per step by role")
    out.append(("Tokens per step", _png(fig)))

    fig, ax = plt.subplots(figsize=(9, 2.8))
    first = rec.skills[0].tokens if rec.skills else 0
    ax.step([0, *xs], [first, *[s.skill_tokens for s in units]], where="post", color="#55A868")
    ax.set_xticks([0, *xs], ["start", *labels])
    ax.set_ylabel("skill tokens")
    ax.set_title("Skill size over time")
    out.append(("Skill size", _png(fig)))
    return out


def _diff_html(a: str, b: str) -> str:
    rows = []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        cls = "add" if line.startswith("+") else "del" if line.startswith("-") else ""
        rows.append(f'<span class="{cls}">{html.escape(line)}</span>' if cls else html.escape(line))
    return "<pre>" + ("\n".join(rows) or "(no change)") + "</pre>"


def _test_table(rec: RunRecord) -> str:
    if rec.test is None:
        return '<p class="muted">No test evaluation yet.</p>'
    rows = [
        "<tr><th>skill</th><th>correct</th><th>accuracy</th><th>95% interval</th><th>valid format</th></tr>"
    ]
    for name, ev in rec.test.arms.items():
        fmt = "–" if ev.format_rate is None else f"{ev.format_rate:.2f}"
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{ev.correct}/{ev.scored}</td>"
            f"<td>{(ev.accuracy or 0):.3f}</td><td>[{(ev.ci_low or 0):.3f}, {(ev.ci_high or 0):.3f}]</td><td>{fmt}</td></tr>"
        )
    for name, d in rec.test.comparisons.items():
        if d.mean_diff is None:
            continue
        rows.append(
            f"<tr><td>{html.escape(name)} (paired)</td><td>{d.wins}W/{d.losses}L/{d.ties}T</td>"
            f"<td>{d.mean_diff:+.3f}</td><td>[{(d.ci_low or 0):+.3f}, {(d.ci_high or 0):+.3f}]</td>"
            f"<td>p={d.p_value if d.p_value is not None else float('nan'):.3g}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _audit(rec: RunRecord, limit: int = 10) -> str:
    """audit.json in a line, or its problems as a short list."""
    audit = rec.audit
    if audit is None:
        return (
            '<p class="muted" id="audit">No audit.json (a run of an earlier version, or not '
            "finished): <code>skillfit audit RUN_DIR</code> audits it.</p>"
        )
    if audit.clean:
        files = " and ".join(html.escape(f) for f in audit.files) or "nothing"
        examples = (
            f" Worked examples of training items, deliberate: "
            f"{html.escape(', '.join(audit.deliberate_examples))}."
            if audit.deliberate_examples
            else ""
        )
        return (
            f'<p id="audit">Clean: {files} read for '
            f"{html.escape('; '.join(audit.checked))}.{examples}</p>"
        )
    n = len(audit.problems)
    items = "".join(f"<li>{html.escape(p)}</li>" for p in audit.problems[:limit])
    more = f'<p class="muted">… and {n - limit} more in audit.json</p>' if n > limit else ""
    return (
        f'<p id="audit"><b>{n} problem{"s" if n != 1 else ""}</b> (audit.json; warnings, '
        f"the run is finished):</p><ul>{items}</ul>{more}"
    )


def _examples(run_dir: Path, limit: int = 3) -> str:
    before = {r.get("item_id"): r for r in load_trajectories(run_dir, "initial")}
    after = {r.get("item_id"): r for r in load_trajectories(run_dir, "best")}
    if not before or not after:
        return '<p class="muted">No test trajectories.</p>'

    def hard(r: dict[str, Any]) -> int | None:
        s = r.get("score") or {}
        return s.get("hard") if isinstance(s, dict) else None

    fixed = [i for i in after if i in before and hard(after[i]) == 1 and hard(before[i]) == 0]
    broken = [i for i in after if i in before and hard(after[i]) == 0 and hard(before[i]) == 1]
    same = [i for i in after if i in before and i not in fixed and i not in broken]
    parts = []
    for title, ids in (
        ("Fixed by the best skill", fixed),
        ("Broken by the best skill", broken),
        ("Unchanged", same),
    ):
        if not ids:
            continue
        parts.append(f"<h3>{title} ({len(ids)})</h3>")
        for i in ids[:limit]:
            b, a = before[i], after[i]
            question = next(
                (m.get("content", "") for m in a.get("messages", []) if m.get("role") == "user"), ""
            )
            parts.append(
                f"<details><summary>{html.escape(str(i))}</summary>"
                f"<pre>{html.escape(str(question)[:1500])}</pre>"
                f"<p><b>initial skill</b> (score {hard(b)}):</p><pre>{html.escape(str(b.get('answer', ''))[:1200])}</pre>"
                f"<p><b>best skill</b> (score {hard(a)}):</p><pre>{html.escape(str(a.get('answer', ''))[:1200])}</pre>"
                "</details>"
            )
    return "".join(parts)


def _page(title: str, body: str) -> str:
    # The script marks, once the page has loaded, how many plots decoded (read by the tests).
    script = (
        "<script>window.addEventListener('load',function(){var n=0;"
        "document.querySelectorAll('img.plot').forEach(function(i){if(i.complete&&i.naturalWidth>0)n++;});"
        "document.body.setAttribute('data-plots-rendered',String(n));});</script>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>{body}{script}</body></html>\n"
    )


def run_report(run_dir: str | os.PathLike[str]) -> str:
    root = Path(run_dir)
    rec = load_run(root)
    if rec.damaged:
        raise DamagedRun(damage_line(root, rec.damaged) + "; no report written")
    m = rec.meta
    head = (
        f"<h1>skillfit run: {html.escape(m.name)}</h1>"
        f"<p>task <b>{html.escape(m.task)}</b> · strategy <b>{html.escape(m.strategy)}</b> · "
        f"target <code>{html.escape(m.target)}</code> · optimizer <code>{html.escape(m.optimizer)}</code> · "
        f"status <b>{rec.status}</b> ({html.escape(rec.status_reason)}) · "
        f"{len([s for s in rec.steps if s.kind == 'step'])} steps, {len(rec.adopted_steps)} adopted</p>"
    )
    body = [head, "<h2>Test</h2>", _test_table(rec), "<h2>Audit of the trained skill</h2>"]
    body += [_audit(rec), '<h2>Training</h2><div class="plots">']
    body += [_img(src, title) for title, src in run_plots(rec)]
    body.append("</div><h2>Adopted edits</h2>")
    versions = {v.version: v.text for v in rec.skills}
    adopted = rec.adopted_steps
    if not adopted:
        body.append('<p class="muted">No candidate was adopted.</p>')
    for s in adopted:
        new = versions.get(s.skill_version, "")
        old = versions.get(s.skill_version - 1, "")
        gate = s.gate
        why = html.escape(gate.reason) if gate is not None else ""
        body.append(
            f"<h3>{html.escape(s.kind)} {s.step} (epoch {s.epoch}) → version {s.skill_version}</h3>"
            f"<p class='muted'>{why}</p>{_diff_html(old, new)}"
        )
    rejected = [s for s in rec.steps if s.applied and not s.adopted]
    if rejected:
        body.append("<h2>Rejected candidates</h2><ul>")
        for s in rejected:
            edits = "; ".join(s.applied_edits)
            body.append(f"<li>{html.escape(s.kind)} {s.step}: {html.escape(edits)[:400]}</li>")
        body.append("</ul>")
    body.append("<h2>Best skill</h2><pre>" + html.escape(rec.best_skill or "(empty)") + "</pre>")
    if rec.meta_skill:
        body.append("<h2>Meta-skill (the optimizer's notes, never deployed)</h2>")
        body.append("<pre>" + html.escape(rec.meta_skill) + "</pre>")
    body.append("<h2>Example test trajectories: initial skill vs best skill</h2>")
    body.append(_examples(root))
    return _page(f"skillfit report: {m.name}", "".join(body))


def write_run_report(
    run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    write_text_atomic(path, run_report(run_dir))
    return path


def compare_report(compare_dir: str | os.PathLike[str]) -> str:
    root = Path(compare_dir)
    data = read_json(root / "compare.json")
    meta = data.get("meta", {})
    body = [f"<h1>skillfit compare: {html.escape(str(meta.get('task', '')))}</h1>"]
    md = (root / "compare.md").read_text(encoding="utf-8") if (root / "compare.md").exists() else ""
    body.append(_md_table(md.splitlines()))
    png = root / "compare.png"
    if png.exists():
        src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
        body.append('<div class="plots">' + _img(src, "comparison") + "</div>")
    body.append("<h2>Runs</h2><ul>")
    for row in data.get("rows", []):
        for run in row.get("runs", []):
            p = Path(run)
            if (p / "runtime_state.json").exists():
                write_run_report(p)
                rel = os.path.relpath(p / "report.html", root)
                body.append(f"<li><a href='{html.escape(rel)}'>{html.escape(p.name)}</a></li>")
    body.append("</ul>")
    return _page(f"skillfit compare: {meta.get('task', '')}", "".join(body))


def _md_table(lines: Sequence[str]) -> str:
    out, rows = [], [ln for ln in lines if ln.startswith("|")]
    for i, ln in enumerate(rows):
        if set(ln.replace("|", "").strip()) <= {"-"}:
            continue
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        tag = "th" if i == 0 else "td"
        out.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
    head = [html.escape(ln.lstrip("# ")) for ln in lines if ln.startswith("#")]
    rest = [html.escape(ln) for ln in lines if ln and not ln.startswith(("|", "#"))]
    return (
        "".join(f"<p><b>{h}</b></p>" for h in head)
        + "<table>"
        + "".join(out)
        + "</table>"
        + "".join(f"<p>{r}</p>" for r in rest)
    )


def write_compare_report(
    compare_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    path = Path(out) if out is not None else Path(compare_dir) / "report.html"
    write_text_atomic(path, compare_report(compare_dir))
    return path
