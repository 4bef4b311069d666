"""The target check before training (app/target_check.py): scripted targets that do and do
not react to their skill, what `skillfit train` does with each, and that the trained skill is
the same with and without the check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from strategy_golden import fingerprint, scenario
from train_fakes import MAGIC, AddTask, Optimizer, config, run, target_model

import skillfit.app.build
from skillfit.api import TargetUnreactive
from skillfit.app.target_check import (
    LARGER_LOCAL,
    PROBE_WORD,
    TargetCheck,
    check_target,
    decide,
)
from skillfit.cli import app
from skillfit.models.scripted import Request


def deaf(request: Request) -> str:
    """A target whose replies never depend on its skill."""
    return "I am not sure."


def follows_form(request: Request) -> str:
    """A target that cannot solve the task but does what its skill asks of the reply's form."""
    head = f"{PROBE_WORD}\n" if PROBE_WORD in request.system else ""
    return head + "I am not sure."


def _check(fn: Any, skill: str, n: int = 8) -> TargetCheck:
    task = AddTask(n_val=n)
    return check_target(task, target_model(fn), skill, task.splits()["val"])


def test_reacting_target() -> None:
    from train_fakes import solve

    result = _check(solve, f"## Method\n{MAGIC}")
    assert result.reacts and result.wins == 8 and result.losses == 0
    assert result.changed_replies == 8
    assert result.probe_followed is None and result.calls == 16  # no probe needed
    assert "8 won and 0 lost" in result.message("scripted:t")


def test_deaf_target_is_named_with_the_larger_and_hosted_targets() -> None:
    result = _check(deaf, "# Guide\n\nBe careful.")
    assert not result.reacts
    assert result.changed_replies == 0 and result.probe_followed == 0
    assert result.calls == 24  # no skill, the skill, the probe
    text = result.message("local:qwen2.5-coder-0.5b")
    assert "does not react to skills on this task" in text
    assert LARGER_LOCAL in text and "openai:" in text and "anthropic:" in text


def test_a_target_that_follows_the_probe_reacts_even_when_the_skill_moves_nothing() -> None:
    result = _check(follows_form, "# Guide\n\nBe careful.")
    assert result.wins == result.losses == 0
    assert result.probe_followed == 8 and result.reacts
    empty = _check(follows_form, "")  # an empty starting skill: the probe alone decides
    assert empty.skill_empty and empty.reacts and empty.calls == 16


def test_decide_asks_on_a_terminal_and_warns_otherwise() -> None:
    deaf_result = _check(deaf, "# Guide\n\nBe careful.")
    said: list[str] = []
    warned: list[str] = []
    asked: list[str] = []

    def ask(question: str) -> bool:
        asked.append(question)
        return False

    assert not decide(deaf_result, interactive=True, ask=ask, say=said.append, warn=warned.append)
    assert asked == ["Train anyway?"] and len(warned) == 1
    warned.clear()
    assert decide(deaf_result, interactive=False, ask=ask, say=said.append, warn=warned.append)
    assert len(warned) == 2 and "training anyway" in warned[1] and len(asked) == 1
    from train_fakes import solve

    fine = _check(solve, f"## Method\n{MAGIC}")
    assert decide(fine, interactive=True, ask=ask, say=said.append, warn=warned.append)
    assert said and len(asked) == 1  # a reacting target is not asked about


def test_refuse_stops_before_anything_is_written(tmp_path: Path) -> None:
    cfg = config(tmp_path, "run.target_check=refuse")
    with pytest.raises(TargetUnreactive, match="does not react"):
        run(cfg, AddTask(initial="# Guide\n\nBe careful.\n"), target_model(deaf), Optimizer().model)
    assert not (tmp_path / "run").exists()


def test_declining_stops_and_the_check_is_counted_when_going_on(tmp_path: Path) -> None:
    task = AddTask(initial="# Guide\n\nBe careful.\n")
    with pytest.raises(TargetUnreactive):
        run(
            config(tmp_path),
            task,
            target_model(deaf),
            Optimizer().model,
            on_target_check=lambda result: False,
        )
    assert not (tmp_path / "run").exists()
    events: list[dict[str, Any]] = []
    result = run(
        config(tmp_path), task, target_model(deaf), Optimizer().model, progress=events.append
    )
    checks = [e for e in events if e["event"] == "target_check"]
    assert len(checks) == 1 and not checks[0]["reacts"]
    assert (tmp_path / "run" / "target_check.json").exists()
    check = result.summary["target_check"]
    assert check["calls"] == 12  # AddTask has 4 val items: no skill, the skill, the probe
    off = run(
        config(tmp_path / "off", "run.target_check=false"),
        task,
        target_model(deaf),
        Optimizer().model,
    )
    assert "target_check" not in off.summary
    on_calls = result.summary["tokens"]["target"]["calls"]
    assert on_calls == off.summary["tokens"]["target"]["calls"] + 12
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["target_check"]["calls"] == 12


def test_the_trained_skill_is_the_same_with_and_without_the_check(tmp_path: Path) -> None:
    with_check = fingerprint(scenario(tmp_path / "a"))
    without = fingerprint(scenario(tmp_path / "b", "run.target_check=false"))
    assert with_check == without
    assert (tmp_path / "a" / "run" / "target_check.json").exists()
    assert not (tmp_path / "b" / "run" / "target_check.json").exists()


def test_with_the_cache_the_checked_rollouts_are_replayed_not_paid_again(tmp_path: Path) -> None:
    from train_fakes import solve

    task = AddTask(initial="# Guide\n\nBe careful.\n")
    cache = f"cache.path={tmp_path / 'c.sqlite'}"
    on = run(
        config(tmp_path / "on", "cache.enabled=true", cache),
        task,
        target_model(solve),
        Optimizer().model,
    )
    # A second run of the same config elsewhere: every call, the check's too, is a replay.
    again = run(
        config(tmp_path / "again", "cache.enabled=true", cache),
        task,
        target_model(solve),
        Optimizer().model,
    )
    assert on.best_skill == again.best_skill
    paid = json.loads((tmp_path / "again" / "run" / "target_check.json").read_text())["tokens"]
    assert paid["target"]["calls"] == 0 and paid["target"]["cache_hits"] == 12


def test_cli_no_check_skips_and_a_script_gets_a_loud_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    models = {"scripted:target": target_model(deaf), "scripted:optimizer": Optimizer().model}
    monkeypatch.setattr(
        skillfit.app.build, "build_task", lambda cfg: AddTask(initial="# Guide\n\nHi.\n")
    )
    monkeypatch.setattr(skillfit.app.build, "get_model", lambda spec, **kw: models[spec])
    path = tmp_path / "run.yaml"
    path.write_text(
        "task: {name: add}\n"
        "target: {model: 'scripted:target'}\n"
        "optimizer: {model: 'scripted:optimizer', temperature: 0}\n"
        "train: {epochs: 1, batch_size: 3, minibatch_size: 3}\n"
        "slow_update: {enabled: false}\nmeta_skill: {enabled: false}\ncache: {enabled: false}\n"
        "gate: {kind: strict_mean}\n"
        f"run: {{out_dir: '{tmp_path}', name: cli}}\n"
    )
    runner = CliRunner()
    warned = runner.invoke(app, ["train", "--config", str(path), "--quiet"])
    assert warned.exit_code == 0, warned.output
    assert "does not react to skills" in warned.output and "training anyway" in warned.output
    skipped = runner.invoke(
        app, ["train", "--config", str(path), "--quiet", "--no-check", "--out", str(tmp_path / "b")]
    )
    assert skipped.exit_code == 0 and "does not react" not in skipped.output
    refused = runner.invoke(
        app,
        [
            "train",
            "-c",
            str(path),
            "-q",
            "--set",
            "run.target_check=refuse",
            "--out",
            str(tmp_path / "c"),
        ],
    )
    assert refused.exit_code != 0 and "--no-check" in refused.output
    assert not (tmp_path / "c").exists()


def test_a_run_killed_during_its_check_resumes_into_the_check(tmp_path: Path) -> None:
    """The first save comes before the check; a run stopped inside it trained nothing, so the
    rerun finishes the check (and records it) before its first step."""
    from train_fakes import solve

    calls = {"n": 0}

    def dies_in_the_check(request: Request) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as a Ctrl-C or a kill in the check's third call would
        return solve(request)

    task = AddTask(initial=f"## Method\n{MAGIC}\n")
    with pytest.raises(KeyboardInterrupt):
        run(config(tmp_path), task, target_model(dies_in_the_check), Optimizer().model)
    assert (tmp_path / "run" / "runtime_state.json").exists()
    assert not (tmp_path / "run" / "target_check.json").exists()
    events: list[dict[str, Any]] = []
    result = run(
        config(tmp_path), task, target_model(solve), Optimizer().model, progress=events.append
    )
    assert result.resumed
    assert [e["event"] for e in events].count("target_check") == 1
    assert (tmp_path / "run" / "target_check.json").exists()
    assert result.summary["target_check"]["reacts"]
