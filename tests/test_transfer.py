"""`skillfit transfer` and `skillfit eval` end to end on scripted targets: a trained skill
measured across targets and harnesses, the tables written, and clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from harness_fakes import OPTIONS, TASK, answer_action, bbh_target, rules_file
from train_fakes import MAGIC, Optimizer, config, run
from typer.testing import CliRunner

import skillfit
from skillfit.cli import app
from skillfit.core.errors import TrainError
from skillfit.models.registry import get_model
from skillfit.models.scripted import ScriptedModel
from skillfit.tasks import get_task

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A finished run (trained under chat) and two rules-file targets: one the skill helps,
    one it does not."""
    root = tmp_path_factory.mktemp("transfer")
    task = get_task(TASK, **OPTIONS)
    opts = "{n_train: 3, n_val: 4, n_test: 4}"
    cfg = config(root, f"task.name={TASK}", f"task.options={opts}")
    result = run(cfg, task, bbh_target(task), Optimizer().model)
    assert MAGIC in result.best_skill
    learner = rules_file(root / "learner.json", task, learns=True)
    stubborn = rules_file(root / "stubborn.json", task, learns=False)
    return {
        "run": result.run_dir,
        "learner": f"scripted:{learner}",
        "stubborn": f"scripted:{stubborn}",
        "root": root,
    }


def test_rules_files_can_look_at_the_system_message_and_the_format(
    trained: dict[str, Any],
) -> None:
    task = get_task(TASK, **OPTIONS)
    item = task.splits()["test"][0]
    model = get_model(trained["learner"])
    ask = [{"role": "user", "content": item.input}]
    assert model.complete(ask).text == "Answer: maybe"
    told = [{"role": "system", "content": MAGIC}, *ask]
    assert model.complete(told).text == f"Answer: {item.target}"
    as_json = model.complete(told, response_format={"type": "object"}).text
    assert json.loads(as_json) == answer_action(str(item.target))


def test_transfer_cli_writes_and_prints_the_grid(trained: dict[str, Any]) -> None:
    out = trained["root"] / "grid"
    targets = f"{trained['learner']},{trained['stubborn']}"
    result = runner.invoke(
        app,
        ["transfer", str(trained["run"]), "--targets", targets, "--harnesses", "chat,agent"]
        + ["--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "Transfer of" in result.output and "transfer.csv" in result.output
    rows = list(csv.DictReader((out / "transfer.csv").open()))
    assert [(r["target"], r["harness"]) for r in rows] == [
        (trained["learner"], "chat"),
        (trained["learner"], "agent"),
        (trained["stubborn"], "chat"),
        (trained["stubborn"], "agent"),
    ]
    for row in rows:
        learns = row["target"] == trained["learner"]
        assert row["split"] == "test" and row["n_items"] == "4"
        assert float(row["none_accuracy"]) == 0.0
        assert float(row["skill_accuracy"]) == (1.0 if learns else 0.0)
        assert float(row["diff"]) == (1.0 if learns else 0.0)
        assert float(row["diff_ci_low"]) <= float(row["diff"]) <= float(row["diff_ci_high"])
        assert 0.0 <= float(row["none_ci_low"]) <= float(row["none_ci_high"]) <= 1.0
        assert int(row["none_tokens"]) > 0 and int(row["skill_tokens"]) > 0
        assert float(row["skill_seconds"]) >= 0
    markdown = (out / "transfer.md").read_text()
    assert "| target | harness | no skill | skill | skill − no skill | p | tokens | time |" in (
        markdown
    )
    assert "1.000 [0.510, 1.000] (4/4)" in markdown and "+1.000" in markdown
    assert f"Task {TASK}, test split, 4 items" in markdown and "harness chat" in markdown
    data = json.loads((out / "transfer.json").read_text())
    assert len(data["cells"]) == 4 and data["cells"][1]["skill_vs_none"]["mean_diff"] == 1.0
    assert "per_item" not in data["cells"][0]["none"]


def test_transfer_defaults_to_the_run_target_and_harness(trained: dict[str, Any]) -> None:
    task = get_task(TASK, **OPTIONS)
    result = skillfit.transfer(
        trained["run"],
        split="val",
        out_dir=trained["root"] / "defaults",
        models={"scripted:target": bbh_target(task)},
    )
    (cell,) = result.cells
    assert (cell.target, cell.harness) == ("scripted:target", "chat")
    assert cell.skill.result.accuracy == 1.0 and cell.skill.result.n_items == 4
    assert result.files["csv"].is_file() and result.meta["split"] == "val"


def test_transfer_errors_are_one_clear_line(trained: dict[str, Any]) -> None:
    empty = trained["root"] / "empty"
    empty.mkdir()
    cases = [
        (["transfer", str(trained["root"] / "nope")], "is not a directory"),
        (["transfer", str(empty)], "holds no skillfit run"),
        (
            ["transfer", str(trained["run"]), "--targets", trained["learner"]]
            + ["--harnesses", "chat,codx", "--out", str(trained["root"] / "bad")],
            "unknown harness 'codx'; known harnesses: agent, chat, claude-code, codex",
        ),
        (["transfer", str(trained["run"]), "--targets", "nonsense"], "unknown model provider"),
        (["transfer", str(trained["run"]), "--split", "dev"], "--split must be"),
    ]
    for argv, message in cases:
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert not (trained["root"] / "bad").exists()  # nothing ran, nothing written


def test_transfer_refuses_splits_that_moved(
    trained: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(trained["run"], copy)
    manifest = json.loads((copy / "splits.json").read_text())
    manifest["splits"]["test"] = list(reversed(manifest["splits"]["test"]))
    (copy / "splits.json").write_text(json.dumps(manifest))
    with pytest.raises(TrainError, match="test split is not the one"):
        skillfit.transfer(copy, targets=trained["learner"])


def test_eval_any_skill_form_target_and_harness(trained: dict[str, Any]) -> None:
    run_dir: Path = trained["run"]
    skill_dir = next((run_dir / "best_skill").iterdir())
    for skill in (run_dir, run_dir / "best_skill", skill_dir, run_dir / "best_skill.md"):
        for harness in ("chat", "agent"):
            result = runner.invoke(
                app,
                ["eval", "--skill", str(skill), "--target", trained["learner"]]
                + ["--harness", harness],
            )
            assert result.exit_code == 0, result.output
            assert "accuracy 1.000" in result.output and f"harness {harness}" in result.output
    # a skill outside any run names its task
    loose = trained["root"] / "loose.md"
    loose.write_text(f"# Method\n\n{MAGIC}\n")
    argv = ["eval", "-s", str(loose), "--target", trained["learner"], "--harness", "agent"]
    no_task = runner.invoke(app, argv)
    assert no_task.exit_code == 2 and "which task?" in no_task.output
    named = runner.invoke(app, [*argv, "--task", TASK, "--set", f"task.options={_opts()}"])
    assert named.exit_code == 0, named.output
    assert "accuracy 1.000" in named.output


def _opts() -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in OPTIONS.items()) + "}"


def test_eval_of_the_stubborn_target_shows_no_gain(trained: dict[str, Any]) -> None:
    model = ScriptedModel(lambda r: "Answer: maybe")
    result = skillfit.evaluate(trained["run"], target=model, harness="chat")
    assert result.accuracy == 0.0


def test_the_printed_grid_keeps_every_value_whole_at_80_columns() -> None:
    from rich.console import Console

    from skillfit.cli.transfer_cmd import print_grid

    cell = ("0.017 [0.003, 0.089] (1/60)", "0.500 [0.377, 0.623] (30/60)", "+0.483 [0.353, 0.614]")
    rows = [
        (f"local:qwen2.5-coder-{size}", harness, *cell, "0.000", "123,456", "612.3s")
        for size in ("0.5b", "1.5b")
        for harness in ("claude-code", "codex")
    ]
    for width in (80, 200):
        console = Console(width=width, record=True)
        print_grid(console, "Transfer", rows)
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width
        for whole in ("local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b", "claude-code"):
            assert text.count(whole) == 2
        for whole in (*cell, "123,456", "612.3s"):
            assert text.count(whole) == 4
        assert "…" not in text
        assert ("┃ target" in text) == (width == 200)
