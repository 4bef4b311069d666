"""Per-phase accounting: every run's summary gives each phase's calls, tokens and seconds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from strategy_golden import scenario

from skillfit.train.phases import PHASES, phase_line


def test_summary_gives_every_phase_and_they_add_up_to_the_run(tmp_path: Path) -> None:
    root = scenario(tmp_path)
    summary = json.loads((root / "summary.json").read_text())
    history = json.loads((root / "history.json").read_text())
    phases = summary["phases"]
    assert list(phases)[: len(PHASES)] == list(PHASES)
    for row in phases.values():
        assert {"calls", "cache_hits", "prompt_tokens", "completion_tokens"} <= set(row)
    for name in PHASES:
        assert phases[name]["seconds"] >= 0
    # Train rollouts: 3 items a step, 4 steps; two gates of 4 items, both skills each; the
    # test arms none / initial / best on 4 items; the slow updates roll out both skills.
    steps = [r for r in history if r["kind"] == "step"]
    assert phases["rollouts"]["calls"] == sum(r["n_train"] for r in steps) == 12
    assert phases["gate"]["calls"] == 2 * 2 * 4
    assert phases["test"]["calls"] == 3 * 4
    assert phases["epoch_end"]["calls"] == 2 * 2 * 3 + 2  # two meta-skill notes
    assert phases["reflection"]["calls"] == 2 * 2  # a diagnosis and a rules call, two steps
    assert phases["guard"]["calls"] == 0  # the guard calls no model
    # Every call of the run is in a phase or in `other`: here the target check before the loop.
    totals = summary["tokens"]
    for key in ("calls", "prompt_tokens", "completion_tokens"):
        whole = sum(role[key] for role in totals.values())
        assert sum(row[key] for row in phases.values()) == whole, key
    assert phases["other"]["calls"] > 0
    unchecked = scenario(tmp_path / "unchecked", "run.target_check=false")
    assert "other" not in json.loads((unchecked / "summary.json").read_text())["phases"]


def test_phase_line_is_one_line_per_run() -> None:
    line = phase_line(
        {
            "rollouts": {"calls": 10, "cache_hits": 2, "prompt_tokens": 1500, "seconds": 3.2},
            "guard": {"calls": 0, "seconds": 0.01},
        }
    )
    assert line == "rollouts 12 calls 1.5k tok 3 s · guard 0 calls 0 tok 0 s"


def test_efficiency_bench_prints_the_phases_of_a_scripted_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = Path(__file__).resolve().parents[1] / "bench" / "efficiency.py"
    spec = importlib.util.spec_from_file_location("efficiency_bench", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--json"])
    phases = json.loads(capsys.readouterr().out)["phases"]
    assert set(PHASES) <= set(phases)
    assert phases["rollouts"]["calls"] == 32 and phases["test"]["calls"] == 180
