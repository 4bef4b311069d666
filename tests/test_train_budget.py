"""Budgets the user sets (train.budget_calls, train.budget_tokens; --budget-calls and
--budget-tokens on train and compare): the loop stops at a step boundary, says so, tests and
exports its best skill, and a larger budget resumes it; compare gives every strategy the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from train_fakes import MAGIC, AddTask, Optimizer, config, edit, run, target_model
from typer.testing import CliRunner

import skillfit.app.build
from skillfit.cli import app
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.models.stack import wrap

NOTHING = {"analysis": "no idea", "edits": []}
USELESS = {"analysis": "x", "edits": [edit(content="## Tone\nStay calm and friendly.")]}
GOOD = {"analysis": "method", "edits": [edit(content=f"## Method\n{MAGIC}")]}


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def train(tmp_path: Path, *overrides: str, replies: Any = None) -> Any:
    cfg = config(
        tmp_path,
        "train.epochs=3",  # 6 train items in batches of 3: 2 steps an epoch, 6 in all
        "run.target_check=false",
        "optimizer.procedure=false",  # the optimizer's replies go to the steps in turn
        *overrides,
    )
    optimizer = Optimizer(replies or [learns])
    return run(cfg, AddTask(initial="# Guide\n\nBe careful.\n"), target_model(), optimizer.model)


def learns(request: Request) -> Any:
    """A useless edit first; the method once the useless one is among the rejected edits shown
    (a function of the prompt, so a resumed run's new optimizer answers the same)."""
    shown = " ".join(m["content"] for m in request.messages)
    return GOOD if "Stay calm" in shown else USELESS


def calls(record: dict[str, Any]) -> int:
    return sum(
        int(s.get("calls", 0)) + int(s.get("cache_hits", 0)) for s in record["tokens"].values()
    )


def test_a_call_budget_stops_at_the_first_step_boundary_past_it(tmp_path: Path) -> None:
    straight = train(tmp_path / "straight")
    per_step = [calls(r) for r in read(straight.run_dir / "history.json")]
    budget = sum(per_step[:2]) + 1  # spent during step 3
    result = train(tmp_path / "budget", f"train.budget_calls={budget}")
    state = read(result.run_dir / "runtime_state.json")
    assert state["stopped"] == "budget_calls" and state["global_step"] == 3 < 6
    # A normal finished run: tested, its best skill exported.
    assert state["phase"] == "done" and result.test is not None
    assert (result.run_dir / "best_skill.md").exists() and (result.run_dir / "best_skill").is_dir()
    spent = result.summary["budget"]["spent"]["calls"]
    assert spent == sum(per_step[:3]) >= budget > sum(per_step[:2])
    # The test evaluation is not counted against the budget.
    assert spent < sum(s["calls"] for s in result.summary["tokens"].values())
    message = result.summary["budget"]["message"]
    assert message.startswith(f"Budget spent: {spent:,} of {budget:,} training model calls")
    assert "after step 3" in message and "--budget-calls" in message
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").open()]
    assert any(e.get("event") == "budget_spent" for e in events)


def test_a_larger_budget_resumes_the_run_to_the_straight_runs_result(tmp_path: Path) -> None:
    straight = train(tmp_path / "straight")
    stopped = train(tmp_path / "run", "train.budget_calls=10")
    assert read(stopped.run_dir / "runtime_state.json")["stopped"] == "budget_calls"
    assert MAGIC not in stopped.best_skill  # the method comes at step 2
    resumed = train(tmp_path / "run", "train.budget_calls=100000")
    assert resumed.resumed
    state = read(resumed.run_dir / "runtime_state.json")
    assert state["stopped"] == "epochs" and state["global_step"] == 6 and state["phase"] == "done"
    assert resumed.best_skill == straight.best_skill and MAGIC in resumed.best_skill
    assert resumed.test["best"]["accuracy"] == straight.test["best"]["accuracy"] == 1.0

    def steps(root: Path) -> list[Any]:
        return [(r["step"], r["kind"], r["adopted"]) for r in read(root / "history.json")]

    assert steps(resumed.run_dir) == steps(straight.run_dir)
    # The same budget again: nothing to do, it stays finished.
    again = train(tmp_path / "run", "train.budget_calls=100000")
    assert read(again.run_dir / "runtime_state.json")["global_step"] == 6


def test_a_token_budget_counts_prompt_and_completion_tokens(tmp_path: Path) -> None:
    result = train(tmp_path, "train.budget_tokens=1")
    state = read(result.run_dir / "runtime_state.json")
    assert state["stopped"] == "budget_tokens" and state["global_step"] == 1
    spent = result.summary["budget"]["spent"]["tokens"]
    totals = result.summary["tokens"]
    test = result.summary["phases"]["test"]
    paid = sum(s["prompt_tokens"] + s["completion_tokens"] for s in totals.values())
    assert spent == paid - test["prompt_tokens"] - test["completion_tokens"] > 0
    assert "training tokens" in result.summary["budget"]["message"]


def test_cache_hits_count_against_the_budget(tmp_path: Path) -> None:
    cache = f"cache.path={tmp_path / 'cache.sqlite'}"
    cold = train(tmp_path / "cold", "cache.enabled=true", cache, "train.budget_calls=10")
    warm = train(tmp_path / "warm", "cache.enabled=true", cache, "train.budget_calls=10")
    assert warm.summary["tokens"]["target"]["calls"] == 0  # every call replayed
    for key in ("calls", "tokens"):
        assert warm.summary["budget"]["spent"][key] == cold.summary["budget"]["spent"][key]
    # so the warm run stops where the cold one did
    steps = [read(r.run_dir / "runtime_state.json")["global_step"] for r in (cold, warm)]
    assert steps == [1, 1]


def test_train_cli_takes_the_budget_and_prints_the_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = {"scripted:target": target_model(), "scripted:optimizer": Optimizer().model}
    monkeypatch.setattr(skillfit.app.build, "build_task", lambda cfg: AddTask())
    # The models as the registry gives them: accounted, so the budget sees their calls.
    monkeypatch.setattr(
        skillfit.app.build, "get_model", lambda spec, **kw: wrap(models[spec], **kw)
    )
    path = tmp_path / "run.yaml"
    path.write_text(
        "task: {name: add}\n"
        "target: {model: 'scripted:target'}\n"
        "optimizer: {model: 'scripted:optimizer', temperature: 0}\n"
        "train: {epochs: 3, batch_size: 3, minibatch_size: 3}\n"
        "slow_update: {enabled: false}\n"
        "meta_skill: {enabled: false}\n"
        "cache: {enabled: false}\n"
        "gate: {kind: strict_mean}\n"
        f"run: {{out_dir: '{tmp_path}', name: cli, target_check: false}}\n"
    )
    args = ["train", "--config", str(path), "-q", "--budget-calls", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "stopped by budget_calls" in result.output
    assert "Budget spent:" in result.output and "--budget-calls to go on" in result.output
    assert "Phases: rollouts" in result.output
    config = read(tmp_path / "cli" / "config.json")
    assert config["train"]["budget_calls"] == 3


def _optimizer() -> ScriptedModel:
    """Answers the skillfit loop's prompts, one-shot's and GEPA's, always with the method."""
    loop = Optimizer([GOOD])

    def reply(request: Request) -> Any:
        if 'JSON: {"skill"' in request.system:
            return {"skill": f"# Adding\n\n{MAGIC}"}
        if not request.system:  # GEPA's reflection prompt: one user message
            return f"```\n# Adding\n\n{MAGIC}\n```"
        return loop._reply(request)

    return ScriptedModel(reply, name="scripted:optimizer")


def test_compare_gives_every_strategy_the_same_budget(tmp_path: Path) -> None:
    pytest.importorskip("gepa")
    from skillfit import api
    from skillfit.app.compare import compare

    def one_run(config: Any, *, overrides: Any, out_dir: Any) -> Any:
        return api.train(
            config,
            overrides=overrides,
            out_dir=out_dir,
            task=AddTask(n_val=6, initial="# Guide\n\nBe careful.\n"),
            target=target_model(),
            optimizer=_optimizer(),
        )

    cfg = config(tmp_path, "train.epochs=2", "run.target_check=false")
    result = compare(
        cfg,
        ["skillfit", "gepa", "oneshot"],
        out_dir=tmp_path / "cmp",
        budget_calls=30,
        run=one_run,
    )
    for row in result.rows:
        (run_dir,) = row.runs
        root = Path(run_dir)
        config_json = read(root / "config.json")
        assert config_json["train"]["budget_calls"] == 30, row.strategy
        # skillfit's spending is not imposed on the others on top of the shared budget
        assert config_json["strategy"]["target_calls"] is None, row.strategy
        summary = read(root / "summary.json")
        assert summary["budget"]["budget"] == {"calls": 30}, row.strategy
    gepa = read(tmp_path / "cmp" / "gepa-s0" / "gepa" / "result.json")
    assert gepa["max_metric_calls"] is None and gepa["budget"] == {"calls": 30}
    gepa_summary = read(tmp_path / "cmp" / "gepa-s0" / "summary.json")
    # GEPA stops between its iterations once the budget is spent (an iteration may cross it)
    assert 30 <= gepa_summary["budget"]["spent"]["calls"] <= 30 + 6 + 6 + 2
    assert result.meta["budget_calls"] == 30
    assert "30 calls per run (every role" in (tmp_path / "cmp" / "compare.md").read_text()
