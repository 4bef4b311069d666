"""The strategy seam: the skillfit strategy reproduces the loop as it was before the seam; each
ablation switch changes the loop; the baselines run under the same runner and accounting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from strategy_golden import GOLDEN, fingerprint, scenario
from train_fakes import MAGIC, AddTask, Optimizer, config, edit, run, target_model

from skillfit.core.errors import TrainError
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.record import load_run
from skillfit.strategies import get_strategy, strategy_names


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_skillfit_through_the_seam_matches_the_loop_before_it(tmp_path: Path) -> None:
    got = fingerprint(scenario(tmp_path))
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert got == want


def test_registry_names_and_errors() -> None:
    assert {"skillfit", "none", "initial", "oneshot", "ungated", "textgrad", "gepa"} <= set(
        strategy_names()
    )
    with pytest.raises(TrainError, match="did you mean 'oneshot'"):
        get_strategy("oneshoot")


# ---- ablations: each switch changes the loop ------------------------------------------------


def test_ablate_gate_adopts_without_measuring(tmp_path: Path) -> None:
    base = fingerprint(scenario(tmp_path / "a"))
    root = scenario(tmp_path / "b", "strategy.ablate=[gate]")
    history = read(root / "history.json")
    # The useless first edit, rejected by the gate in the full loop, is adopted unmeasured.
    assert base["history"][0]["adopted"] is False
    assert history[0]["adopted"] is True and history[0]["gate"]["n_items"] == 0
    assert "Stay calm" in read(root / "runtime_state.json")["best_skill"]
    assert history[0]["tokens"]["target"]["calls"] < base["history"][0]["tokens"]["target"]["calls"]


def test_ablate_buffer_keeps_no_rejections(tmp_path: Path) -> None:
    assert fingerprint(scenario(tmp_path / "a"))["buffer"]
    assert (
        read(scenario(tmp_path / "b", "strategy.ablate=[buffer]") / "runtime_state.json")["buffer"]
        == []
    )


def test_ablate_slow_update_and_meta_skill(tmp_path: Path) -> None:
    root = scenario(tmp_path / "a", "strategy.ablate=[slow_update, meta_skill]")
    history = read(root / "history.json")
    assert all(r["kind"] == "step" for r in history)
    assert not (root / "slow_update").exists() and not (root / "meta_skill").exists()
    assert read(root / "runtime_state.json")["meta_skill"] == ""
    assert read(root / "strategy.json")["ablate"] == ["meta_skill", "slow_update"]


def test_ablate_edit_budget_applies_every_edit(tmp_path: Path) -> None:
    one = {"analysis": "x", "edits": [edit(content=f"## Method\n{MAGIC}")]}
    two = {"analysis": "y", "edits": [edit(content="## Check\nRead the two numbers twice.")]}

    def go(where: Path, *extra: str) -> dict[str, Any]:
        cfg = config(
            where,
            "schedule.init=1",
            "train.batch_size=6",
            "train.minibatch_size=3",  # two replies of one edit each
            "optimizer.reflection=direct",
            *extra,
        )
        run(cfg, AddTask(), target_model(), Optimizer([one, two]).model)
        (record,) = read(where / "run" / "history.json")
        return dict(record)

    capped, free = go(tmp_path / "a"), go(tmp_path / "b", "strategy.ablate=[edit_budget]")
    assert capped["budget"] == 1 and capped["selected"] == 1 and capped["applied"] == 1
    assert free["budget"] > 2 and free["selected"] == 2 and free["applied"] == 2


def test_unknown_ablation_is_a_config_error(tmp_path: Path) -> None:
    from skillfit.train.config import ConfigError

    with pytest.raises(ConfigError):
        config(tmp_path, "strategy.ablate=[momentum]")


# ---- baselines -------------------------------------------------------------------------------


def baseline(tmp_path: Path, name: str, optimizer: Any = None, *extra: str) -> Path:
    cfg = config(tmp_path, f"strategy.name={name}", *extra)
    task = AddTask(initial="# Guide\n\nBe careful.\n")
    run(cfg, task, target_model(), optimizer or Optimizer().model)
    return tmp_path / "run"


def test_none_and_initial(tmp_path: Path) -> None:
    none = load_run(baseline(tmp_path / "n", "none"))
    assert none.status == "done" and none.best_skill == "" and none.steps == []
    assert none.meta.strategy == "none"
    initial = load_run(baseline(tmp_path / "i", "initial"))
    assert initial.best_skill.startswith("# Guide") and initial.steps == []
    assert initial.test is not None and initial.test.arms["best"].accuracy == 0.0
    assert "optimizer" not in initial.tokens or initial.tokens["optimizer"].calls == 0


def test_oneshot_writes_a_skill_from_trajectories(tmp_path: Path) -> None:
    def writer(request: Request) -> Any:
        assert "Expected:" in request.last_user  # it saw scored training attempts
        return {"skill": f"# Adding\n\n{MAGIC}"}

    root = baseline(tmp_path, "oneshot", ScriptedModel(writer), "strategy.options={n_items: 3}")
    rec = load_run(root)
    assert MAGIC in rec.best_skill and rec.test is not None
    assert rec.test.arms["best"].accuracy == 1.0
    (step,) = rec.steps
    assert step.kind == "oneshot" and step.n_train == 3 and step.adopted
    assert (root / "oneshot" / "reply.json").is_file()


def test_ungated_is_the_loop_without_its_gate(tmp_path: Path) -> None:
    useless = {"analysis": "x", "edits": [edit(content="## Tone\nStay calm and friendly.")]}
    root = baseline(tmp_path, "ungated", Optimizer([useless]).model, "optimizer.reflection=direct")
    history = read(root / "history.json")
    assert history[0]["adopted"] is True
    assert "Stay calm" in (root / "best_skill.md").read_text()


def test_textgrad_rewrites_and_reverts_on_validation(tmp_path: Path) -> None:
    rewrites = iter([f"# Adding\n\n{MAGIC}", "# Vague\n\nThink."])

    def optimizer(request: Request) -> Any:
        if "Give feedback" in request.system:
            return {"feedback": "Say how to add."}
        return {"skill": next(rewrites, "# Vague\n\nThink.")}

    root = baseline(tmp_path, "textgrad", ScriptedModel(optimizer), "train.batch_size=3")
    history = read(root / "history.json")
    assert [r["adopted"] for r in history] == [True, False]  # the worse rewrite is reverted
    assert MAGIC in (root / "best_skill.md").read_text()


def test_target_call_budget_stops_a_strategy(tmp_path: Path) -> None:
    nothing = {"analysis": "no idea", "edits": []}
    root = baseline(
        tmp_path,
        "skillfit",
        Optimizer([nothing]).model,
        "train.epochs=3",
        "strategy.target_calls=4",
    )
    state = read(root / "runtime_state.json")
    assert state["stopped"] == "target_calls" and state["global_step"] == 2


def test_gepa_through_its_package(tmp_path: Path) -> None:
    pytest.importorskip("gepa")

    def reflection(request: Request) -> str:
        return f"```\n# Adding\n\n{MAGIC}\n```"

    root = baseline(
        tmp_path, "gepa", ScriptedModel(reflection), "strategy.target_calls=40", "train.epochs=1"
    )
    rec = load_run(root)
    result = read(root / "gepa" / "result.json")
    assert result["total_metric_calls"] <= 40 + 6  # GEPA may finish its last evaluation
    assert MAGIC in rec.best_skill and rec.test is not None
    assert rec.test.arms["best"].accuracy == 1.0
    assert rec.meta.strategy == "gepa"


def test_a_baseline_run_resumes_without_repeating_its_work(tmp_path: Path) -> None:
    from skillfit.train.state import RunState

    calls: list[str] = []

    def writer(request: Request) -> Any:
        calls.append(request.last_user)
        return {"skill": f"# Adding\n\n{MAGIC}"}

    cfg = config(tmp_path, "strategy.name=oneshot", "strategy.options={n_items: 2}")
    task = AddTask(initial="# Guide\n\nBe careful.\n")
    run(cfg, task, target_model(), ScriptedModel(writer))
    assert len(calls) == 1
    # Killed after init, before the test: the resumed run tests and never writes again.
    state_path = tmp_path / "run" / "runtime_state.json"
    state = RunState.load(state_path)
    state.phase, state.test = "test_eval", None
    state.save(state_path)
    (tmp_path / "run" / "summary.json").unlink()
    result = run(cfg, task, target_model(), ScriptedModel(writer))
    assert len(calls) == 1 and result.resumed and result.test["best"]["accuracy"] == 1.0
