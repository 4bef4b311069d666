"""Issue 10, item 10: across a kill and a resume, calls paid before the kill stay paid calls
(their replays from the cache are not cache hits), counts stay integers, and the temp files a
kill leaves behind are cleaned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_train_resume import Exploding, optimizer_reply, resume_config, solve
from train_fakes import AddTask, run

from skillfit.models.scripted import ScriptedModel

COUNTS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cached_tokens")


def accounting(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {role: {k: v[k] for k in COUNTS} for role, v in summary["tokens"].items()}


def test_paid_calls_are_exact_across_a_resume(tmp_path: Path) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    counter = Exploding(solve, None)
    straight = run(
        resume_config(tmp_path, "straight"),
        task,
        ScriptedModel(counter),
        ScriptedModel(optimizer_reply),
    ).summary
    total = counter.n
    for fraction in (0.3, 0.6, 0.9):
        name = f"kill{int(fraction * 100)}"
        cfg = resume_config(tmp_path, name)
        with pytest.raises(RuntimeError, match="simulated crash"):
            run(
                cfg,
                task,
                ScriptedModel(Exploding(solve, int(total * fraction))),
                ScriptedModel(optimizer_reply),
            )
        resumed = run(cfg, task, ScriptedModel(solve), ScriptedModel(optimizer_reply)).summary
        assert accounting(resumed) == accounting(straight), f"killed at {fraction:.0%}"
        for stats in resumed["tokens"].values():
            assert all(isinstance(stats[k], int) for k in (*COUNTS, "errors"))
        history = json.loads((tmp_path / name / "history.json").read_text())
        for record in history:
            for stats in record["tokens"].values():
                assert all(isinstance(stats.get(k, 0), int) for k in COUNTS)


def test_a_cut_journal_line_is_dropped(tmp_path: Path) -> None:
    from skillfit.models import Ledger
    from skillfit.models.base import Reply, Usage

    path = tmp_path / "calls.jsonl"
    ledger = Ledger()
    ledger.attach(path)
    ledger.record("target", "m", Reply("x", Usage(5, 2)), 0.1, key="k1")
    ledger.close()
    with path.open("a") as fh:
        fh.write('{"r":"target","k":"k2","p":')  # the kill cut this line
    again = Ledger()
    again.attach(path, accounted=0)
    assert again.snapshot()["target"]["calls"] == 1
    again.record_hit("target", key="k1")  # the replay of the paid call
    again.record_hit("target", key="k1")  # a genuine hit
    assert again.snapshot()["target"]["cache_hits"] == 1
    again.close()
    assert path.read_text().endswith("\n")


def test_a_call_paid_again_after_a_kill_counts_twice_and_later_hits_count(tmp_path: Path) -> None:
    from skillfit.models import Ledger
    from skillfit.models.base import Reply, Usage

    path = tmp_path / "calls.jsonl"
    ledger = Ledger()
    ledger.attach(path)
    ledger.record("target", "m", Reply("x", Usage(5, 2)), 0.1, key="k1")  # killed before caching
    ledger.close()
    again = Ledger()
    again.attach(path, accounted=0)
    again.record("target", "m", Reply("x", Usage(5, 2)), 0.1, key="k1")  # not cached: paid again
    again.record_hit("target", key="k1")  # a genuine hit of the now cached answer
    stats = again.snapshot()["target"]
    assert (stats["calls"], stats["cache_hits"], stats["prompt_tokens"]) == (2, 1, 10)
    again.close()


def test_stale_temp_files_are_cleaned_on_resume(tmp_path: Path) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    cfg = resume_config(tmp_path, "tmp")
    with pytest.raises(RuntimeError):
        run(cfg, task, ScriptedModel(Exploding(solve, 20)), ScriptedModel(optimizer_reply))
    root = tmp_path / "tmp"
    stale = [root / ".runtime_state.json.k1ll3d.tmp", root / "steps" / ".gate.json.x.tmp"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{half")
    run(cfg, task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
    assert not any(p.exists() for p in stale)
    assert list(root.rglob(".*.tmp")) == []
