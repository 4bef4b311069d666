"""The composition root's factories: a run's config, task, models and folders from what the
user gave (a config file or object, overrides, a skill path). `skillfit.app.training`,
`evaluating` and `transfers` compose them; tests replace `build_task` or `get_model` here."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from skillfit.core.errors import TrainError
from skillfit.core.io import read_json, write_json_atomic
from skillfit.models import ChatModel, Ledger, ResponseCache, get_model, redact, wrap
from skillfit.skill import Skill, SkillDir, read_skill_source
from skillfit.tasks import Item, Task
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
from skillfit.train.export import BEST_SKILL_DIR
from skillfit.train.layout import RunLayout
from skillfit.train.remote import RolloutSpec, TaskSpec

Progress = Callable[[dict[str, Any]], None]
SplitChoice = Literal["test", "val", "train", "all"]

# Keys that must never be written to a run's config.json, wherever they appear.
_SECRET_KEYS = {"api_key", "apikey", "key", "secret", "password", "token", "access_token"}


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


def task_spec(cfg: RunConfig) -> TaskSpec:
    """The task the config names as plain data: name, the options its factory gets and the
    user's task modules (imported here first, since they register the task). The target's
    temperature and max_tokens reach the task (it makes the target's calls) unless the task
    options set them."""
    from skillfit.tasks.plugins import import_task_modules
    from skillfit.tasks.registry import option_names

    base_dir = getattr(cfg.task, "base_dir", None)
    modules = getattr(cfg.task, "module", None)
    import_task_modules(modules, base_dir)
    options = dict(cfg.task.options or {})
    accepted = set(option_names(cfg.task.name))
    if base_dir and "base_dir" in accepted and "base_dir" not in options:
        options["base_dir"] = base_dir  # relative paths in the options: from the config's folder
    for key in ("temperature", "max_tokens"):
        value = getattr(cfg.target, key, None)
        if value is not None and key in accepted and key not in options:
            options[key] = value
    return TaskSpec(
        name=cfg.task.name,
        options=options,
        modules=tuple(modules) if isinstance(modules, list) else modules,
        base_dir=base_dir,
    )


def rollout_spec(cfg: RunConfig, skill_dir: SkillDir | None = None) -> RolloutSpec:
    """How a Ray worker rebuilds the run's rollouts: the task by name and options, the harness
    by name, the target by its model string. A spec never carries a key (workers read theirs
    from their own environment): a credential written into the target's model string or the
    task's options is refused."""
    spec = RolloutSpec(
        task=task_spec(cfg),
        harness=cfg.target.harness,
        target=cfg.target.model,
        skill_dir=skill_dir,
        timeout=cfg.target.cli_timeout,
    )
    options = dict(spec.task.options)
    if redact(spec.target) != spec.target or scrub(options) != options:
        where = "target.model" if redact(spec.target) != spec.target else "task.options"
        raise TrainError(
            f"runtime.executor=ray: {where} holds a credential, which would be sent to every "
            "worker; set it in the workers' environment instead (OPENAI_API_KEY, ...)"
        )
    return spec


def build_task(cfg: RunConfig) -> Task:
    """The task the config names (see `task_spec`)."""
    return task_spec(cfg).build()


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
    # (a hidden folder there is what a write killed between its renames left: no skill)
    if folder.is_dir() and any(
        (d / "SKILL.md").is_file() for d in folder.iterdir() if not d.name.startswith(".")
    ):
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
