"""What the pages show, computed from the typed run record (`skillfit.record`).

The record gives the run (meta, status, steps, skills, test results, events, proposals,
gates, trajectories); the few things it does not yet carry (a step's candidate skill text and
its selected edits in full) are read here by `_unit_file`, with numbers, never names, choosing
the file.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillfit.dashboard.charts import CurvePoint
from skillfit.models.redact import redact, redact_obj
from skillfit.record import RunRecord, load_run
from skillfit.record.reader import load_proposals, load_trajectories

# ---- the runs table ---------------------------------------------------------------------


@dataclass
class RunRow:
    name: str
    task: str
    target: str
    optimizer: str
    strategy: str
    status: str
    status_reason: str
    phase: str
    steps_done: int
    steps_total: int
    adopted: int
    best_val: float | None
    test_acc: float | None
    test_low: float | None
    test_high: float | None
    test_n: int
    tokens: int
    cache_hits: int
    seconds: float
    last_activity: float | None


def tokens_of(rec: RunRecord) -> int:
    """Every token the run paid for so far: the run's totals once it is done, else the sum
    over finished steps and the test evaluation."""
    if rec.tokens:
        return sum(u.tokens for u in rec.tokens.values())
    total = sum(u.tokens for s in rec.steps for u in s.tokens.values())
    if rec.test is not None:
        total += sum(u.tokens for u in rec.test.tokens.values())
    return total


def cache_hits_of(rec: RunRecord) -> int:
    """Calls answered from the response cache (paid by an earlier run, free in this one)."""
    if rec.tokens:
        return sum(u.cache_hits for u in rec.tokens.values())
    return sum(u.cache_hits for s in rec.steps for u in s.tokens.values())


def run_row(name: str, rec: RunRecord) -> RunRow:
    best = rec.test.arms.get("best") if rec.test is not None else None
    return RunRow(
        name=name,
        task=rec.meta.task,
        target=redact(rec.meta.target),
        optimizer=redact(rec.meta.optimizer),
        strategy=rec.meta.strategy,
        status=rec.status,
        status_reason=redact(rec.status_reason),
        phase=live_phase(rec) if rec.status == "running" else rec.phase,
        steps_done=rec.global_step,
        steps_total=rec.total_steps,
        adopted=len(rec.adopted_steps),
        best_val=rec.best_score,
        test_acc=best.accuracy if best is not None else None,
        test_low=best.ci_low if best is not None else None,
        test_high=best.ci_high if best is not None else None,
        test_n=best.n_items if best is not None else 0,
        tokens=tokens_of(rec),
        cache_hits=cache_hits_of(rec),
        seconds=wall_seconds(rec),
        last_activity=rec.last_activity,
    )


def load(path: Path) -> RunRecord:
    return load_run(path)


# ---- a run: live status and curve -------------------------------------------------------


def wall_seconds(rec: RunRecord, now: float | None = None) -> float:
    """Seconds of work so far: the record's figure, or from the first event to now while the
    run is going."""
    if rec.status == "running" and rec.events:
        return max(rec.seconds, (now or time.time()) - rec.events[0].ts)
    return rec.seconds


def live_phase(rec: RunRecord) -> str:
    """What the run is doing now, from its latest event (the record's event stream)."""
    if rec.status == "done":
        return f"finished ({rec.stopped or 'done'})"
    for e in reversed(rec.events):
        d = e.data
        if e.event == "step_start":
            return f"step {d.get('step')}: rollouts"
        if e.event == "rollouts":
            return f"step {d.get('step')}: optimizer reflecting"
        if e.event == "gate":
            return f"step {d.get('step')}: gate decided"
        if e.event == "step_end":
            unit = d.get("record") or {}
            if unit.get("kind") == "slow_update":
                return f"epoch {unit.get('epoch')}: slow update done"
            return f"step {unit.get('step')} done"
        if e.event == "slow_update_start":
            return f"epoch {d.get('epoch')}: slow update"
        if e.event == "meta_skill":
            return f"epoch {d.get('epoch')}: meta-skill notes"
        if e.event == "test_eval":
            return f"test: {d.get('arm')} skill"
        if e.event == "run_start":
            return "starting"
        if e.event == "run_failed":
            return "stopped: " + redact(str(d.get("error", "")))
    return rec.phase or "–"


def curve(rec: RunRecord) -> tuple[list[CurvePoint], float | None]:
    points: list[CurvePoint] = []
    start: float | None = None
    incumbent: float | None = None
    for s in rec.steps:
        g = s.gate
        cand = g.candidate_mean if g is not None else None
        if g is not None and start is None and incumbent is None:
            start = g.current_mean
        if g is not None:
            incumbent = g.candidate_mean if s.adopted else g.current_mean
        where = "epoch-end update" if s.kind == "slow_update" else f"step {s.step}"
        label = f"{where}: " + (
            f"candidate {cand:.3f} vs current {g.current_mean:.3f}: "
            + ("adopted" if s.adopted else "rejected")
            if g is not None and cand is not None and g.current_mean is not None
            else (s.note or "no gate")
        )
        x = s.step + (0.5 if s.kind == "slow_update" else 0.0)
        points.append(
            CurvePoint(
                x=x,
                incumbent=incumbent,
                candidate=cand,
                adopted=s.adopted,
                kind=s.kind,
                train=s.train_score,
                label=label,
            )
        )
    return points, start


# ---- lineage ----------------------------------------------------------------------------


@dataclass
class Unit:
    """One step or epoch-end update: the candidate it built from `parent` and what the gate
    said."""

    key: str  # s<step> or e<epoch>: names the unit in URLs
    label: str
    kind: str
    step: int
    epoch: int
    parent: int
    child: int | None  # the version it became, if adopted
    edits: list[dict[str, Any]]
    edit_lines: list[str]
    proposed: int
    guard_rejected: int
    verdict: str  # adopted / rejected / no gate
    gate_line: str
    current: float | None
    candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    note: str
    has_candidate: bool


@dataclass
class Version:
    version: int
    parent: int | None
    made_by: str  # the unit key, or "" for the initial skill
    made_by_label: str
    tokens: int
    val: float | None
    is_best: bool
    edits: list[str] = field(default_factory=list)


def unit_dir(run_dir: Path, key: str) -> Path | None:
    """The folder of unit `key` (s<step> or e<epoch>), built from its number only."""
    kind, number = _parse_key(key)
    if kind is None:
        return None
    if kind == "s":
        return run_dir / "steps" / f"step_{number:04d}"
    return run_dir / "slow_update" / f"epoch_{number:02d}"


def _parse_key(key: str) -> tuple[str | None, int]:
    if len(key) < 2 or key[0] not in "se" or not key[1:].isdigit() or len(key) > 7:
        return None, 0
    return key[0], int(key[1:])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def units(rec: RunRecord) -> list[Unit]:
    root = Path(rec.meta.run_dir)
    out = []
    for s in rec.steps:
        key = f"e{s.epoch}" if s.kind == "slow_update" else f"s{s.step}"
        folder = unit_dir(root, key)
        selected = _read_json(folder / "selected.json") if folder else None
        edits = []
        if isinstance(selected, dict):
            for i, c in enumerate(selected.get("selected") or []):
                if not isinstance(c, dict):
                    continue
                outcome = selected.get("outcomes") or [None] * (i + 1)
                o = outcome[i] if i < len(outcome) and isinstance(outcome[i], dict) else {}
                edits.append(
                    {
                        "index": i,
                        **redact_obj(c.get("edit") or {}),
                        "sources": c.get("sources") or [],
                        "applied": bool(o.get("applied", True)),
                        "outcome": redact(str(o.get("reason", ""))),
                    }
                )
        g = s.gate
        parent = s.skill_version - 1 if s.adopted else s.skill_version
        verdict = "adopted" if s.adopted else ("rejected" if g is not None else "no gate")
        out.append(
            Unit(
                key=key,
                label=f"epoch {s.epoch} update" if s.kind == "slow_update" else f"step {s.step}",
                kind=s.kind,
                step=s.step,
                epoch=s.epoch,
                parent=parent,
                child=s.skill_version if s.adopted else None,
                edits=edits,
                edit_lines=[redact(e) for e in s.applied_edits],
                proposed=s.proposed,
                guard_rejected=s.guard_rejected,
                verdict=verdict,
                gate_line=redact(g.reason) if g is not None else redact(s.note),
                current=g.current_mean if g is not None else None,
                candidate=g.candidate_mean if g is not None else None,
                diff=g.mean_diff if g is not None else None,
                ci_low=g.ci_low if g is not None else None,
                ci_high=g.ci_high if g is not None else None,
                p_value=g.p_value if g is not None else None,
                note=redact(s.note),
                has_candidate=bool(folder and (folder / "candidate_skill.md").is_file()),
            )
        )
    return out


def versions(rec: RunRecord, unit_list: list[Unit]) -> list[Version]:
    made = {u.child: u for u in unit_list if u.child is not None}
    out = []
    for sv in rec.skills:
        u = made.get(sv.version)
        out.append(
            Version(
                version=sv.version,
                parent=u.parent if u is not None else (None if sv.version == 1 else sv.version - 1),
                made_by=u.key if u is not None else "",
                made_by_label=u.label if u is not None else "initial skill",
                tokens=sv.tokens,
                val=u.candidate if u is not None else _first_current(unit_list),
                is_best=sv.version == rec.best_version,
                edits=u.edit_lines if u is not None else [],
            )
        )
    return out


def _first_current(unit_list: list[Unit]) -> float | None:
    return next((u.current for u in unit_list if u.current is not None), None)


def skill_refs(rec: RunRecord, unit_list: list[Unit]) -> list[tuple[str, str]]:
    """Every skill text a diff can name: versions (v<n>) and gated candidates (c<unit>)."""
    refs = [
        (f"v{sv.version}", f"v{sv.version}" + (" (best)" if sv.version == rec.best_version else ""))
        for sv in rec.skills
    ]
    for u in unit_list:
        if u.has_candidate and u.child is None and u.verdict == "rejected":
            refs.append((f"c{u.key}", f"{u.label} candidate (rejected, from v{u.parent})"))
    return refs


def skill_text(rec: RunRecord, ref: str) -> str | None:
    """The text a ref names, or None. Refs are parsed into numbers; no name reaches a path."""
    if ref.startswith("v") and ref[1:].isdigit():
        n = int(ref[1:])
        return next((sv.text for sv in rec.skills if sv.version == n), None)
    if ref.startswith("c"):
        folder = unit_dir(Path(rec.meta.run_dir), ref[1:])
        if folder is None:
            return None
        try:
            return (folder / "candidate_skill.md").read_text(encoding="utf-8")
        except OSError:
            return None
    return None


# ---- trajectories behind an edit --------------------------------------------------------


@dataclass
class TrajRow:
    item_id: str
    hard: float | None
    feedback: str
    answer: str
    input: str
    target: str
    error: str
    version: str = ""


@dataclass
class Reading:
    """What the optimizer wrote about the rollouts behind an edit: its analysis, and in the
    `diagnose` reflection the diagnosis of each minibatch's mistakes."""

    analysis: list[str] = field(default_factory=list)
    diagnoses: list[str] = field(default_factory=list)


def _plain(x: Any) -> str:
    """A parsed optimizer reply as readable lines (`key: value`, lists one item a line)."""
    if isinstance(x, dict):
        lines = []
        for k, v in x.items():
            if isinstance(v, list):
                lines.append(f"{k}:")
                lines += [f"  - {_plain(i)}" for i in v]
            else:
                lines.append(f"{k}: {_plain(v)}")
        return "\n".join(lines)
    if isinstance(x, list):
        return "\n".join(f"- {_plain(i)}" for i in x)
    return str(x)


def behind_edit(
    rec: RunRecord, key: str, index: int
) -> tuple[Unit | None, dict[str, Any] | None, list[TrajRow], Reading]:
    """The unit, its edit `index`, the rollouts of the minibatches the edit came from
    (failures first: what the optimizer read) and what the optimizer said about them."""
    reading = Reading()
    unit_list = units(rec)
    unit = next((u for u in unit_list if u.key == key), None)
    if unit is None:
        return None, None, [], reading
    edit = next((e for e in unit.edits if e["index"] == index), None)
    kind, number = _parse_key(key)
    root = Path(rec.meta.run_dir)
    if kind == "s":
        proposals = load_proposals(root, number)
        rows = load_trajectories(root, "train", step=number)
    else:
        proposals = load_proposals(root, number, kind="slow_update")
        rows = _jsonl(root / "slow_update" / f"epoch_{number:02d}" / "rollouts.jsonl")
    wanted: set[str] = set()
    sources = set(edit.get("sources") or []) if edit else set()
    for p in proposals:
        if sources and p.index not in sources:
            continue
        extra = p.model_extra or {}
        wanted.update(str(i) for i in extra.get("item_ids") or [])
        if extra.get("analysis"):
            reading.analysis.append(redact(str(extra["analysis"])))
        for d in extra.get("diagnoses") or []:
            parsed = (
                ((d or {}).get("optimizer") or {}).get("parsed") if isinstance(d, dict) else None
            )
            if parsed:
                reading.diagnoses.append(redact(_plain(parsed)))
    picked = [r for r in rows if not wanted or str(r.get("item_id")) in wanted]
    out = [_traj(r) for r in picked]
    out.sort(key=lambda t: (t.hard if t.hard is not None else -1.0, t.item_id))
    return unit, edit, out, reading


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _traj(r: dict[str, Any]) -> TrajRow:
    score = r.get("score") if isinstance(r.get("score"), dict) else {}
    hard = score.get("hard") if score else None
    return TrajRow(
        item_id=str(r.get("item_id", "")),
        hard=float(hard) if isinstance(hard, int | float) else None,
        feedback=redact(str(score.get("feedback", ""))) if score else "",
        answer=redact(str(r.get("answer", ""))),
        input=redact(str(r.get("input", ""))),
        target=redact(
            json.dumps(r.get("target"), ensure_ascii=False)
            if not isinstance(r.get("target"), str)
            else str(r.get("target"))
        ),
        error=redact(str(r.get("error") or "")),
        version=str(r.get("version", "")),
    )
