"""Read a run directory into a typed `RunRecord`, and derive its status.

    from skillfit.record import load_run
    rec = load_run("outputs/quickstart")
    rec.status, rec.steps[0].gate.accepted, rec.test.arms["best"].accuracy

Works on any run directory of the output layout, including runs written before the record
existed (no events.jsonl): then the status comes from the state file and the files' ages.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from skillfit.record.models import (
    AUDIT_FILE,
    Evaluation,
    Event,
    GateVerdict,
    PairedDiff,
    Proposal,
    RoleUsage,
    RunAudit,
    RunMeta,
    RunRecord,
    SkillVersion,
    Status,
    Step,
    TestResults,
)
from skillfit.record.tolerant import Fields, Files

EVENTS_FILE = "events.jsonl"
STRATEGY_FILE = "strategy.json"
# An archived run (as bench/suite/ keeps them): config.json with these, no state.
ARCHIVED_SKILL = "best_skill.md"
ARCHIVED_META = "meta_skill.md"
UNREADABLE_STATE = "state unreadable: runtime_state.json cannot be read (cut short?)"
# A run that wrote nothing for this long, and whose process is not known to be alive, is stale.
STALE_AFTER_SECONDS = 900.0


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_events(run_dir: str | os.PathLike[str]) -> list[Event]:
    """Every well-formed line of events.jsonl (a line cut by a kill is skipped)."""
    path = Path(run_dir) / EVENTS_FILE
    out: list[Event] = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(Event.model_validate_json(line))
        except ValueError:
            continue
    return out


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_dir() and ((p / "runtime_state.json").exists() or (p / "config.json").exists())


def list_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Run directories at or below `root` (not descending into a run)."""
    base = Path(root)
    if is_run_dir(base):
        return [base]
    found: list[Path] = []
    if not base.is_dir():
        return found
    for child in sorted(base.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            found += list_runs(child)
    return found


def last_activity(run_dir: Path) -> float | None:
    newest: float | None = None
    for name in ("runtime_state.json", "history.json", EVENTS_FILE, "calls.jsonl", "summary.json"):
        try:
            m = (run_dir / name).stat().st_mtime
        except OSError:
            continue
        newest = m if newest is None else max(newest, m)
    return newest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def derive_status(
    run_dir: Path,
    state: dict[str, Any] | None,
    events: list[Event],
    *,
    stale_after: float = STALE_AFTER_SECONDS,
    now: float | None = None,
) -> tuple[Status, str]:
    """running / done / failed / stale / archived / damaged (or empty: nothing of a run yet),
    with a reason."""
    now = time.time() if now is None else now
    state_file = run_dir / "runtime_state.json"
    kept = (run_dir / "config.json").exists() and (run_dir / ARCHIVED_SKILL).is_file()
    if state is None and not events and not state_file.exists() and kept:
        return "archived", "a kept result: its config and skill, without the run's state"
    if state is None and not (run_dir / "config.json").exists() and not state_file.exists():
        return "empty", "no run has started here"
    if state is not None and state.get("phase") == "done" and (run_dir / "summary.json").exists():
        return "done", f"finished ({state.get('stopped') or 'done'})"
    starts = [i for i, e in enumerate(events) if e.event == "process_start"]
    tail = events[starts[-1] :] if starts else events
    for e in reversed(tail):
        if e.event == "run_failed":
            return "failed", str(e.data.get("error", "failed"))
        if e.event == "run_end":
            break
    unreadable = state is None and state_file.exists()
    if starts:
        info = events[starts[-1]].data
        pid, host = info.get("pid"), info.get("host")
        if isinstance(pid, int) and host == socket.gethostname():
            if _pid_alive(pid):
                return "running", f"process {pid} is running"
            if unreadable:
                return "damaged", UNREADABLE_STATE
            return "stale", f"process {pid} is gone without finishing (killed?)"
    active = last_activity(run_dir)
    if active is not None and now - active <= stale_after:
        return "running", "written to recently"
    if unreadable:
        return "damaged", UNREADABLE_STATE
    return "stale", "not finished and nothing written recently"


def _usage(files: Files, name: str, d: Any) -> dict[str, RoleUsage]:
    if d is None:
        return {}
    if not isinstance(d, dict):
        files.note(name, "tokens should be an object of roles")
        return {}
    out: dict[str, RoleUsage] = {}
    for role, value in d.items():
        usage = files.model(name, RoleUsage, value, f"tokens.{role}")
        if usage is not None:
            out[str(role)] = usage
    return out


def _step(files: Files, name: str, index: int, row: Any) -> Step | None:
    what = f"entry {index + 1}"
    if not isinstance(row, dict):
        files.note(name, f"{what} is not an object")
        return None
    data = dict(row)
    data["tokens"] = _usage(files, name, row.get("tokens"))
    gate = row.get("gate")
    data["gate"] = (
        files.model(name, GateVerdict, gate, f"{what}: gate") if isinstance(gate, dict) else None
    )
    return files.model(name, Step, data, what)


def parse_test(test: Any, files: Files | None = None, name: str = "") -> TestResults | None:
    """test_eval/results.json (or the state's `test`) as TestResults; an arm or comparison of
    the wrong shape is left out (and noted in `files`, when given)."""
    if not isinstance(test, dict):
        return None
    files = files or Files(Path("."))
    arms: dict[str, Evaluation] = {}
    comparisons: dict[str, PairedDiff] = {}
    for key, value in test.items():
        if not isinstance(value, dict):
            continue
        if "accuracy" in value and "n_items" in value:
            arm = files.model(name, Evaluation, {"name": key, **value}, str(key))
            if arm is not None:
                arms[key] = arm
        elif "mean_diff" in value:
            diff = files.model(name, PairedDiff, value, str(key))
            if diff is not None:
                comparisons[key] = diff
    fields = Fields(files, name, test)
    best = fields.whole("best_version", 0)
    return TestResults(
        arms=arms,
        comparisons=comparisons,
        best_version=best or None,
        tokens=_usage(files, name, test.get("tokens")),
        seconds=fields.number("seconds") or 0.0,
    )


def load_run(
    run_dir: str | os.PathLike[str],
    *,
    with_events: bool = True,
    stale_after: float = STALE_AFTER_SECONDS,
    now: float | None = None,
) -> RunRecord:
    """The run in `run_dir` as a RunRecord (a run that is still going loads too). A file that
    cannot be read or holds values of the wrong type is named in `damaged`; what it held is
    left out rather than failing the whole run."""
    root = Path(run_dir)
    files = Files(root)
    config = files.json("config.json", dict) or {}
    state = files.json("runtime_state.json", dict)
    summary = files.json("summary.json", dict) or {}
    strategy = files.json(STRATEGY_FILE, dict) or {}
    events = read_events(root) if with_events else []
    status, reason = derive_status(root, state, events, stale_after=stale_after, now=now)
    st = Fields(files, "runtime_state.json", state)
    history = files.json("history.json", list)
    rows, rows_file = (
        (history, "history.json")
        if history is not None
        else (st.items("history"), "runtime_state.json")
    )
    steps = [s for i, r in enumerate(rows) if (s := _step(files, rows_file, i, r)) is not None]
    skills: list[SkillVersion] = []
    for path in sorted((root / "skills").glob("skill_v*.md")):
        try:
            version = int(path.stem.split("_v")[-1])
            text = path.read_text(encoding="utf-8")
        except (ValueError, OSError):
            continue
        skills.append(SkillVersion(version=version, text=text, tokens=_tokens(text)))
    results = "test_eval/results.json"
    test_raw = files.json(results, dict)
    test = parse_test(test_raw, files, results)
    if test is None:
        test = parse_test(st.raw("test"), files, "runtime_state.json")
    cfg = Fields(files, "config.json", config)
    target = cfg.section("target")
    best_skill = st.text("best_skill")
    meta_skill = st.text("meta_skill")
    if state is None:  # an archived run keeps its skills as files
        best_skill = best_skill or files.text(ARCHIVED_SKILL) or ""
        meta_skill = meta_skill or files.text(ARCHIVED_META) or ""
    sm = Fields(files, "summary.json", summary)
    audit_raw = files.json(AUDIT_FILE, dict)
    audit = files.model(AUDIT_FILE, RunAudit, audit_raw) if audit_raw is not None else None
    meta = RunMeta(
        run_dir=str(root),
        name=cfg.section("run").text("name") or root.name,
        task=cfg.section("task").text("name"),
        target=target.text("model"),
        optimizer=cfg.section("optimizer").text("model"),
        harness=target.text("harness", "chat"),
        strategy=Fields(files, STRATEGY_FILE, strategy).text("name")
        or cfg.section("strategy").text("name")
        or "skillfit",
        seed=cfg.section("train").whole("seed"),
        config_hash=st.text("config_hash"),
        config=config,
    )
    return RunRecord(
        meta=meta,
        status=status,
        status_reason=reason,
        phase=st.text("phase"),
        epoch=st.whole("epoch"),
        global_step=st.whole("global_step"),
        total_steps=st.whole("total_steps"),
        stopped=st.opt_text("stopped"),
        steps=steps,
        skills=skills,
        initial_skill=st.text("initial_skill"),
        best_skill=best_skill,
        best_version=st.whole("best_version", 1) or 1,
        best_score=st.number("best_score"),
        meta_skill=meta_skill,
        test=test,
        tokens=_usage(files, "summary.json", summary.get("tokens")),
        seconds=sm.number("seconds") or sum(s.seconds for s in steps),
        last_activity=last_activity(root),
        events=events,
        summary=summary,
        audit=audit,
        damaged=files.damaged,
    )


def _tokens(text: str) -> int:
    from skillfit.skill import Skill

    return Skill.parse(text).n_tokens()


def _unit_dir(root: Path, step: int, kind: str) -> Path:
    if kind == "slow_update":
        return root / "slow_update" / f"epoch_{step:02d}"
    return root / "steps" / f"step_{step:04d}"


def load_proposals(
    run_dir: str | os.PathLike[str], step: int, kind: str = "step"
) -> list[Proposal]:
    """The optimizer's replies of a step (`kind="slow_update"`: `step` is the epoch)."""
    raw = _read(_unit_dir(Path(run_dir), step, kind) / "proposals.json")
    return [Proposal.model_validate(p) for p in raw or [] if isinstance(p, dict)]


def load_gate(run_dir: str | os.PathLike[str], step: int, kind: str = "step") -> GateVerdict | None:
    """The full gate record of a step (per-item scores included), or None."""
    raw = _read(_unit_dir(Path(run_dir), step, kind) / "gate.json")
    if not isinstance(raw, dict):
        return None
    data = dict(raw)
    paired = data.pop("paired", None) or {}
    for k in ("mean_diff", "ci_low", "ci_high", "p_value"):
        data.setdefault(k, paired.get(k))
    return GateVerdict.model_validate(data)


def load_trajectories(
    run_dir: str | os.PathLike[str], name: str, *, step: int | None = None
) -> list[dict[str, Any]]:
    """Rollout rows: a test arm's (`name` = none / initial / best / …) or, with `step`, that
    step's training rollouts."""
    root = Path(run_dir)
    path = (
        root / "steps" / f"step_{step:04d}" / "rollouts.jsonl"
        if step is not None
        else root / "test_eval" / f"{name}.jsonl"
    )
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
