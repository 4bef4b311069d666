"""Runs to MLflow experiment tracking, from the same typed run record the dashboard reads.

    skillfit track outputs/quickstart outputs/suite        # -> ./mlruns (a local file store)

One MLflow run per skillfit run (found again by its directory, so tracking a run twice, or
while it goes, adds only what is new): the config as params (keys redacted), per step the train
score, the validation scores of the current skill and the candidate, adoption, skill size and
tokens; the test accuracies with their intervals once the run is done; the best skill, every
skill version and summary.json as artifacts. Needs the `mlflow` extra (mlflow-skinny). MLflow 3
keeps its file store in maintenance mode: for a `file:` URI this module opts in to it
(`MLFLOW_ALLOW_FILE_STORE=true`); give an `sqlite:///...` URI (full mlflow) to use a database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from skillfit.models.redact import redact
from skillfit.record import RunRecord, load_run

TAG_DIR = "skillfit.run_dir"
TAG_UNITS = "skillfit.units_logged"
TAG_TEST = "skillfit.test_logged"
MAX_PARAM = 500


class TrackingError(RuntimeError):
    """MLflow is missing or the tracking URI cannot be used (said in one line)."""


def _client(uri: str) -> Any:
    if uri.startswith("file:") or "://" not in uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise TrackingError(
            "MLflow is not installed: pip install 'skillfit[mlflow]' (mlflow-skinny)"
        ) from None
    return MlflowClient(tracking_uri=uri)


def _flat(prefix: str, obj: Any) -> Iterator[tuple[str, str]]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _flat(f"{prefix}.{k}" if prefix else str(k), v)
    else:
        text = redact("" if obj is None else str(obj))
        yield prefix, text[:MAX_PARAM]


def _now_ms() -> int:
    return int(time.time() * 1000)


def unit_metrics(rec: RunRecord) -> list[tuple[str, float, int]]:
    """(key, value, step) for every finished unit: steps and epoch-end updates."""
    out: list[tuple[str, float, int]] = []
    for s in rec.steps:
        prefix = "slow_update." if s.kind == "slow_update" else ""
        values: dict[str, float | None] = {
            "train_score": s.train_score,
            "val_current": s.val_current,
            "val_candidate": s.val_candidate,
            "adopted": 1.0 if s.adopted else 0.0,
            "edits_applied": float(s.applied),
            "skill_tokens": float(s.skill_tokens),
            "tokens": float(sum(u.tokens for u in s.tokens.values())),
            "seconds": s.seconds,
        }
        for key, value in values.items():
            if value is not None:
                out.append((prefix + key, float(value), int(s.step)))
    return out


def test_metrics(rec: RunRecord) -> list[tuple[str, float, int]]:
    if rec.test is None:
        return []
    out: list[tuple[str, float, int]] = []
    step = int(rec.global_step)
    for arm, ev in rec.test.arms.items():
        for key in ("accuracy", "ci_low", "ci_high", "format_rate"):
            value = getattr(ev, key, None)
            if value is not None:
                out.append((f"test.{arm}.{key}", float(value), step))
    for name, diff in rec.test.comparisons.items():
        for key in ("mean_diff", "ci_low", "ci_high", "p_value"):
            value = getattr(diff, key, None)
            if value is not None:
                out.append((f"test.{name}.{key}", float(value), step))
    return out


def track(
    run_dir: str | os.PathLike[str], *, uri: str = "file:./mlruns", experiment: str = "skillfit"
) -> tuple[str, int]:
    """Log (or bring up to date) the run in `run_dir`; returns the MLflow run id and how many
    metric values were added."""
    root = Path(run_dir).resolve()
    rec = load_run(root)
    client = _client(uri)
    from mlflow.entities import Metric, Param, RunTag

    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    existing = client.search_runs(
        [exp_id], filter_string=f"tags.`{TAG_DIR}` = '{str(root).replace(chr(39), '')}'"
    )
    tags = {
        "skillfit.status": rec.status,
        "skillfit.task": rec.meta.task,
        "skillfit.target": redact(rec.meta.target),
        "skillfit.optimizer": redact(rec.meta.optimizer),
        "skillfit.strategy": rec.meta.strategy,
        "skillfit.best_version": str(rec.best_version),
    }
    if existing:
        run = existing[0]
        run_id = run.info.run_id
        units_done = int(run.data.tags.get(TAG_UNITS, "0") or 0)
        test_done = run.data.tags.get(TAG_TEST) == "1"
        params: list[Any] = []
    else:
        run = client.create_run(exp_id, run_name=root.name, tags={TAG_DIR: str(root)})
        run_id = run.info.run_id
        units_done, test_done = 0, False
        params = [Param(k, v) for k, v in _flat("", rec.meta.config) if k][:100]
    now = _now_ms()
    metrics = [
        Metric(k, v, now, step)
        for k, v, step in unit_metrics(rec)
        if _unit_index(rec, step, k) >= units_done
    ]
    if rec.status == "done" and not test_done:
        metrics += [Metric(k, v, now, step) for k, v, step in test_metrics(rec)]
        tags[TAG_TEST] = "1"
    if metrics and rec.best_score is not None:
        metrics.append(Metric("best_val", float(rec.best_score), now, int(rec.global_step)))
    tags[TAG_UNITS] = str(len(rec.steps))
    for i in range(0, len(metrics), 900):  # MLflow takes at most 1,000 per batch
        client.log_batch(run_id, metrics=metrics[i : i + 900])
    for i in range(0, len(params), 90):
        client.log_batch(run_id, params=params[i : i + 90])
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    for name in ("best_skill.md", "summary.json"):
        if (root / name).is_file():
            client.log_artifact(run_id, str(root / name))
    if (root / "skills").is_dir():
        client.log_artifacts(run_id, str(root / "skills"), artifact_path="skills")
    if rec.status in ("done", "failed"):
        client.set_terminated(run_id, status="FINISHED" if rec.status == "done" else "FAILED")
    return run_id, len(metrics)


def _unit_index(rec: RunRecord, step: int, key: str) -> int:
    """The position among the record's units of the unit a metric (step, key) belongs to."""
    slow = key.startswith("slow_update.")
    for i, s in enumerate(rec.steps):
        if s.step == step and (s.kind == "slow_update") == slow:
            return i
    return len(rec.steps)
