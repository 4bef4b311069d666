"""`skillfit.transfer`: a run's best skill measured across target models x harnesses."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillfit.app import build
from skillfit.app.build import (
    SplitChoice,
    _cache,
    bind_task_models,
    check_run_data,
    check_samples,
    load,
    load_run_config,
    run_best_skill,
    scrub,
    skill_source,
    split_items,
)
from skillfit.core.errors import TrainError
from skillfit.core.io import write_json_atomic, write_text_atomic
from skillfit.models import ChatModel, Ledger, redact, wrap
from skillfit.tasks import Task
from skillfit.train.layout import check_splits
from skillfit.train.transfer import Cell, run_grid, to_csv, to_markdown


@dataclass
class TransferResult:
    run_dir: Path
    out_dir: Path
    skill_path: Path
    cells: list[Cell]
    meta: dict[str, Any]
    markdown: str
    files: dict[str, Path] = field(default_factory=dict)  # markdown, csv, json


def _split_names(text: str | Sequence[str] | None) -> list[str]:
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else list(text)
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def transfer(
    run_dir: str | os.PathLike[str],
    *,
    targets: str | Sequence[str] | None = None,
    harnesses: str | Sequence[str] | None = None,
    split: SplitChoice = "test",
    out_dir: str | os.PathLike[str] | None = None,
    samples: int | None = None,
    overrides: Sequence[str] = (),
    task: Task | None = None,
    models: dict[str, ChatModel] | None = None,
    progress: Callable[[Cell], None] | None = None,
) -> TransferResult:
    """Measure a run's best skill across target models × harnesses on a split of its task:
    no skill vs skill per cell (Wilson intervals), the paired difference with its interval,
    tokens and time. Writes transfer.md, transfer.csv and transfer.json to `out_dir` (default
    `<run_dir>/transfer`). `targets` and `harnesses` default to the run's own; `models` maps
    target strings to ready-made models (tests)."""
    from skillfit.harness import get_harness
    from skillfit.models.registry import parse_spec

    root = Path(run_dir)
    cfg = load(load_run_config(root), overrides)
    skill_path = run_best_skill(root)
    text, bundle = skill_source(skill_path)
    target_list = _split_names(targets) or [cfg.target.model]
    harness_list = _split_names(harnesses) or [cfg.target.harness]
    for name in harness_list:
        get_harness(name)  # an unknown name fails before any work
    for spec in target_list:
        if models is None or spec not in models:
            parse_spec(spec)
    task = task if task is not None else build.build_task(cfg)
    splits = check_splits(task.splits(), need_test=split in ("test", "all"))
    check_run_data(root, task, splits, split)
    items = split_items(splits, split)
    if not items:
        raise TrainError(f"the {split} split is empty")
    ledger = Ledger()
    cache = _cache(cfg)
    bind_task_models(task, cache, ledger)

    def model_for(spec: str) -> ChatModel:
        if models is not None and spec in models:
            return wrap(models[spec], role="target", cache=cache, ledger=ledger)
        return build.get_model(spec, role="target", cache=cache, ledger=ledger)

    n = samples if samples is not None else int(cfg.eval.samples)
    check_samples(n)
    confidence = float(cfg.gate.confidence)
    cells = run_grid(
        task,
        text,
        items,
        target_list,
        harness_list,
        model_for,
        samples=n,
        concurrency=int(cfg.train.concurrency),
        confidence=confidence,
        progress=progress,
        skill_dir=bundle,
        timeout=cfg.target.cli_timeout,
    )
    meta: dict[str, Any] = {
        "run_dir": str(root),
        "skill": str(skill_path),
        "task": task.name,
        "split": split,
        "n_items": len(items),
        "samples": n,
        "confidence": confidence,
        "trained_target": cfg.target.model,
        "trained_harness": cfg.target.harness,
        "targets": target_list,
        "harnesses": harness_list,
    }
    # A key in a target's base URL stays out of the written tables.
    meta = scrub(meta)
    cells = [dataclasses.replace(c, target=redact(c.target)) for c in cells]
    markdown = to_markdown(cells, meta)
    out = Path(out_dir) if out_dir is not None else root / "transfer"
    files = {
        "markdown": out / "transfer.md",
        "csv": out / "transfer.csv",
        "json": out / "transfer.json",
    }
    write_text_atomic(files["markdown"], markdown)
    write_text_atomic(files["csv"], to_csv(cells, split))
    write_json_atomic(files["json"], {**meta, "cells": [c.to_dict() for c in cells]})
    return TransferResult(root, out, skill_path, cells, meta, markdown, files)
