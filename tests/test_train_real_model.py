"""One tiny training step with the embedded 0.5B model as both target and optimizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillfit.api import train
from skillfit.train.config import load_config


@pytest.mark.real_model
def test_one_step_on_the_embedded_model(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            "task.name=bbh/boolean_expressions",
            "task.options={n_train: 4, n_val: 4, n_test: 2, seed: 0}",
            "target.model=local:qwen2.5-coder-0.5b",
            "target.max_tokens=48",
            "optimizer.model=local:qwen2.5-coder-0.5b",
            "optimizer.max_tokens=320",
            "train.epochs=1",
            "train.batch_size=4",
            "train.minibatch_size=4",
            "train.max_steps=1",
            "train.concurrency=2",
            "slow_update.enabled=false",
            "meta_skill.enabled=false",
            f"cache.path={tmp_path / 'cache.sqlite'}",
            f"run.out_dir={tmp_path}",
            "run.name=real",
        ],
    )
    result = train(cfg)
    root = tmp_path / "real"
    (record,) = json.loads((root / "history.json").read_text())
    assert record["n_train"] == 4 and record["n_infra_errors"] == 0
    assert record["tokens"]["target"]["completion_tokens"] > 0
    proposals = json.loads((root / "steps" / "step_0001" / "proposals.json").read_text())
    for p in proposals:  # every optimizer reply is kept, valid or not
        assert all(a["raw"] or a["error"] for a in p["optimizer"]["attempts"])
    assert result.test is not None and result.test["best"]["scored"] == 2
