"""A run's lineage for the pages: its units (steps and epoch-end updates) with their edits
and gate verdicts, its skill versions, the texts a diff can name, and the rollouts behind an
edit. The record gives the units; a unit's selected edits and candidate skill are read here,
with numbers, never names, choosing the file. A file of the wrong shape is named in
`rec.damaged` and left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillfit.models.redact import redact, redact_obj
from skillfit.record import RunRecord
from skillfit.record.reader import load_proposals, load_trajectories

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


def _selected_edits(rec: RunRecord, folder: Path | None) -> list[dict[str, Any]]:
    """The selected edits of a unit (selected.json); an entry of the wrong shape is left out
    and the file named in `rec.damaged`."""
    if folder is None:
        return []
    where = folder.relative_to(Path(rec.meta.run_dir)) / "selected.json"
    selected = _read_json(folder / "selected.json")
    if selected is None:
        return []
    if not isinstance(selected, dict):
        rec.damaged.setdefault(str(where), "holds no object")
        return []
    entries = selected.get("selected") or []
    outcomes = selected.get("outcomes") or []
    if not isinstance(entries, list) or not isinstance(outcomes, list):
        rec.damaged.setdefault(str(where), "selected and outcomes should be lists")
        return []
    edits = []
    for i, c in enumerate(entries):
        edit = c.get("edit") if isinstance(c, dict) else None
        sources = c.get("sources") if isinstance(c, dict) else None
        if not isinstance(edit, dict) or not isinstance(sources, list | None):
            got = repr(edit if isinstance(c, dict) else c)[:40]
            rec.damaged.setdefault(str(where), f"edit {i + 1} should be an object, got {got}")
            continue
        o = outcomes[i] if i < len(outcomes) and isinstance(outcomes[i], dict) else {}
        edits.append(
            {
                "index": i,
                **{str(k): redact_obj(v) for k, v in edit.items()},
                "sources": [x for x in sources or [] if isinstance(x, int)],
                "applied": bool(o.get("applied", True)),
                "outcome": redact(str(o.get("reason", ""))),
            }
        )
    return edits


def units(rec: RunRecord) -> list[Unit]:
    root = Path(rec.meta.run_dir)
    out = []
    for s in rec.steps:
        key = f"e{s.epoch}" if s.kind == "slow_update" else f"s{s.step}"
        folder = unit_dir(root, key)
        edits = _selected_edits(rec, folder)
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
    folder = unit_dir(root, key)
    try:
        if kind == "s":
            proposals = load_proposals(root, number)
        else:
            proposals = load_proposals(root, number, kind="slow_update")
    except ValueError as exc:  # pydantic's ValidationError: a value of the wrong type
        where = folder.relative_to(root) / "proposals.json" if folder else "proposals.json"
        rec.damaged.setdefault(str(where), redact(str(exc).splitlines()[0]))
        proposals = []
    if kind == "s":
        rows = load_trajectories(root, "train", step=number)
    else:
        rows = jsonl_rows(root / "slow_update" / f"epoch_{number:02d}" / "rollouts.jsonl")
    wanted: set[str] = set()
    sources = set(edit.get("sources") or []) if edit else set()
    for p in proposals:
        if sources and p.index not in sources:
            continue
        extra = p.model_extra or {}
        wanted.update(str(i) for i in _list(extra.get("item_ids")))
        if extra.get("analysis"):
            reading.analysis.append(redact(str(extra["analysis"])))
        for d in _list(extra.get("diagnoses")):
            optimizer = d.get("optimizer") if isinstance(d, dict) else None
            parsed = optimizer.get("parsed") if isinstance(optimizer, dict) else None
            if parsed:
                reading.diagnoses.append(redact(_plain(parsed)))
    picked = [r for r in rows if not wanted or str(r.get("item_id")) in wanted]
    out = [_traj(r) for r in picked]
    out.sort(key=lambda t: (t.hard if t.hard is not None else -1.0, t.item_id))
    return unit, edit, out, reading


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def jsonl_rows(path: Path) -> list[dict[str, Any]]:
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
