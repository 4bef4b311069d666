"""`skillfit track`: a scripted run logged to a local MLflow file store from its run record."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from dashboard_fakes import FAKE_KEY, train_cli, write_scenario  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from skillfit.cli import app  # noqa: E402
from skillfit.dashboard.tracking import track  # noqa: E402


def test_track_logs_params_metrics_and_artifacts_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    cfg = write_scenario(tmp_path / "s", extra="run: {name: 'k-" + FAKE_KEY + "'}\n")
    run = tmp_path / "outputs" / "scripted"
    train_cli(cfg, run)
    uri = f"file:{tmp_path / 'mlruns'}"
    run_id, added = track(run, uri=uri)
    assert added > 0
    client = MlflowClient(tracking_uri=uri)
    data = client.get_run(run_id).data
    assert data.params["task.name"] == "bbh/web_of_lies"
    assert FAKE_KEY not in str(data.params) and FAKE_KEY not in str(data.tags)
    assert data.tags["skillfit.status"] == "done"
    val = client.get_metric_history(run_id, "val_candidate")
    adopted = client.get_metric_history(run_id, "adopted")
    assert val and max(m.value for m in adopted) == 1.0
    assert data.metrics["test.best.accuracy"] == pytest.approx(0.5)
    names = {f.path for f in client.list_artifacts(run_id)}
    assert {"best_skill.md", "summary.json", "skills"} <= names
    # Tracking again finds the same MLflow run and adds nothing.
    again, added_again = track(run, uri=uri)
    assert again == run_id and added_again == 0
    assert len(client.get_metric_history(run_id, "val_candidate")) == len(val)
    # The command line takes a folder of runs.
    result = CliRunner().invoke(app, ["track", str(tmp_path / "outputs"), "--uri", uri])
    assert result.exit_code == 0 and "0 metric values added" in result.output
