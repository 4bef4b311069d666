"""`skillfit compare` on scripted models (same budget, table, CSV, plot) and `skillfit report`
(a self-contained page whose plots render in headless Chromium)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from train_fakes import MAGIC, AddTask, Optimizer, config, edit

from skillfit.models.scripted import Request, ScriptedModel


def optimizer_model() -> ScriptedModel:
    """Answers the skillfit loop's prompts, one-shot's and GEPA's, always with the method."""
    loop = Optimizer([{"analysis": "method", "edits": [edit(content=f"## Method\n{MAGIC}")]}])

    def reply(request: Request) -> Any:
        if 'JSON: {"skill"' in request.system:
            return {"skill": f"# Adding\n\n{MAGIC}"}
        if not request.system:  # GEPA's reflection prompt: one user message
            return f"```\n# Adding\n\n{MAGIC}\n```"
        return loop._reply(request)

    return ScriptedModel(reply, name="scripted:optimizer")


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from train_fakes import target_model

    from skillfit import api
    from skillfit.app.compare import compare

    tmp = tmp_path_factory.mktemp("cmp")
    cfg = config(tmp, "train.epochs=1", "train.batch_size=3")

    def run(config: Any, *, overrides: Any, out_dir: Any) -> Any:
        return api.train(
            config,
            overrides=overrides,
            out_dir=out_dir,
            task=AddTask(initial="# Guide\n\nBe careful.\n"),
            target=target_model(),
            optimizer=optimizer_model(),
        )

    return compare(
        cfg,
        ["skillfit", "gepa", "oneshot", "textgrad", "none", "initial"],
        seeds=2,
        out_dir=tmp / "cmp",
        run=run,
    )


def test_compare_writes_the_table_with_one_budget(compared: Any) -> None:
    root = compared.out_dir
    for name in ("compare.md", "compare.csv", "compare.json", "compare.png"):
        assert (root / name).is_file(), name
    rows = {r.strategy: r for r in compared.rows}
    assert list(rows) == ["skillfit", "gepa", "oneshot", "textgrad", "none", "initial"]
    budgets = compared.meta["budgets"]
    assert set(budgets) == {"0", "1"} and all(b > 0 for b in budgets.values())
    # skillfit's spending is the budget; no other strategy trains beyond it (GEPA may finish
    # the evaluation it started, a few calls past it).
    total = sum(budgets.values())
    assert rows["skillfit"].train_target_calls == total
    assert rows["gepa"].train_target_calls <= total + 2 * 6
    assert rows["textgrad"].train_target_calls <= total + 2 * 4
    assert rows["none"].train_target_calls == 0 and rows["initial"].train_target_calls == 0
    assert rows["none"].accuracy == 0.0 and rows["skillfit"].accuracy == 1.0
    assert rows["skillfit"].n == 8  # 4 test items × 2 seeds, pooled
    assert rows["skillfit"].vs_none["mean_diff"] == 1.0
    assert rows["none"].vs_skillfit["mean_diff"] == -1.0 and rows["none"].vs_none is None
    assert rows["skillfit"].calls["optimizer"] > 0 and rows["skillfit"].wall_seconds >= 0
    md = (root / "compare.md").read_text()
    assert "| skillfit | 8/8 = 1.000" in md and "vs none" in md
    with (root / "compare.csv").open() as fh:
        assert [r["strategy"] for r in csv.DictReader(fh)][0] == "skillfit"
    assert (root / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_keeps_each_seed_and_the_training_tokens_and_time(compared: Any) -> None:
    rows = {r.strategy: r for r in compared.rows}
    for row in compared.rows:
        assert [s["seed"] for s in row.per_seed] == [0, 1], row.strategy
        assert sum(s["correct"] for s in row.per_seed) == row.correct
        assert sum(s["train_target_calls"] for s in row.per_seed) == row.train_target_calls
        assert sum(s["train_target_tokens"] for s in row.per_seed) == row.train_target_tokens
        accuracies = [s["correct"] / s["n"] for s in row.per_seed]
        assert row.mean_accuracy == pytest.approx(sum(accuracies) / 2)
        assert 0 <= row.train_wall_seconds <= row.wall_seconds + 0.1
    # Training target tokens are the target's prompt + completion tokens over the training
    # steps (replies served from the cache included), as each run's history records them.
    for name in ("skillfit", "gepa"):
        history = [
            step
            for run in rows[name].runs
            for step in json.loads((Path(run) / "history.json").read_text())
        ]
        use = [step["tokens"].get("target", {}) for step in history]
        expected = sum(
            u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) + u.get("hit_tokens", 0)
            for u in use
        )
        assert rows[name].train_target_tokens == expected > rows[name].train_target_calls
    assert rows["none"].train_target_tokens == 0 and rows["initial"].train_target_tokens == 0
    assert rows["skillfit"].mean_accuracy == 1.0 and rows["none"].mean_accuracy == 0.0
    data = json.loads((compared.out_dir / "compare.json").read_text())
    assert data["rows"][0]["per_seed"][1]["train_target_tokens"] > 0
    with (compared.out_dir / "compare.csv").open() as fh:
        table = {r["strategy"]: r for r in csv.DictReader(fh)}
    assert int(table["gepa"]["train_target_tokens"]) == rows["gepa"].train_target_tokens
    assert "training target tokens" in (compared.out_dir / "compare.md").read_text()


def test_compare_again_resumes_every_run(compared: Any) -> None:
    before = json.loads((compared.out_dir / "compare.json").read_text())["wall_seconds"]
    from skillfit.app.compare import _row  # noqa: F401  (the table is rebuilt from records)

    assert all(Path(compared.out_dir / k / "summary.json").is_file() for k in before)


def chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


def rendered(page: Path) -> int:
    """How many plots decoded in headless Chromium (the page marks it on load)."""
    exe = chromium()
    assert exe is not None
    out = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    import re

    m = re.search(r'data-plots-rendered="(\d+)"', out)
    return int(m.group(1)) if m else -1


def test_run_report_is_self_contained(compared: Any) -> None:
    from skillfit.report import write_run_report

    page = write_run_report(compared.out_dir / "skillfit-s0")
    text = page.read_text()
    assert text.count('class="plot"') == 4
    assert "http://" not in text and "https://" not in text  # nothing fetched
    assert "Validation score per step" in text and "Adopted edits" in text
    assert '<span class="add">+## Method</span>' in text
    assert "Fixed by the best skill" in text


def test_cli_report_of_a_compare_directory(compared: Any) -> None:
    from typer.testing import CliRunner

    from skillfit.cli import app

    res = CliRunner().invoke(app, ["report", str(compared.out_dir)])
    assert res.exit_code == 0, res.output
    page = compared.out_dir / "report.html"
    assert page.is_file() and (compared.out_dir / "gepa-s1" / "report.html").is_file()
    assert CliRunner().invoke(app, ["report", str(compared.out_dir / "nothing")]).exit_code == 2


@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_reports_render_their_plots_in_chromium(compared: Any) -> None:
    from skillfit.report import write_compare_report, write_run_report

    assert rendered(write_run_report(compared.out_dir / "skillfit-s0")) == 4
    assert rendered(write_compare_report(compared.out_dir)) == 1
