"""`skillfit.train`: build the task, the models, the engine, the strategy and the runner from a
config, then run (or resume) one training in its run directory."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillfit.app import build
from skillfit.app.audit import audit_run_dir, task_text, write_audit
from skillfit.app.build import (
    Progress,
    _cache,
    _check_resumed_data,
    _model,
    bind_task_models,
    initial_skill_source,
    load,
    run_dir_for,
    scrub,
    split_manifest,
)
from skillfit.app.target_check import (
    TARGET_CHECK_FILE,
    TargetCheck,
    TargetUnreactive,
    run_target_check,
    undo_fresh_run,
    with_target_check,
)
from skillfit.core.errors import TrainError
from skillfit.core.io import read_json, write_json_atomic
from skillfit.harness import bind_harness, prepare_run
from skillfit.models import ChatModel, Ledger, redact
from skillfit.optim.acceptance import Measured, Ungated
from skillfit.record import AUDIT_FILE, RunAudit, recording
from skillfit.skill import Skill
from skillfit.strategies import get_strategy
from skillfit.tasks import Task
from skillfit.train.config import (
    RunConfig,
    config_hash,
    config_to_dict,
)
from skillfit.train.engine import Parts, Trainer
from skillfit.train.executor import make_executor
from skillfit.train.export import (
    best_skill_bundle,
    check_skill_files,
    restore_best_skill_file,
    write_best_skill_dir,
)
from skillfit.train.layout import RunLayout, check_splits, check_writable_dir, prepare
from skillfit.train.runlock import RunLock
from skillfit.train.runner import Runner
from skillfit.train.state import RunState


@dataclass
class TrainResult:
    run_dir: Path
    best_skill: str
    best_val_score: float | None
    test: dict[str, Any] | None  # none / initial / best accuracies, paired differences
    summary: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False
    moved_aside: Path | None = None  # where --force moved an older run
    audit: RunAudit | None = None  # what audit.json holds (None when the audit failed)
    audit_error: str | None = None  # why the audit could not run


def train(
    config: RunConfig | str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool | None = None,
    force: bool = False,
    progress: Progress | None = None,
    task: Task | None = None,
    target: ChatModel | None = None,
    optimizer: ChatModel | None = None,
    on_target_check: Callable[[TargetCheck], bool] | None = None,
) -> TrainResult:
    """Train a skill; returns where the run lives, the best skill and the test results.

    An output directory holding the same run (same config hash) is resumed from its last
    finished step; one holding a different run is refused unless `force=True`, which moves it
    aside to `<dir>.replaced-<timestamp>` and starts fresh. `resume=True` insists on resuming.
    A directory another process is training in is refused at once (RunLocked, naming it).
    `progress` receives one dict per event (`{"event": "step_end", ...}`).

    A fresh run first checks whether the target reacts to its skill at all (`run.target_check`,
    see skillfit.app.target_check): the result goes to `progress` as a `target_check` event
    and to `on_target_check`, which returns whether to train; with `run.target_check: refuse`
    a target that does not react stops the run (TargetUnreactive), and no run is kept.

    A run that finishes (fresh or resumed) audits its best skill and meta-skill (see
    skillfit.app.audit) into audit.json; `audit` on the result, a count in summary.json."""
    cfg = load(config, overrides)
    base = Path(config).parent if isinstance(config, str | os.PathLike) else None
    remote = cfg.runtime.executor != "local"
    if remote and (task is not None or target is not None):
        given = "task" if task is not None else "target model"
        raise TrainError(
            f"runtime.executor={cfg.runtime.executor} rebuilds the task and the target on each "
            f"worker from the config (task.name, target.model): a {given} object cannot be sent"
        )
    task = task if task is not None else build.build_task(cfg)
    plain = task  # the task's own text, for the audit (the harness below wraps it)
    initial, start_bundle = initial_skill_source(cfg, task, base)
    # Every rollout of the run (training, gate, test) goes through task.rollout: binding the
    # task to the configured harness is how the harness reaches them. A harness that installs
    # skill folders installs each candidate as best_skill/ will ship it: the same frontmatter
    # and files, the trained body.
    shipped = best_skill_bundle(initial, task.name, redact(cfg.target.model), start_bundle)
    task = bind_harness(task, cfg.target.harness, skill_dir=shipped, timeout=cfg.target.cli_timeout)
    splits = check_splits(task.splits(), need_test=bool(cfg.eval.test))
    if Skill.parse(initial).n_tokens() > int(cfg.skill.max_tokens):
        raise TrainError(
            f"the initial skill has {Skill.parse(initial).n_tokens()} tokens, more than "
            f"skill.max_tokens={cfg.skill.max_tokens}"
        )

    digest = config_hash(cfg)
    layout = RunLayout(run_dir_for(cfg, out_dir, digest))
    config_dict = scrub(config_to_dict(cfg))
    cache = _cache(cfg)  # a bad cache path fails before the run directory is touched
    check_writable_dir(layout.root)
    # One process per run directory: a second one is refused here, naming the holder.
    with RunLock(layout.root) as lock:
        decision, moved = prepare(layout, digest, resume=resume, force=force)
        if moved is not None:
            lock.renew()  # --force moved the held folder aside; hold the new one
        manifest = split_manifest(task, splits)
        if decision == "resume":
            _check_resumed_data(layout, task, splits, manifest)
        ledger = Ledger()
        bind_task_models(task, cache, ledger)
        parts = Parts(
            task=task,
            target=_model(target, cfg.target.model, "target", cache, ledger),
            optimizer=_model(optimizer, cfg.optimizer.model, "optimizer", cache, ledger),
            ledger=ledger,
        )
        prepare_run(task, parts.target)
        executor = make_executor(
            cfg.runtime,
            task=task,
            model=parts.target,
            concurrency=int(cfg.train.concurrency),
            spec=build.rollout_spec(cfg, shipped) if remote else None,
            cache=cache,
            ledger=ledger,
        )
        trainer = Trainer(cfg, parts, layout, splits, digest, progress=progress, executor=executor)
        strategy = get_strategy(cfg.strategy.name, **cfg.strategy.options)
        # The acceptance policy: the configured gate, or none when it is ablated (by the
        # config's strategy.ablate, or by the strategy itself: `ungated`).
        ablated = {*cfg.strategy.ablate, *getattr(strategy, "ablate", ())}
        acceptance = Ungated() if "gate" in ablated else Measured(cfg.gate)
        runner = Runner(trainer, strategy, acceptance)
        per_epoch = strategy.steps_per_epoch(trainer)
        if decision == "fresh":
            layout.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(layout.config, config_dict)
            write_json_atomic(layout.splits, manifest)
            ledger.attach(layout.journal)
            state = trainer.initial_state(initial, per_epoch)
            trainer.save(state)
        else:
            state = (
                RunState.load(layout.state)
                if layout.state.exists()
                else trainer.initial_state(initial, per_epoch)
            )
            check_skill_files(layout, state)
            # Calls paid before a kill stay paid calls; their replays from the cache are not hits.
            ledger.attach(layout.journal, accounted=state.journal_bytes)
        try:
            # events.jsonl (see skillfit.record) gets every event; the caller's progress too.
            with recording(layout.root, progress, kind="train", strategy=strategy.name) as recorder:
                trainer.progress = recorder
                # A run killed during its check resumes into the check: nothing was trained yet.
                unchecked = decision == "fresh" or (
                    not (layout.root / TARGET_CHECK_FILE).exists()
                    and not state.history
                    and state.global_step == 0
                )
                if unchecked and cfg.run.target_check is not False:
                    # After the first save and under the record, like every call of the run
                    # (journaled, stoppable from the dashboard).
                    checked = run_target_check(
                        cfg,
                        task,
                        parts,
                        initial,
                        splits["val"],
                        recorder,
                        on_target_check,
                        executor=executor,
                    )
                    write_json_atomic(layout.root / TARGET_CHECK_FILE, checked.to_dict())
                    trainer.save(state)  # the check's calls are accounted for
                state = runner.run(state)
        except TargetUnreactive:
            ledger.close()
            undo_fresh_run(layout.root)  # the run never started: a rerun starts fresh
            raise
        finally:
            executor.close()
            ledger.close()
        # best_skill.md is the body; best_skill/<name>/ the same body as an Agent Skills directory.
        restore_best_skill_file(layout, state.best_skill)
        write_best_skill_dir(
            layout.root,
            best_skill_bundle(state.best_skill, task.name, redact(cfg.target.model), start_bundle),
        )
        audit, audit_error = _audit(layout.root, plain, splits)
        summary = with_target_check(layout.root, read_json(layout.summary))
        summary["audit"] = (
            {"problems": len(audit.problems)} if audit is not None else {"error": audit_error}
        )
        write_json_atomic(layout.summary, summary)
        return TrainResult(
            run_dir=layout.root,
            best_skill=state.best_skill,
            best_val_score=state.best_score,
            test=state.test,
            summary=summary,
            resumed=decision == "resume",
            moved_aside=moved,
            audit=audit,
            audit_error=audit_error,
        )


def _audit(
    root: Path, task: Task, splits: dict[str, list[Any]]
) -> tuple[RunAudit | None, str | None]:
    """Audit the finished run's best skill and meta-skill (skillfit.app.audit) against every
    item of its splits, and write audit.json. What it finds are warnings for the user; an audit
    that cannot run is said, and the run stays finished."""
    try:
        items = [*splits["train"], *splits["val"], *splits["test"]]
        audit = audit_run_dir(root, items=items, train=splits["train"], common=task_text(task))
        write_audit(root, audit)
    except Exception as exc:  # the trained skill is written; a reader's failure must not undo it
        with contextlib.suppress(OSError):
            (root / AUDIT_FILE).unlink(missing_ok=True)  # an earlier audit is not this skill's
        return None, f"{type(exc).__name__}: {redact(str(exc))}"
    return audit, None
