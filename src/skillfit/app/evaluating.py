"""`skillfit.evaluate`: one skill's accuracy on a split of a task, for any target and harness."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from skillfit.app import build
from skillfit.app.build import (
    SplitChoice,
    _cache,
    _run_of,
    bind_task_models,
    check_run_data,
    check_samples,
    find_run_dir,
    load,
    load_run_config,
    on_run_task,
    skill_source,
    split_items,
)
from skillfit.core.errors import TrainError
from skillfit.harness import bind_harness, prepare_run
from skillfit.models import ChatModel, Ledger, wrap
from skillfit.models.base import Usage
from skillfit.skill import Skill
from skillfit.tasks import Task
from skillfit.train.config import (
    RunConfig,
)
from skillfit.train.evaluation import EvalResult, evaluate_skill
from skillfit.train.layout import check_splits


def eval_config(
    skill: str | os.PathLike[str] | Skill,
    config: RunConfig | str | os.PathLike[str] | None,
    overrides: Sequence[str] = (),
    *,
    task_name: str | None = None,
    harness: str | None = None,
) -> RunConfig:
    """The configuration an evaluation runs under: `config`; else, for a skill inside a run
    directory, that run's; else the defaults when `task_name` names the task. `task_name` and
    `harness` override the task and `target.harness`."""
    extra = [*([f"task.name={task_name}"] if task_name else [])]
    extra += [f"target.harness={harness}"] if harness else []
    if config is None:
        run = None if isinstance(skill, Skill) or "\n" in str(skill) else find_run_dir(skill)
        if run is not None:
            config = load_run_config(run)
        elif task_name:
            config = RunConfig()
        else:
            raise TrainError(
                "which task? give --config FILE or --task NAME (or a skill inside a run "
                "directory, whose config is used)"
            )
    return load(config, [*overrides, *extra])


def evaluate(
    skill: str | os.PathLike[str] | Skill,
    config: RunConfig | str | os.PathLike[str] | None = None,
    *,
    split: SplitChoice = "test",
    target: str | ChatModel | None = None,
    overrides: Sequence[str] = (),
    samples: int | None = None,
    task: Task | None = None,
    harness: str | None = None,
    task_name: str | None = None,
    run_config: bool = False,
) -> EvalResult:
    """Accuracy of `skill` (a file, a skill directory or a run directory) on a split of the
    task, with a Wilson interval and the per-item scores. The task comes from `config`, else
    from the run directory the skill lies in, else `task_name`. `target` overrides the target
    model (a spec or a model), `harness` its harness (`target.harness`).

    Measured on the run's own task (no `config`, or `run_config=True`: `config` is what
    `eval_config` made of the run's), the skill of a run is measured on the data the run
    recorded or not at all: DataChanged when the items of the split changed since."""
    cfg = eval_config(skill, config, overrides, task_name=task_name, harness=harness)
    text, bundle = skill_source(skill)
    run = None
    if config is None or run_config:
        run = _run_of(skill) if on_run_task(overrides, task_name) else None
    task = task if task is not None else build.build_task(cfg)
    task = bind_harness(task, cfg.target.harness, skill_dir=bundle, timeout=cfg.target.cli_timeout)
    splits = check_splits(task.splits(), need_test=split in ("test", "all"))
    if run is not None:
        hint = "give the config with --config to measure it on the data as it is now"
        check_run_data(run, task, splits, split, hint)
    items = split_items(splits, split)
    if not items:
        raise TrainError(f"the {split} split is empty")
    ledger = Ledger()
    cache = _cache(cfg)
    bind_task_models(task, cache, ledger)
    if isinstance(target, str) or target is None:
        model = build.get_model(
            target or cfg.target.model, role="target", cache=cache, ledger=ledger
        )
    else:
        model = wrap(target, role="target", cache=cache, ledger=ledger)
    prepare_run(task, model)
    n = samples if samples is not None else int(getattr(cfg.eval, "samples", 1))
    check_samples(n)
    start = time.perf_counter()
    result, trajs = evaluate_skill(
        task,
        model,
        text,
        items,
        samples=n,
        concurrency=int(cfg.train.concurrency),
        name=split,
    )
    usage = sum((t.usage for t in trajs), Usage())
    result.tokens = {
        "prompt": usage.prompt_tokens,
        "completion": usage.completion_tokens,
        "cached": usage.cached_tokens,
        "cache_write": usage.cache_write_tokens,
        "total": usage.total_tokens,
        # Rollouts whose usage is known only in part (an agent CLI stopped at its limit): with
        # any, the figures above are a lower bound.
        "incomplete": sum(1 for t in trajs if not t.usage_complete),
    }
    result.seconds = time.perf_counter() - start
    return result
