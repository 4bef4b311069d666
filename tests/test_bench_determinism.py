"""bench/determinism.py's comparison of two run folders: what was trained counts, time does not."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "bench" / "determinism.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("determinism_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["determinism_bench"] = module
    spec.loader.exec_module(module)
    return module


def _run(root: Path, reply: str, seconds: float, order: list[str]) -> Path:
    (root / "steps" / "step_0001").mkdir(parents=True)
    (root / "steps" / "step_0001" / "rollouts.jsonl").write_text(
        json.dumps({"item": "a", "reply": reply, "seconds": seconds}) + "\n"
    )
    (root / "calls.jsonl").write_text(
        "".join(json.dumps({"k": k, "p": 10, "s": seconds}) + "\n" for k in order)
    )
    (root / "runtime_state.json").write_text(
        json.dumps({"best_version": 2, "journal_bytes": int(seconds * 10), "run_dir": str(root)})
    )
    (root / "best_skill.md").write_text("# Skill\n\nAnswer yes or no.\n")
    return root


def test_runs_differing_only_in_time_and_call_order_are_the_same(tmp_path: Path) -> None:
    bench = _bench()
    a = _run(tmp_path / "run_A", "Answer: Yes", 1.5, ["k1", "k2"])
    b = _run(tmp_path / "run_B", "Answer: Yes", 9.25, ["k2", "k1"])
    assert bench.compare_runs(a, b) == []


def test_a_differing_reply_or_missing_file_is_named(tmp_path: Path) -> None:
    bench = _bench()
    a = _run(tmp_path / "run_A", "Answer: Yes", 1.5, ["k1"])
    b = _run(tmp_path / "run_B", "Answer: No", 1.5, ["k1", "k3"])
    (a / "skills").mkdir()
    (a / "skills" / "skill_v0002.md").write_text("x")
    found = "\n".join(bench.compare_runs(a, b))
    assert "rollouts.jsonl" in found and "Answer: No" in found
    assert "calls.jsonl" in found  # an extra paid call is a difference
    assert "skills/skill_v0002.md: only in A" in found
