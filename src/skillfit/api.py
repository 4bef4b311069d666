"""The Python API: `skillfit.train(...)`, `skillfit.evaluate(...)` and `skillfit.transfer(...)`.

    import skillfit
    result = skillfit.train("configs/quickstart.yaml", overrides=["train.epochs=1"])
    print(result.best_skill, result.test["best"]["accuracy"])
    ev = skillfit.evaluate(result.run_dir / "best_skill.md", "configs/quickstart.yaml", split="val")

Both accept a `RunConfig`, or a path to a config file plus `overrides` ("key.path=value").
A custom `Task` object or ready-made models may be passed instead of the ones the config names.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skillfit.harness import bind_harness, prepare_run
from skillfit.models import ChatModel, Ledger, ResponseCache, get_model, redact, wrap
from skillfit.models.base import Usage
from skillfit.record import recording
from skillfit.runtime.target_check import N_ITEMS as TARGET_CHECK_ITEMS
from skillfit.runtime.target_check import TargetCheck, check_target, token_delta
from skillfit.skill import Skill, SkillDir, read_skill_source
from skillfit.tasks import Item, Task, get_task
from skillfit.train.config import (
    MAX_SAMPLES,
    ConfigError,
    RunConfig,
    _apply_override,
    config_hash,
    config_to_dict,
    load_config,
    validate_config,
)
from skillfit.train.datacheck import (
    ITEMS_KEY,
    DataChanged,
    data_change,
    items_digest,
    recorded_manifest,
)
from skillfit.train.engine import Parts, Trainer
from skillfit.train.errors import TrainError
from skillfit.train.evaluation import EvalResult, evaluate_skill
from skillfit.train.export import BEST_SKILL_DIR, best_skill_bundle, write_best_skill_dir
from skillfit.train.io import read_json, write_json_atomic, write_text_atomic
from skillfit.train.layout import RunLayout, check_splits, check_writable_dir, prepare
from skillfit.train.runlock import LOCK_NAME, RunLock
from skillfit.train.state import RunState
from skillfit.train.transfer import Cell, run_grid, to_csv, to_markdown

Progress = Callable[[dict[str, Any]], None]
SplitChoice = Literal["test", "val", "train", "all"]

# Keys that must never be written to a run's config.json, wherever they appear.
TARGET_CHECK_FILE = "target_check.json"
_SECRET_KEYS = {"api_key", "apikey", "key", "secret", "password", "token", "access_token"}


@dataclass
class TrainResult:
    run_dir: Path
    best_skill: str
    best_val_score: float | None
    test: dict[str, Any] | None  # none / initial / best accuracies, paired differences
    summary: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False
    moved_aside: Path | None = None  # where --force moved an older run


def load(config: RunConfig | str | os.PathLike[str], overrides: Sequence[str] = ()) -> RunConfig:
    """A RunConfig from an object or a file, with `key.path=value` overrides applied."""
    if isinstance(config, RunConfig):
        if not overrides:
            return config
        data = config_to_dict(config)
        for override in overrides:
            _apply_override(data, override)
        return validate_config(data)
    return load_config(Path(config), list(overrides))


def run_dir_for(
    cfg: RunConfig, out_dir: str | os.PathLike[str] | None = None, digest: str | None = None
) -> Path:
    """`out_dir` when given (the run directory itself), else `<run.out_dir>/<run.name>`.
    Without a run name the directory is named from the task and the config hash, so the
    same command run again finds (and resumes) the same run."""
    if out_dir is not None:
        return Path(out_dir)
    name = cfg.run.name
    if not name:
        slug = "".join(c if c.isalnum() else "-" for c in cfg.task.name).strip("-")
        name = f"{slug}-{(digest or config_hash(cfg))[:8]}"
    return Path(cfg.run.out_dir) / name


def scrub(obj: Any) -> Any:
    """The config without anything that looks like a credential: secret-named keys dropped,
    credentials inside values (a key in a base URL) masked."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {
            k: scrub(v)
            for k, v in obj.items()
            if not (
                isinstance(k, str)
                and (k.lower() in _SECRET_KEYS or k.lower().endswith(("_api_key", "_secret")))
            )
        }
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def build_task(cfg: RunConfig) -> Task:
    """The task the config names. The target's temperature and max_tokens reach the task (it
    makes the target's calls) unless the task options set them."""
    from skillfit.tasks.plugins import import_task_modules
    from skillfit.tasks.registry import option_names

    base_dir = getattr(cfg.task, "base_dir", None)
    import_task_modules(getattr(cfg.task, "module", None), base_dir)
    options = dict(cfg.task.options or {})
    accepted = set(option_names(cfg.task.name))
    if base_dir and "base_dir" in accepted and "base_dir" not in options:
        options["base_dir"] = base_dir  # relative paths in the options: from the config's folder
    for key in ("temperature", "max_tokens"):
        value = getattr(cfg.target, key, None)
        if value is not None and key in accepted and key not in options:
            options[key] = value
    return get_task(cfg.task.name, **options)


def initial_skill_source(
    cfg: RunConfig, task: Task, base: Path | None = None
) -> tuple[str, SkillDir | None]:
    """The starting skill's body, and its Agent Skills directory when it came from one.

    `skill.initial` is a path to a skill file or skill directory (relative to the config
    file's folder when it is not found from the working directory); unset means the task's own
    initial skill; "none" or "" start from an empty skill. Text with a line break is taken as
    the skill."""
    spec = getattr(cfg.skill, "initial", None)
    if spec is None:
        return task.initial_skill, None
    spec = str(spec)
    if spec.strip().lower() in ("", "none", "empty"):
        return "", None
    if "\n" not in spec:
        path = Path(spec)
        if not path.is_absolute() and base is not None and not path.exists():
            path = base / path
        skill, bundle = read_skill_source(path)
        return skill.text, bundle
    return spec, None


def initial_skill_text(cfg: RunConfig, task: Task, base: Path | None = None) -> str:
    """The starting skill's body (see `initial_skill_source`)."""
    return initial_skill_source(cfg, task, base)[0]


def _cache(cfg: RunConfig) -> ResponseCache | None:
    if not cfg.cache.enabled:
        return None
    return ResponseCache(cfg.cache.path) if cfg.cache.path else ResponseCache()


def _model(
    given: ChatModel | None, spec: str, role: str, cache: ResponseCache | None, ledger: Ledger
) -> ChatModel:
    if given is not None:
        return wrap(given, role=role, cache=cache, ledger=ledger)
    return get_model(spec, role=role, cache=cache, ledger=ledger)


def bind_task_models(task: Task, cache: ResponseCache | None, ledger: Ledger | None) -> None:
    """Give a task that calls models itself (an LLM judge) the run's cache and accounting."""
    bind = getattr(task, "bind_models", None)
    if callable(bind):
        bind(lambda spec, role: get_model(spec, role=role, cache=cache, ledger=ledger))


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
    see skillfit.runtime.target_check): the result goes to `progress` as a `target_check` event
    and to `on_target_check`, which returns whether to train; with `run.target_check: refuse`
    a target that does not react stops the run (TargetUnreactive), and no run is kept."""
    cfg = load(config, overrides)
    base = Path(config).parent if isinstance(config, str | os.PathLike) else None
    task = task if task is not None else build_task(cfg)
    initial, start_bundle = initial_skill_source(cfg, task, base)
    # Every rollout of the run (training, gate, test) goes through task.rollout: binding the
    # task to the configured harness is how the harness reaches them. A harness that installs
    # skill folders installs each candidate as best_skill/ will ship it: the same frontmatter
    # and files, the trained body.
    shipped = best_skill_bundle(initial, task.name, redact(cfg.target.model), start_bundle)
    task = bind_harness(task, cfg.target.harness, skill_dir=shipped)
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
        trainer = Trainer(cfg, parts, layout, splits, digest, progress=progress)
        if decision == "fresh":
            layout.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(layout.config, config_dict)
            write_json_atomic(layout.splits, manifest)
            ledger.attach(layout.journal)
            state = trainer.initial_state(initial)
            trainer.save(state)
        else:
            state = (
                RunState.load(layout.state)
                if layout.state.exists()
                else trainer.initial_state(initial)
            )
            # Calls paid before a kill stay paid calls; their replays from the cache are not hits.
            ledger.attach(layout.journal, accounted=state.journal_bytes)
        try:
            # events.jsonl (see skillfit.record) gets every event; the caller's progress too.
            with recording(layout.root, progress, kind="train", strategy="skillfit") as recorder:
                trainer.progress = recorder
                if decision == "fresh" and cfg.run.target_check is not False:
                    # After the first save and under the record, like every call of the run
                    # (journaled, stoppable from the dashboard).
                    checked = run_target_check(
                        cfg, task, parts, initial, splits["val"], recorder, on_target_check
                    )
                    write_json_atomic(layout.root / TARGET_CHECK_FILE, checked.to_dict())
                    trainer.save(state)  # the check's calls are accounted for
                state = trainer.run(state)
        except TargetUnreactive:
            ledger.close()
            _undo_fresh_run(layout.root)  # the run never started: a rerun starts fresh
            raise
        finally:
            ledger.close()
        # best_skill.md is the body; best_skill/<name>/ the same body as an Agent Skills directory.
        write_best_skill_dir(
            layout.root,
            best_skill_bundle(state.best_skill, task.name, redact(cfg.target.model), start_bundle),
        )
        summary = with_target_check(layout.root, read_json(layout.summary))
        if "target_check" in summary:
            write_json_atomic(layout.summary, summary)
        return TrainResult(
            run_dir=layout.root,
            best_skill=state.best_skill,
            best_val_score=state.best_score,
            test=state.test,
            summary=summary,
            resumed=decision == "resume",
            moved_aside=moved,
        )


class TargetUnreactive(TrainError):
    """The target check found that the target does not react to its skill, and the run was
    told to stop (`run.target_check: refuse`, or the user declined)."""


def run_target_check(
    cfg: RunConfig,
    task: Task,
    parts: Parts,
    skill: str,
    val: Sequence[Item],
    progress: Progress | None,
    decide: Callable[[TargetCheck], bool] | None,
) -> TargetCheck:
    """Check the target on the first validation items through the run's own (cached,
    accounted) target model; TargetUnreactive when the run should not go on."""
    before = parts.ledger.snapshot() if parts.ledger is not None else {}
    result = check_target(
        task,
        parts.target,
        Skill.parse(skill).text if skill.strip() else "",
        list(val)[:TARGET_CHECK_ITEMS],
        concurrency=int(cfg.train.concurrency),
    )
    if parts.ledger is not None:
        result.tokens = token_delta(before, parts.ledger.snapshot())
    target = result.target = redact(cfg.target.model)
    if progress is not None:
        progress({"event": "target_check", **result.to_dict(), "message": result.message(target)})
    go_on = decide(result) if decide is not None else True
    if not result.reacts and (cfg.run.target_check == "refuse" or not go_on):
        raise TargetUnreactive(
            result.message(target)
            + "\nStopped before training; nothing was kept. Run with --no-check "
            "(run.target_check=false) to train anyway."
        )
    return result


def _undo_fresh_run(root: Path) -> None:
    """Remove what a fresh run wrote into its folder (the lock then removes a folder it made)."""
    for path in root.iterdir():
        if path.name == LOCK_NAME:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def with_target_check(root: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's summary with the target check it began with (target_check.json). Its calls
    are in the summary's tokens already: they are journaled like every call of the run."""
    path = root / TARGET_CHECK_FILE
    if not path.exists():
        return summary
    return {**summary, "target_check": read_json(path)}


def split_manifest(task: Task, splits: dict[str, list[Item]]) -> dict[str, Any]:
    """What a run records of its task's data (splits.json): the task's own manifest (item ids
    per split, options, a data file's digest) and a digest of each split's items."""
    own = getattr(task, "split_manifest", None)
    manifest = dict(own()) if callable(own) else {"task": task.name}
    manifest.setdefault("splits", {k: [i.id for i in v] for k, v in splits.items()})
    manifest[ITEMS_KEY] = items_digest(splits)
    return manifest


def _check_resumed_data(
    layout: RunLayout, task: Task, splits: dict[str, list[Item]], manifest: dict[str, Any]
) -> None:
    """DataChanged when the task's data is not what the run started with: resuming would
    train the later steps, and test, on other items than the first steps."""
    recorded = recorded_manifest(layout.root)
    if recorded is None:  # killed before it was written: record the data now
        write_json_atomic(layout.splits, manifest)
        return
    change = data_change(recorded, task, splits)
    if change:
        raise DataChanged(
            f"{change}: resuming {layout.root} would mix its steps so far with other data; "
            "restore the data, or pass --force to start over on the data as it is now (the "
            "old run is moved aside)"
        )


def check_run_data(
    run_dir: Path, task: Task, splits: dict[str, list[Item]], split: str, hint: str = ""
) -> None:
    """DataChanged when the items of `split` are not the ones the run at `run_dir` recorded:
    its skill would be measured on items the run never held out."""
    recorded = recorded_manifest(run_dir)
    names = ["train", "val", "test"] if split == "all" else [split]
    change = data_change(recorded, task, splits, names) if recorded is not None else None
    if change:
        raise DataChanged(
            f"{change}: the skill of {run_dir} would be measured on other items than the run's"
            + (f"; {hint}" if hint else "")
        )


def _is_run_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (
        (path / "best_skill.md").is_file() or (path / BEST_SKILL_DIR).is_dir()
    )


def find_run_dir(path: str | os.PathLike[str]) -> Path | None:
    """The run directory `path` is or lies in (a run's best_skill.md, best_skill/ or the skill
    directory inside it), or None."""
    p = Path(path).resolve()
    for candidate in (p, *list(p.parents)[:3]):
        if _is_run_dir(candidate):
            return candidate
    return None


def run_best_skill(run_dir: str | os.PathLike[str]) -> Path:
    """Where a run's best skill lives: its best_skill/ skill directory, else best_skill.md."""
    root = Path(run_dir)
    folder = root / BEST_SKILL_DIR
    if folder.is_dir() and any((d / "SKILL.md").is_file() for d in folder.iterdir()):
        return folder
    if (root / "best_skill.md").is_file():
        return root / "best_skill.md"
    raise TrainError(f"{root} holds no best skill (best_skill.md): no step has finished yet")


def load_run_config(run_dir: str | os.PathLike[str]) -> RunConfig:
    """The configuration a run directory was trained with; TrainError if it is not a run."""
    root = Path(run_dir)
    if not root.is_dir():
        raise TrainError(f"{root} is not a directory: give a run directory (train's --out)")
    path = root / "config.json"
    if not path.is_file():
        raise TrainError(f"{root} holds no skillfit run: no config.json in it")
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise TrainError(f"{path} does not hold a run configuration")
    try:
        return validate_config(data)
    except ConfigError as exc:
        raise TrainError(f"{path}: {exc}") from None


def skill_text(skill: str | os.PathLike[str] | Skill) -> str:
    """Body of a skill given as a Skill, a path (a markdown file, a SKILL.md, a skill
    directory, a skills folder holding one, or a run directory: its best skill), or the text
    itself (a string naming an existing file or directory is read from there)."""
    return skill_source(skill)[0]


def skill_source(skill: str | os.PathLike[str] | Skill) -> tuple[str, SkillDir | None]:
    """(body, skill directory) of a skill given as for `skill_text`: the directory (its
    frontmatter and files) when the skill came from one or from a file with frontmatter, so a
    harness that installs skill folders installs it as written."""
    if isinstance(skill, Skill):
        return skill.text, None
    if isinstance(skill, str) and ("\n" in skill or len(skill) >= 4096 or not Path(skill).exists()):
        return Skill.parse(skill).text, None
    path = Path(skill)
    if _is_run_dir(path):
        path = run_best_skill(path)
    body, bundle = read_skill_source(path)
    return body.text, bundle


def check_samples(n: int) -> None:
    """TrainError unless `n` samples per item is between 1 and MAX_SAMPLES."""
    if not 1 <= n <= MAX_SAMPLES:
        raise TrainError(f"samples must be between 1 and {MAX_SAMPLES}, not {n}")


def on_run_task(overrides: Sequence[str], task_name: str | None) -> bool:
    """Whether an evaluation under a run's config keeps the run's task (no --task, no
    `task.*` override)."""
    return task_name is None and not any(o.strip().startswith("task.") for o in overrides)


def _run_of(skill: str | os.PathLike[str] | Skill) -> Path | None:
    if isinstance(skill, Skill) or "\n" in str(skill):
        return None
    return find_run_dir(skill)


def split_items(splits: dict[str, list[Item]], split: str) -> list[Item]:
    if split == "all":
        return [*splits["train"], *splits["val"], *splits["test"]]
    if split not in splits:
        raise TrainError(f"unknown split {split!r}; use test, val, train or all")
    return list(splits[split])


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
    task = task if task is not None else build_task(cfg)
    task = bind_harness(task, cfg.target.harness, skill_dir=bundle)
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
        model = get_model(target or cfg.target.model, role="target", cache=cache, ledger=ledger)
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
        "total": usage.total_tokens,
    }
    result.seconds = time.perf_counter() - start
    return result


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
    task = task if task is not None else build_task(cfg)
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
        return get_model(spec, role="target", cache=cache, ledger=ledger)

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
