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
    Evaluation,
    Event,
    GateVerdict,
    PairedDiff,
    Proposal,
    RoleUsage,
    RunMeta,
    RunRecord,
    SkillVersion,
    Status,
    Step,
    TestResults,
)

EVENTS_FILE = "events.jsonl"
STRATEGY_FILE = "strategy.json"
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
    """running / done / failed / stale (or empty: nothing of a run yet), with a reason."""
    now = time.time() if now is None else now
    if state is None and not (run_dir / "config.json").exists():
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
    if starts:
        info = events[starts[-1]].data
        pid, host = info.get("pid"), info.get("host")
        if isinstance(pid, int) and host == socket.gethostname():
            if _pid_alive(pid):
                return "running", f"process {pid} is running"
            return "stale", f"process {pid} is gone without finishing (killed?)"
    active = last_activity(run_dir)
    if active is not None and now - active <= stale_after:
        return "running", "written to recently"
    return "stale", "not finished and nothing written recently"


def _usage(d: Any) -> dict[str, RoleUsage]:
    if not isinstance(d, dict):
        return {}
    return {k: RoleUsage.model_validate(v) for k, v in d.items() if isinstance(v, dict)}


def _step(row: dict[str, Any]) -> Step:
    data = dict(row)
    data["tokens"] = _usage(row.get("tokens"))
    gate = row.get("gate")
    data["gate"] = GateVerdict.model_validate(gate) if isinstance(gate, dict) else None
    return Step.model_validate(data)


def parse_test(test: Any) -> TestResults | None:
    """test_eval/results.json (or the state's `test`) as TestResults."""
    if not isinstance(test, dict):
        return None
    arms: dict[str, Evaluation] = {}
    comparisons: dict[str, PairedDiff] = {}
    for key, value in test.items():
        if not isinstance(value, dict):
            continue
        if "accuracy" in value and "n_items" in value:
            arms[key] = Evaluation.model_validate({"name": key, **value})
        elif "mean_diff" in value:
            comparisons[key] = PairedDiff.model_validate(value)
    return TestResults(
        arms=arms,
        comparisons=comparisons,
        best_version=test.get("best_version"),
        tokens=_usage(test.get("tokens")),
        seconds=float(test.get("seconds") or 0.0),
    )


def load_run(
    run_dir: str | os.PathLike[str],
    *,
    with_events: bool = True,
    stale_after: float = STALE_AFTER_SECONDS,
    now: float | None = None,
) -> RunRecord:
    """The run in `run_dir` as a RunRecord (a run that is still going loads too)."""
    root = Path(run_dir)
    config = _read(root / "config.json") or {}
    state = _read(root / "runtime_state.json")
    summary = _read(root / "summary.json") or {}
    strategy = _read(root / STRATEGY_FILE) or {}
    events = read_events(root) if with_events else []
    status, reason = derive_status(root, state, events, stale_after=stale_after, now=now)
    st = state or {}
    history = _read(root / "history.json")
    rows = history if isinstance(history, list) else st.get("history", [])
    steps = [_step(r) for r in rows if isinstance(r, dict)]
    skills: list[SkillVersion] = []
    for path in sorted((root / "skills").glob("skill_v*.md")):
        try:
            version = int(path.stem.split("_v")[-1])
            text = path.read_text(encoding="utf-8")
        except (ValueError, OSError):
            continue
        skills.append(SkillVersion(version=version, text=text, tokens=_tokens(text)))
    test_raw = _read(root / "test_eval" / "results.json") or st.get("test")
    cfg_target = config.get("target", {}) if isinstance(config, dict) else {}
    meta = RunMeta(
        run_dir=str(root),
        name=str((config.get("run") or {}).get("name") or root.name),
        task=str((config.get("task") or {}).get("name", "")),
        target=str(cfg_target.get("model", "")),
        optimizer=str((config.get("optimizer") or {}).get("model", "")),
        harness=str(cfg_target.get("harness", "chat")),
        strategy=str(
            strategy.get("name") or (config.get("strategy") or {}).get("name") or "skillfit"
        ),
        seed=int((config.get("train") or {}).get("seed", 0) or 0),
        config_hash=str(st.get("config_hash", "")),
        config=config if isinstance(config, dict) else {},
    )
    return RunRecord(
        meta=meta,
        status=status,
        status_reason=reason,
        phase=str(st.get("phase", "")),
        epoch=int(st.get("epoch", 0) or 0),
        global_step=int(st.get("global_step", 0) or 0),
        total_steps=int(st.get("total_steps", 0) or 0),
        stopped=st.get("stopped"),
        steps=steps,
        skills=skills,
        initial_skill=str(st.get("initial_skill", "")),
        best_skill=str(st.get("best_skill", "")),
        best_version=int(st.get("best_version", 1) or 1),
        best_score=st.get("best_score"),
        meta_skill=str(st.get("meta_skill", "")),
        test=parse_test(test_raw),
        tokens=_usage(summary.get("tokens")),
        seconds=float(summary.get("seconds") or sum(s.seconds for s in steps)),
        last_activity=last_activity(root),
        events=events,
        summary=summary if isinstance(summary, dict) else {},
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
