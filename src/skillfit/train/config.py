"""Run configuration: pydantic models loaded from YAML with inheritance and overrides.

    cfg = load_config("configs/my_run.yaml", ["train.epochs=3", "gate.kind=paired"])

A YAML file may name one or more bases with `_base_: base.yaml` (or a list; paths relative to
the file). Bases are merged in order, then the file on top, dictionaries deeply and everything
else replaced; chains are followed and cycles refused. Overrides `key.sub=value` come last, the
value parsed as a YAML scalar or flow list (`3`, `true`, `null`, `[a, b]`). Every key is
checked: a misspelled one is an error that names the nearest valid key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from skillfit.core.errors import TrainError
from skillfit.optim.gate import GateConfig
from skillfit.optim.schedules import ScheduleConfig
from skillfit.train.config_file import ConfigFileError, read_config_file, shown_key

__all__ = [
    "BufferConfig",
    "CacheConfig",
    "ConfigError",
    "EvalConfig",
    "GateConfig",
    "HASH_EXCLUDED_KEYS",
    "MetaSkillConfig",
    "ModelRole",
    "OptimizerRole",
    "RunConfig",
    "RayConfig",
    "RunSection",
    "RuntimeConfig",
    "ScheduleConfig",
    "SkillConfig",
    "SlowUpdateConfig",
    "StrategyConfig",
    "TargetRole",
    "TaskConfig",
    "TrainConfig",
    "config_hash",
    "config_to_dict",
    "load_config",
    "validate_config",
]

DEFAULT_MODEL = "local:qwen2.5-coder-0.5b"
BASE_KEY = "_base_"
# Upper bounds, far above any useful setting, so that a slip (`eval.samples=1000000000`) is an
# error at once rather than a run that never ends.
MAX_SAMPLES = 100  # samples per item: each multiplies every evaluation's calls
MAX_ITEMS = 100_000  # items per batch, slow update or buffer
MAX_REPLY_TOKENS = 1_000_000


class ConfigError(TrainError, ValueError):
    """A configuration a user has to fix: bad YAML, unknown key, wrong type, base cycle."""


class _Section(BaseModel):
    # strict: YAML's `true` is not the integer 1, nor `2.0` the epoch count 2.
    model_config = ConfigDict(extra="forbid", strict=True)


class TaskConfig(_Section):
    name: str = "bbh/boolean_expressions"
    options: dict[str, Any] = Field(default_factory=dict)  # passed to get_task(name, **options)
    # Modules that register the user's own tasks, imported before the task is built: dotted
    # names or .py paths (relative to base_dir). See skillfit.tasks.plugins.
    module: str | list[str] | None = None
    # The folder relative paths in task options are read from: set to the config file's
    # folder when a config file sets task options or modules. Not part of the run's identity.
    base_dir: str | None = None


class ModelRole(_Section):
    model: str = DEFAULT_MODEL
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, ge=1, le=MAX_REPLY_TOKENS)


class TargetRole(ModelRole):
    """The frozen model that runs the task with the skill in context."""

    # How the target acts on an item: chat (one reply) or agent (skillfit's tool loop); see
    # skillfit.harness. Checked against the registered harnesses when a run is built.
    harness: str = Field(default="chat", min_length=1)
    # Seconds of wall clock an agent-CLI harness (codex, claude-code) lets the CLI work on one
    # item; a run still working then has failed the item (scored 0, counted as timed out).
    # None: the harness's own limit (600 s). Other harnesses have no wall-clock limit.
    cli_timeout: float | None = Field(default=None, gt=0, le=86_400)


class OptimizerRole(ModelRole):
    """The model that reads rollouts and proposes edits (samples, so it runs warm)."""

    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=768, ge=1, le=MAX_REPLY_TOKENS)
    # diagnose: name each mistake's kind, then write rules with no item in view; direct: one
    # call that sees the items and writes edits (see skillfit.train.reflect).
    reflection: Literal["diagnose", "direct"] = "diagnose"
    # diagnose only: while the skill has no procedure, propose one (the lines the target writes
    # before its answer) as one of the step's edits; false turns the procedure pass off.
    procedure: bool = True
    # diagnose only: while the skill has no worked example, propose one (a made-up question of
    # the task's kind, solved line by line) as one of the step's edits.
    example: bool = False
    # diagnose only: "train" proposes worked examples of training items the target answered
    # right (the working of its own reply, their gold answers, checked by the task's scorer)
    # for a `## Examples` section of at most three; "off" proposes none. See
    # skillfit.optim.examples.
    examples: Literal["off", "train"] = "off"
    # diagnose only: while the skill states no facts of the subject, propose them (what a
    # solver must know: an order, a definition, which part comes first) as one of the edits.
    knowledge: bool = False


class TrainConfig(_Section):
    epochs: int = Field(default=2, ge=1, le=1000)
    batch_size: int = Field(default=16, ge=1, le=MAX_ITEMS)
    minibatch_size: int = Field(default=8, ge=1, le=MAX_ITEMS)
    max_steps: int | None = Field(default=None, ge=1, le=1_000_000)
    patience: int | None = Field(default=None, ge=1, le=1_000_000)
    seed: int = 0
    concurrency: int = Field(default=2, ge=1, le=256)
    # Stop (resumably, exit code 3) when more than this share of one unit's rollouts fail for
    # infrastructure reasons; a unit where every call failed always stops.
    max_infra_error_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    # What training may spend (the test evaluation not counted), every model role together:
    # calls (cache hits included) and prompt plus completion tokens (those of cache hits
    # included). Checked before each step and each epoch end; null: no limit.
    budget_calls: int | None = Field(default=None, ge=1, le=10**12)
    budget_tokens: int | None = Field(default=None, ge=1, le=10**15)

    @model_validator(mode="after")
    def _minibatch_fits(self) -> TrainConfig:
        if self.minibatch_size > self.batch_size:
            raise ValueError(
                f"minibatch_size ({self.minibatch_size}) must not exceed "
                f"batch_size ({self.batch_size})"
            )
        return self


class SkillConfig(_Section):
    initial: str | None = None  # path to a skill file; None = the task's initial skill
    max_tokens: int = Field(default=2000, ge=1, le=MAX_REPLY_TOKENS)


class SlowUpdateConfig(_Section):
    enabled: bool = True
    n_items: int = Field(default=8, ge=1, le=MAX_ITEMS)


class MetaSkillConfig(_Section):
    enabled: bool = True


class BufferConfig(_Section):
    max_items: int = Field(default=20, ge=0, le=MAX_ITEMS)


class EvalConfig(_Section):
    test: bool = True
    samples: int = Field(default=1, ge=1, le=MAX_SAMPLES)


class CacheConfig(_Section):
    enabled: bool = True
    path: str | None = None  # None = the default cache location


Ablation = Literal["edit_budget", "buffer", "slow_update", "meta_skill", "gate"]


class StrategyConfig(_Section):
    """Which optimization strategy runs (skillfit.strategies), its options, ablations of the
    skillfit loop, and the budget of target calls every strategy of a comparison shares."""

    name: str = Field(default="skillfit", min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    # Parts of the skillfit loop switched off: edit_budget (no per-step cap on edits), buffer
    # (no rejected-edit memory), slow_update, meta_skill, gate (every candidate adopted).
    ablate: list[Ablation] = Field(default_factory=list)
    # Target calls (rollouts; cache hits included) training may spend, test evaluation not
    # counted; null: no limit beyond epochs and steps.
    target_calls: int | None = Field(default=None, ge=1, le=10**9)


class RayConfig(_Section):
    """Where the Ray cluster is and what each remote task (a chunk of items) asks of it."""

    # `auto` (a cluster started with `ray start` on this machine), `ray://host:10001` (Ray
    # Client), or null: start a local Ray instance for this run and stop it at the end.
    address: str | None = None
    # Resources each remote task reserves: with num_cpus=1 a worker runs one chunk at a time,
    # so a cluster of N CPUs runs N chunks at once.
    num_cpus: float = Field(default=1.0, ge=0.0, le=1024.0)
    num_gpus: float = Field(default=0.0, ge=0.0, le=1024.0)
    memory: int | None = Field(default=None, ge=1)  # bytes
    resources: dict[str, float] = Field(default_factory=dict)  # custom resources, e.g. {sandbox: 1}
    # Items per remote task, run one after another in its worker.
    chunk_size: int = Field(default=1, ge=1, le=MAX_ITEMS)
    # How often Ray reruns a task whose worker died (the driver keeps each item's result once).
    max_retries: int = Field(default=3, ge=0, le=100)


class RuntimeConfig(_Section):
    """Where rollouts run: `local` (a thread pool of train.concurrency, the default) or `ray`
    (a step's rollouts, the gate's and the test evaluation sent to a Ray cluster)."""

    executor: Literal["local", "ray"] = "local"
    ray: RayConfig = Field(default_factory=RayConfig)


class RunSection(_Section):
    name: str | None = None  # None = a name derived from task and time
    out_dir: str = "outputs"
    # Before a fresh run trains: does the target react to its skill at all? (app/target_check)
    # true: check and warn (`skillfit train` asks on a terminal); false: skip; "refuse": stop.
    target_check: bool | Literal["refuse"] = True


class RunConfig(_Section):
    task: TaskConfig = Field(default_factory=TaskConfig)
    target: TargetRole = Field(default_factory=TargetRole)
    optimizer: OptimizerRole = Field(default_factory=OptimizerRole)
    train: TrainConfig = Field(default_factory=TrainConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    skill: SkillConfig = Field(default_factory=SkillConfig)
    slow_update: SlowUpdateConfig = Field(default_factory=SlowUpdateConfig)
    meta_skill: MetaSkillConfig = Field(default_factory=MetaSkillConfig)
    buffer: BufferConfig = Field(default_factory=BufferConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    run: RunSection = Field(default_factory=RunSection)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)


_SECTIONS = ", ".join(sorted(RunConfig.model_fields))

# --- loading --------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data, lines = read_config_file(path)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    # Checked per file so the error names the file and line: an unrelated file given as a
    # config (or a `_base_`) is named without its lines being quoted back.
    for key in data:
        if key != BASE_KEY and key not in RunConfig.model_fields:
            close = difflib.get_close_matches(str(key), list(RunConfig.model_fields), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {_SECTIONS}"
            where = f" at line {lines[str(key)]}" if str(key) in lines else ""
            raise ConfigError(f"{path}{where}: unknown key {shown_key(key)}: {hint}")
    return data


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_tree(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(path) :], path))
        raise ConfigError(f"config bases form a cycle: {cycle}")
    data = _read_yaml(path)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{BASE_KEY} in {path} must be a path or a list of paths")
    merged: dict[str, Any] = {}
    for base in bases:
        merged = _deep_merge(merged, _load_tree(path.parent / base, (*chain, path)))
    return _deep_merge(merged, data)


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {override!r} must look like key.sub=value")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"override key {key!r} has an empty part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse the value of override {override!r}: {exc}") from None
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"override {key!r}: {where!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc`, if the path is all models."""
    model: type[BaseModel] = RunConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _dotted(loc: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in loc)


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = _dotted(loc)
    if error["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        valid = sorted(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        prefix = _dotted(loc[:-1])
        if close:
            hint = f"did you mean '{prefix + '.' if prefix else ''}{close[0]}'?"
        else:
            hint = f"valid keys{' in ' + repr(prefix) if prefix else ''}: {', '.join(valid)}"
        if shown_key(loc[-1]) != repr(loc[-1]):
            return f"unknown key {prefix + '.' if prefix else ''}{shown_key(loc[-1])}: {hint}"
        return f"unknown key '{key}': {hint}"
    msg = str(error["msg"]).removeprefix("Value error, ")
    if not loc:
        return msg
    if "input" in error and error["type"] != "missing" and not isinstance(error["input"], dict):
        got = repr(error["input"])
        got = got if len(got) <= 80 else got[:77] + "..."
        return f"invalid value for '{key}': {msg} (got {got})"
    return f"invalid value for '{key}': {msg}"


def validate_config(data: Mapping[str, Any]) -> RunConfig:
    """Build a RunConfig from a plain mapping, raising ConfigError with dotted keys."""
    # An empty section in YAML (`train:` with nothing under it) means its defaults.
    cleaned = {k: v for k, v in data.items() if not (v is None and _model_at((k,)) is not None)}
    try:
        return RunConfig.model_validate(cleaned)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        raise ConfigError("; ".join(lines)) from None


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Load a run configuration: the file (after its bases), then `key.sub=value` overrides,
    over the built-in defaults. `path=None` starts from the defaults alone."""
    data = _load_tree(Path(path)) if path is not None else {}
    for override in overrides:
        _apply_override(data, override)
    task = data.get("task")
    # Relative paths in task options and modules are read from the config file's folder.
    if not isinstance(task, dict):
        task = {}
    if path is not None and (task.get("options") or task.get("module")):
        task.setdefault("base_dir", None)
        task["base_dir"] = task["base_dir"] or str(Path(path).resolve().parent)
    return validate_config(data)


# --- identity ---------------------------------------------------------------------------

# Settings that change how a run executes or where it writes, not what it computes: resuming
# with more concurrency, a moved cache or on another executor (local or Ray) is fine. The racing
# gate gives every verdict the full gate gives (it only scores fewer items).
HASH_EXCLUDED_KEYS: tuple[str, ...] = (
    "task.base_dir",
    "train.concurrency",
    "gate.racing",
    # A budget says when to stop, not what a step computes: a run stopped by its budget resumes
    # and goes on under a larger one.
    "train.budget_calls",
    "train.budget_tokens",
    "train.max_infra_error_rate",
    # When an agent CLI is stopped, like the machine's speed: a run that timed out is never
    # cached, so a resumed run with a longer limit runs it again.
    "target.cli_timeout",
    "cache",
    "run",
    "runtime",
)
# Keys added after runs were made, left out of the hash at the value runs made before them
# behave as, so such runs still resume: target.harness=chat is what every earlier run used.
_HASH_NEUTRAL: tuple[tuple[str, Any], ...] = (("target.harness", "chat"), ("task.module", None))
# The strategy section at its defaults is the skillfit loop every earlier run used.
_HASH_NEUTRAL += (("optimizer.examples", "off"),)
_HASH_NEUTRAL += (
    ("strategy", {"name": "skillfit", "options": {}, "ablate": [], "target_calls": None}),
)


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The full configuration as plain JSON-ready data (every default spelled out)."""
    return cfg.model_dump(mode="json")


def config_hash(cfg: RunConfig) -> str:
    """A stable hex digest of everything that determines a run's results (the config minus
    HASH_EXCLUDED_KEYS), used to refuse resuming a run directory under another config."""
    data = config_to_dict(cfg)
    for key in HASH_EXCLUDED_KEYS:
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node[p]
        node.pop(last, None)
    for key, neutral in _HASH_NEUTRAL:
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node[p]
        if node.get(last) == neutral:
            del node[last]
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
