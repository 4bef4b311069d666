"""The Python API: `skillfit.train(...)`, `skillfit.evaluate(...)`, `skillfit.transfer(...)` and
`skillfit.compare(...)`, re-exported from the composition root (`skillfit.app`).

    import skillfit
    result = skillfit.train("configs/quickstart.yaml", overrides=["train.epochs=1"])
    print(result.best_skill, result.test["best"]["accuracy"])
    ev = skillfit.evaluate(result.run_dir / "best_skill.md", "configs/quickstart.yaml", split="val")

Both accept a `RunConfig`, or a path to a config file plus `overrides` ("key.path=value").
A custom `Task` object or ready-made models may be passed instead of the ones the config names.
"""

from __future__ import annotations

from skillfit.app.build import (
    Progress,
    SplitChoice,
    bind_task_models,
    build_task,
    check_run_data,
    check_samples,
    find_run_dir,
    initial_skill_source,
    initial_skill_text,
    load,
    load_run_config,
    on_run_task,
    run_best_skill,
    run_dir_for,
    scrub,
    skill_text,
    split_items,
    split_manifest,
)
from skillfit.app.compare import compare
from skillfit.app.evaluating import eval_config, evaluate
from skillfit.app.target_check import TargetUnreactive
from skillfit.app.training import TrainResult, train
from skillfit.app.transfers import TransferResult, transfer
from skillfit.train.config import RunConfig, config_hash
from skillfit.train.evaluation import EvalResult

__all__ = [
    "EvalResult",
    "Progress",
    "RunConfig",
    "SplitChoice",
    "TargetUnreactive",
    "TrainResult",
    "TransferResult",
    "bind_task_models",
    "build_task",
    "check_run_data",
    "check_samples",
    "compare",
    "config_hash",
    "eval_config",
    "evaluate",
    "find_run_dir",
    "initial_skill_source",
    "initial_skill_text",
    "load",
    "load_run_config",
    "on_run_task",
    "run_best_skill",
    "run_dir_for",
    "scrub",
    "skill_text",
    "split_items",
    "split_manifest",
    "train",
    "transfer",
]
