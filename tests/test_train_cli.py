"""`skillfit train` and `skillfit eval` on scripted models: output modes and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from train_fakes import MAGIC, AddTask, Optimizer, target_model
from typer.testing import CliRunner

import skillfit.api
import skillfit.app.build
from skillfit.cli import app

runner = CliRunner()


@pytest.fixture
def cfg_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    models = {"scripted:target": target_model(), "scripted:optimizer": Optimizer().model}
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
        "slow_update: {enabled: false}\n"
        "meta_skill: {enabled: false}\n"
        "cache: {enabled: false}\n"
        # 4 val items: too few for the default gate to adopt anything; the paper's gate adopts
        "gate: {kind: strict_mean}\n"
        f"run: {{out_dir: '{tmp_path}', name: cli}}\n"
    )
    return path


def test_train_quiet_prints_the_final_comparison(cfg_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--config", str(cfg_file), "--quiet"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "no skill" in out and "initial" in out and "trained" in out
    assert "Paired difference" in out and "+1.000" in out
    assert "valid format" in out  # form apart from substance, "–" when the task cannot tell
    assert "step " not in out.split("Run ")[0]  # quiet: no per-step lines
    assert MAGIC in (tmp_path / "cli" / "best_skill.md").read_text()


def test_train_live_display_prints_step_lines(cfg_file: Path) -> None:
    result = runner.invoke(app, ["train", "--config", str(cfg_file), "--set", "train.epochs=1"])
    assert result.exit_code == 0, result.output
    assert "step   1" in result.output and "[adopted]" in result.output


def test_train_jsonl_emits_one_event_per_line(cfg_file: Path) -> None:
    result = runner.invoke(app, ["train", "--config", str(cfg_file), "--jsonl"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    kinds = [e["event"] for e in events]
    # A fresh run begins with the target check (app/target_check), then the run proper.
    assert kinds[:2] == ["target_check", "run_start"] and kinds[-1] == "summary"
    assert {"step_start", "rollouts", "gate", "step_end", "test_eval", "run_end"} <= set(kinds)
    assert events[-1]["test"]["best"]["accuracy"] == 1.0
    for e in events:
        if e["event"] == "step_end" and e["record"]["kind"] == "step":
            assert e["state"]["global_step"] == e["record"]["step"]


def test_clear_errors_without_tracebacks(cfg_file: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["train", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "config file not found" in missing.output
    assert "Traceback" not in missing.output

    typo = runner.invoke(app, ["train", "--config", str(cfg_file), "--set", "train.epoch=2"])
    assert typo.exit_code == 2 and "train.epochs" in typo.output

    assert runner.invoke(app, ["train", "--config", str(cfg_file), "-q"]).exit_code == 0
    other = runner.invoke(app, ["train", "--config", str(cfg_file), "-q", "--set", "train.seed=3"])
    assert other.exit_code == 2 and "--force" in other.output and "Traceback" not in other.output
    forced = runner.invoke(
        app, ["train", "--config", str(cfg_file), "-q", "--set", "train.seed=3", "--force"]
    )
    assert forced.exit_code == 0 and "Moved the previous run aside" in forced.output


def test_bad_splits_are_a_clear_error(cfg_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = AddTask()
    task._splits["val"] = task._splits["train"][:1]
    monkeypatch.setattr(skillfit.app.build, "build_task", lambda cfg: task)
    result = runner.invoke(app, ["train", "--config", str(cfg_file), "-q"])
    assert result.exit_code == 2
    assert "splits must be disjoint" in result.output and "Traceback" not in result.output


def test_eval_command(cfg_file: Path, tmp_path: Path) -> None:
    skill = tmp_path / "skill.md"
    skill.write_text(f"# Method\n\n{MAGIC}\n")
    result = runner.invoke(
        app, ["eval", "--skill", str(skill), "--config", str(cfg_file), "--split", "val"]
    )
    assert result.exit_code == 0, result.output
    assert "accuracy 1.000" in result.output and "(4/4)" in result.output
    as_json = runner.invoke(
        app, ["eval", "-s", str(skill), "-c", str(cfg_file), "--split", "all", "--json"]
    )
    assert json.loads(as_json.stdout)["n_items"] == 14

    binary = tmp_path / "bad.md"
    binary.write_bytes(b"\xff\xfe\x00bad")
    bad = runner.invoke(app, ["eval", "--skill", str(binary), "--config", str(cfg_file)])
    assert bad.exit_code == 2 and "UTF-8" in bad.output and "Traceback" not in bad.output
    huge = tmp_path / "huge.md"
    huge.write_text("x" * 100_000)
    big = runner.invoke(app, ["eval", "--skill", str(huge), "--config", str(cfg_file)])
    assert big.exit_code == 2 and "Traceback" not in big.output
    wrong = runner.invoke(app, ["eval", "-s", str(skill), "-c", str(cfg_file), "--split", "dev"])
    assert wrong.exit_code == 2


def test_a_run_whose_candidates_moved_no_answer_says_so() -> None:
    from skillfit.cli.train_output import unreactive_hint

    flat = {"adoptions": 0, "val_outcomes_moved": {"moved": 2, "compared": 80}}
    assert "only 2 of 80 validation items" in (unreactive_hint(flat) or "")
    assert unreactive_hint({**flat, "adoptions": 1}) is None
    assert unreactive_hint({"adoptions": 0, "val_outcomes_moved": {"moved": 7, "compared": 80}})
    assert not unreactive_hint({"adoptions": 0, "val_outcomes_moved": {"moved": 8, "compared": 80}})
    assert not unreactive_hint({"adoptions": 0, "val_outcomes_moved": {"moved": 0, "compared": 12}})
    assert not unreactive_hint({"adoptions": 0})  # a summary written before the counts existed


def test_train_seeds_trains_once_per_seed_and_pools(cfg_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "three"
    result = runner.invoke(
        app, ["train", "--config", str(cfg_file), "--seeds", "3", "--out", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    for seed in (0, 1, 2):
        config = json.loads((out / f"seed-{seed}" / "config.json").read_text())
        assert config["train"]["seed"] == seed
        assert (out / f"seed-{seed}" / "best_skill.md").exists()
    pooled = json.loads((out / "seeds.json").read_text())
    assert [r["seed"] for r in pooled["runs"]] == [0, 1, 2]
    n = pooled["runs"][0]["n"]
    # Every seed adopts the scripted optimizer's fix: trained is right on every test item.
    assert all(r["correct"]["best"] == n for r in pooled["runs"])
    spread = pooled["vs_initial_over_seeds"]
    assert spread["sd"] == 0.0 and spread["min"] == spread["max"] == spread["mean"] > 0
    # Pooled over the test items, not over (seed, item) pairs: n is the number of items.
    assert pooled["pooled_vs_initial"]["n"] == n
    assert "trained − initial over 3 seeds" in result.output
    assert "| 2 |" in result.output and "wall time" in result.output


def test_train_seeds_resumes_finished_seeds_for_free(cfg_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    args = ["train", "--config", str(cfg_file), "--seeds", "2", "--out", str(out), "-q"]
    assert runner.invoke(app, args).exit_code == 0
    first = (out / "seeds.json").read_text()
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert (
        json.loads((out / "seeds.json").read_text())["runs"][0]["correct"]
        == json.loads(first)["runs"][0]["correct"]
    )


def test_train_seeds_refuses_zero(cfg_file: Path) -> None:
    result = runner.invoke(app, ["train", "--config", str(cfg_file), "--seeds", "0"])
    assert result.exit_code == 2 and "--seeds must be 1 or more" in result.output
