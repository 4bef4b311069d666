"""target.harness through a whole run: config, --harness, training under the agent harness, the
best skill written as an Agent Skills directory, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness_fakes import TASK, bbh_target
from train_fakes import MAGIC, AddTask, Optimizer, config, run, target_model
from typer.testing import CliRunner

import skillfit.api
import skillfit.app.build
from skillfit.cli import app
from skillfit.skill import load_skill_dir
from skillfit.tasks import get_task
from skillfit.train.config import config_hash, load_config

runner = CliRunner()
SIZES = ["task.options={n_train: 3, n_val: 4, n_test: 4, seed: 0}"]


def test_harness_default_and_hash_compatibility() -> None:
    cfg = load_config(None)
    assert cfg.target.harness == "chat"
    # a run made before target.harness existed (chat) keeps its hash, so it still resumes
    data = cfg.model_dump(mode="json")
    del data["target"]["harness"]
    from skillfit.train.config import validate_config

    assert config_hash(validate_config(data)) == config_hash(cfg)
    assert config_hash(load_config(None, ["target.harness=agent"])) != config_hash(cfg)


@pytest.mark.parametrize("harness", ["chat", "agent"])
def test_training_runs_under_either_harness(tmp_path: Path, harness: str) -> None:
    task = get_task(TASK, n_train=3, n_val=4, n_test=4)
    target = bbh_target(task)
    cfg = config(tmp_path, f"task.name={TASK}", *SIZES, f"target.harness={harness}")
    result = run(cfg, task, target, Optimizer().model)
    assert result.test is not None and result.test["best"]["accuracy"] == 1.0
    assert result.test["none"]["accuracy"] == 0.0
    agentic = [c.response_format is not None for c in target.calls]
    assert all(agentic) if harness == "agent" else not any(agentic)
    assert json.loads((result.run_dir / "config.json").read_text())["target"]["harness"] == harness
    rows = (result.run_dir / "steps" / "step_0001" / "rollouts.jsonl").read_text().splitlines()
    first = json.loads(rows[0])
    assert (first["tool_calls"] != []) == (harness == "agent")
    # the best skill, also as an Agent Skills directory
    skill_dir = result.run_dir / "best_skill" / "bbh-boolean-expressions"
    bundle = load_skill_dir(skill_dir)
    assert bundle.body == (result.run_dir / "best_skill.md").read_text() == result.best_skill
    assert MAGIC in bundle.body and TASK in bundle.description


def test_a_skill_directory_as_the_initial_skill_keeps_its_frontmatter(tmp_path: Path) -> None:
    folder = tmp_path / "my-adder"
    (folder / "references").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: my-adder\ndescription: Adds numbers.\nlicense: MIT\n---\n\n# Guide\n\nHi.\n"
    )
    (folder / "references" / "table.md").write_text("1+1=2")
    cfg = config(tmp_path, f"skill.initial={folder}")
    result = run(cfg, AddTask(), target_model(), Optimizer().model)
    assert result.summary["adoptions"] >= 1
    assert (result.run_dir / "skills" / "skill_v0001.md").read_text() == "# Guide\n\nHi.\n"
    out = load_skill_dir(result.run_dir / "best_skill" / "my-adder")
    assert out.description == "Adds numbers." and out.fields == {"license": "MIT"}
    assert out.files == {"references/table.md": b"1+1=2"} and MAGIC in out.body


@pytest.fixture
def cli_cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    task = get_task(TASK, n_train=3, n_val=4, n_test=4)
    models = {"scripted:target": bbh_target(task), "scripted:optimizer": Optimizer().model}
    monkeypatch.setattr(skillfit.app.build, "get_model", lambda spec, **kw: models[spec])
    path = tmp_path / "run.yaml"
    path.write_text(
        f"task: {{name: {TASK}, options: {{n_train: 3, n_val: 4, n_test: 4}}}}\n"
        "target: {model: 'scripted:target'}\n"
        "optimizer: {model: 'scripted:optimizer', temperature: 0}\n"
        "train: {epochs: 1, batch_size: 3, minibatch_size: 3}\n"
        "slow_update: {enabled: false}\nmeta_skill: {enabled: false}\n"
        "cache: {enabled: false}\ngate: {kind: strict_mean}\n"
        f"run: {{out_dir: '{tmp_path}', name: cli}}\n"
    )
    return path


def test_cli_train_and_eval_take_harness(cli_cfg: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "-c", str(cli_cfg), "-q", "--harness", "agent"])
    assert result.exit_code == 0, result.output
    stored = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert stored["target"]["harness"] == "agent"
    skill = tmp_path / "cli" / "best_skill"
    for harness in ("chat", "agent"):
        ev = runner.invoke(
            app,
            ["eval", "-s", str(skill), "-c", str(cli_cfg), "--harness", harness, "--json"],
        )
        assert ev.exit_code == 0, ev.output
        assert json.loads(ev.stdout)["accuracy"] == 1.0


def test_cli_unknown_harness_is_one_clear_line(cli_cfg: Path, tmp_path: Path) -> None:
    for argv in (
        ["train", "-c", str(cli_cfg), "-q", "--harness", "codx"],
        ["train", "-c", str(cli_cfg), "-q", "--set", "target.harness=codx"],
        ["eval", "-s", str(cli_cfg), "-c", str(cli_cfg), "--harness", "codx"],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, result.output
        assert (
            "unknown harness 'codx'; known harnesses: agent, chat, claude-code, codex"
            in result.output
        )
        assert "Traceback" not in result.output
    assert not (tmp_path / "cli").exists()  # refused before anything was written


def test_cli_own_loop_task_refuses_another_harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(skillfit.app.build, "build_task", lambda cfg: AddTask())
    monkeypatch.setattr(skillfit.app.build, "get_model", lambda spec, **kw: target_model())
    skill = tmp_path / "s.md"
    skill.write_text(f"{MAGIC}\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: {name: add}\ncache: {enabled: false}\n")
    result = runner.invoke(app, ["eval", "-s", str(skill), "-c", str(cfg), "--harness", "agent"])
    assert result.exit_code == 2 and "runs its own loop" in result.output
    ok = runner.invoke(app, ["eval", "-s", str(skill), "-c", str(cfg), "--harness", "chat"])
    assert ok.exit_code == 0 and "accuracy 1.000" in ok.output
