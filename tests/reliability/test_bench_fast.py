"""The fast part of bench/reliability.py, as CI runs it: a few SIGKILLs through the CLI, every
fault of the loopback server, the bad inputs, two processes on one run directory, model limits,
damaged runs, poisoned data, and a search for keys in everything written.
(The sandbox attacks run in test_containment.py.)"""

from __future__ import annotations

from pathlib import Path

import reliability


def test_kills_faults_inputs_and_secrets(tmp_path: Path) -> None:
    kills = reliability.kills(tmp_path / "kills", 3, seed=1)
    assert kills["resumed_equal"] == kills["kills"] == 3
    # (a kill between a paid answer and its caching makes a run pay that call twice: it counts)
    assert kills["paid_calls_exact"] + kills["paid_a_call_twice"] == 3

    faults = reliability.faults(tmp_path / "faults", fast=True)
    assert faults["crashes"] == 0
    assert faults["retried_to_an_answer"] == faults["kinds"] - 1
    assert faults["recorded_as_infra_errors"] == faults["kinds"]
    run = faults["training_run"]
    assert run["exit_code"] == 0 and run["phase"] == "done" and run["faults_served"] > 0

    inputs = reliability.bad_inputs(tmp_path / "inputs")
    assert inputs["refused"] == inputs["cases"], inputs["failures"]

    guarded = reliability.run_dirs(tmp_path / "run_dirs")
    assert guarded["held"] == guarded["cases"], guarded["failures"]

    for part in (
        reliability.limits(tmp_path / "limits"),
        reliability.damage(tmp_path / "damage"),
        reliability.poisoned(),
    ):
        assert part["held"] == part["cases"], part["failures"]

    found = reliability.secrets(tmp_path)
    assert found["files_scanned"] > 100
    assert found["found"] == 0, found["where"]
