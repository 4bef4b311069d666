"""`skillfit sleep`: harvest sessions, mine items, train on them, stage the result for review.

    result = sleep("skills/my-skill", source="claude-code", since="3d", config="skillfit.yaml")

1. Harvest the session files of `source` (under `sessions`, else the CLI's own folder) started
   since `since`, redacted as read; keep those that used the skill.
2. Mine items (`skillfit.sleep.mine`), split train / val by a hash of their ids.
3. Train with the ordinary loop on the `mined` task: the config's models, gate and budgets,
   the live skill as the starting skill, the gate on the held-out val items; no test split.
4. Stage into `stage_dir`: the candidate `SKILL.md`, `skill.diff`, the evidence (sessions,
   items, skipped requests, gate verdicts), `report.md` and the run itself (`run/`).

Nothing touches the live skill unless `apply=True`, which copies it to
`<stage>/previous/` first (the undo copy) and then writes the candidate over it.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skillfit.core.errors import TrainError
from skillfit.core.io import write_json_atomic, write_text_atomic
from skillfit.sleep.mine import assign_splits, mine_session
from skillfit.sleep.readers import SOURCES, default_root, read_sessions, session_files
from skillfit.sleep.sessions import Session, parse_since

STAGE_ROOT = Path(".skillfit") / "sleep"


class SleepError(TrainError):
    """A sleep cycle that cannot run as asked."""


@dataclass
class SleepResult:
    stage_dir: Path
    live: Path
    candidate: str
    changed: bool
    applied: bool
    n_files: int
    sessions: list[dict[str, Any]]
    items: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    previous: Path | None = None
    run_dir: Path | None = None
    audit: Any = None  # the training run's audit (RunAudit; None when it could not run)

    def summary(self) -> dict[str, Any]:
        used = [s for s in self.sessions if s["used_skill"]]
        return {
            "stage": str(self.stage_dir),
            "live_skill": str(self.live),
            "files": self.n_files,
            "sessions": len(self.sessions),
            "sessions_using_skill": len(used),
            "items": len(self.items),
            "rule_items": sum(1 for i in self.items if i["check"]["kind"] != "rubric"),
            "rubric_items": sum(1 for i in self.items if i["check"]["kind"] == "rubric"),
            "skipped_requests": len(self.skipped),
            "adopted": sum(1 for v in self.verdicts if v.get("adopted")),
            "changed": self.changed,
            "applied": self.applied,
            "previous": str(self.previous) if self.previous else None,
            # Problems the audit found in the candidate's body (run/audit.json).
            "audit": len(self.audit.problems) if self.audit is not None else None,
        }


def live_skill_file(skill: Path) -> Path:
    """The file holding the live skill: `skill` itself, or the SKILL.md of a skill folder."""
    if skill.is_dir():
        inner = skill / "SKILL.md"
        if not inner.is_file():
            raise SleepError(f"--skill {skill}: a folder without SKILL.md")
        return inner
    if not skill.is_file():
        raise SleepError(f"--skill {skill}: no such file or folder")
    return skill


def skill_name(live: Path) -> str:
    """The name sessions invoke the skill by: the frontmatter name, else the folder's name
    (for SKILL.md) or the file's stem."""
    from skillfit.skill import read_skill_source

    _, bundle = read_skill_source(live)
    if bundle is not None and bundle.name:
        return str(bundle.name)
    return live.parent.name if live.name == "SKILL.md" else live.stem


def harvest(
    source: str, root: Path, since: datetime, name: str | None
) -> tuple[int, list[Session], list[dict[str, Any]]]:
    """(files read, sessions that used the skill, one evidence row per session seen)."""
    files = session_files(root)
    kept, rows = [], []
    for path in files:
        for s in read_sessions(source, path):
            if s.started is not None and s.started < since:
                continue
            used = name is None or s.uses_skill(name)
            rows.append({"source": s.source, "session": s.id, "file": s.file,
                         "started": s.started.isoformat() if s.started else None,
                         "cwd": s.cwd, "used_skill": used})  # fmt: skip
            if used:
                kept.append(s)
    return len(files), kept, rows


def _verdicts(run_dir: Path) -> list[dict[str, Any]]:
    from skillfit.record import load_run

    rec = load_run(run_dir, with_events=False)
    return [
        {
            "step": s.step,
            "kind": s.kind,
            "adopted": s.adopted,
            "edits": s.applied_edits,
            "val_current": s.val_current,
            "val_candidate": s.val_candidate,
            "gate": s.gate.model_dump() if s.gate else None,
        }  # fmt: skip
        for s in rec.steps
    ]


def _train_config(config: Any, items: Path, live: Path, judge: str | None, name: str) -> Any:
    from skillfit.app.build import load
    from skillfit.train.config import RunConfig, config_to_dict, validate_config

    cfg = load(config) if config is not None else load(RunConfig())
    data = config_to_dict(cfg)
    judge = judge or cfg.optimizer.model
    data["task"] = {"name": "mined", "options": {"path": str(items), "judge": judge, "label": name}}
    data.setdefault("skill", {})["initial"] = str(live)
    data.setdefault("eval", {})["test"] = False
    return validate_config(data)


def sleep(
    skill: str | os.PathLike[str],
    *,
    source: str = "claude-code",
    sessions: str | os.PathLike[str] | None = None,
    since: str = "3d",
    config: Any = None,
    stage_dir: str | os.PathLike[str] | None = None,
    judge: str | None = None,
    apply: bool = False,
    now: datetime | None = None,
    progress: Any = None,
) -> SleepResult:
    """One sleep cycle (see the module docstring). SleepError / TrainError on bad input."""
    from skillfit.app.training import train
    from skillfit.skill import Skill, read_skill_source

    if source not in SOURCES:
        raise SleepError(f"--from must be one of {', '.join(SOURCES)}, not {source!r}")
    try:
        start = parse_since(since, now)
        root = Path(sessions).expanduser() if sessions is not None else default_root(source)
    except ValueError as exc:
        raise SleepError(str(exc)) from None
    if not root.exists():
        raise SleepError(f"no sessions at {root}: give --sessions DIR")
    live = live_skill_file(Path(skill).expanduser())
    name = skill_name(live)
    n_files, kept, rows = harvest(source, root, start, name)
    items: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for s in kept:
        mined = mine_session(s)
        items += mined.items
        skipped += mined.skipped
    if len(items) < 2:
        raise SleepError(
            f"{len(items)} item(s) mined from {len(kept)} session(s) using skill {name!r} "
            f"({n_files} files under {root} since {start:%Y-%m-%d %H:%M}): need at least 2, "
            "one to train on and one held out for the gate"
        )
    assign_splits(items)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    stage = Path(stage_dir) if stage_dir is not None else STAGE_ROOT / f"{name}-{stamp}"
    if (stage / "summary.json").exists():
        raise SleepError(f"--stage {stage} holds a finished sleep cycle: give another folder")
    evidence = stage / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    items_path = evidence / "items.jsonl"
    write_text_atomic(items_path, "".join(json.dumps(i) + "\n" for i in items))
    write_text_atomic(evidence / "sessions.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write_text_atomic(evidence / "skipped.jsonl", "".join(json.dumps(r) + "\n" for r in skipped))
    cfg = _train_config(config, items_path.resolve(), live.resolve(), judge, name)
    trained = train(cfg, out_dir=stage / "run", progress=progress)
    verdicts = _verdicts(trained.run_dir)
    write_json_atomic(evidence / "verdicts.json", verdicts)
    candidate = candidate_text(live, trained.best_skill)
    before = live.read_text(encoding="utf-8")
    write_text_atomic(stage / "SKILL.md", candidate)
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            candidate.splitlines(keepends=True),
            fromfile=f"a/{live}",
            tofile=f"b/{live}",
        )
    )
    write_text_atomic(stage / "skill.diff", diff)
    # Changed means another body: a layout the candidate's rendering normalizes is no change.
    changed = Skill.parse(trained.best_skill).text != read_skill_source(live)[0].text
    result = SleepResult(stage, live, candidate, changed, False, n_files, rows,
                         items, skipped, verdicts, run_dir=trained.run_dir,
                         audit=trained.audit)  # fmt: skip
    if apply and result.changed:
        result.previous = apply_candidate(stage, live, candidate)
        result.applied = True
    from skillfit.sleep.report import report_markdown

    write_text_atomic(stage / "report.md", report_markdown(result, root, start))
    write_json_atomic(stage / "summary.json", result.summary())
    return result


def candidate_text(live: Path, body: str) -> str:
    """The live skill file with its body replaced by `body`; its frontmatter is kept as
    written, byte for byte."""
    text = live.read_text(encoding="utf-8")
    body = body if body.endswith("\n") else body + "\n"
    if text.startswith("---\n"):
        end = text.find("\n---\n", 3)
        if end != -1:
            return text[: end + 5] + "\n" + body
    return body


def apply_candidate(stage: Path, live: Path, candidate: str) -> Path:
    """Copy the live skill to `<stage>/previous/` (the undo copy), then write the candidate
    over it. Returns the undo copy's path."""
    previous = stage / "previous" / live.name
    previous.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(live, previous)
    write_text_atomic(live, candidate)
    write_json_atomic(
        stage / "applied.json",
        {"live": str(live), "previous": str(previous), "at": datetime.now(UTC).isoformat()},
    )
    return previous
