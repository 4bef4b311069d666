"""Run configuration: defaults, YAML inheritance, overrides, error messages, hashing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillfit.core.errors import TrainError
from skillfit.optim.gate import GateConfig
from skillfit.optim.schedules import ScheduleConfig
from skillfit.train.config import (
    ConfigError,
    RunConfig,
    config_hash,
    config_to_dict,
    load_config,
    validate_config,
)

BASE_YAML = Path(__file__).resolve().parents[1] / "configs" / "base.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    cfg = load_config(None)
    assert cfg == RunConfig()
    assert cfg.target.model == cfg.optimizer.model == "local:qwen2.5-coder-0.5b"
    assert (cfg.target.temperature, cfg.target.max_tokens) == (0.0, 256)
    assert (cfg.optimizer.temperature, cfg.optimizer.max_tokens) == (0.7, 768)
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.minibatch_size) == (2, 16, 8)
    assert cfg.train.max_steps is None and cfg.train.patience is None
    assert isinstance(cfg.schedule, ScheduleConfig) and cfg.schedule.kind == "cosine"
    assert isinstance(cfg.gate, GateConfig) and cfg.gate.kind == "paired_unconditional"
    assert cfg.gate.alpha == 0.05 and cfg.gate.min_margin == 0.0
    assert cfg.skill.initial is None and cfg.skill.max_tokens == 2000
    assert cfg.buffer.max_items == 20 and cfg.run.out_dir == "outputs"


def test_base_yaml_spells_out_exactly_the_defaults() -> None:
    assert load_config(BASE_YAML) == RunConfig()
    import yaml

    raw = yaml.safe_load(BASE_YAML.read_text())
    assert raw == config_to_dict(RunConfig())  # every key present, nothing extra


def test_inheritance_chain_and_deep_merge(tmp_path: Path) -> None:
    write(tmp_path / "root.yaml", "train: {epochs: 5, batch_size: 8, minibatch_size: 4}\n")
    write(
        tmp_path / "sub" / "mid.yaml",
        "_base_: ../root.yaml\ntrain: {epochs: 3}\ntask: {name: gsm8k, options: {n_val: 10}}\n",
    )
    leaf = write(
        tmp_path / "sub" / "leaf.yaml",
        "_base_: mid.yaml\ntask: {options: {n_test: 30}}\ngate: {kind: paired}\n",
    )
    cfg = load_config(leaf)
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.minibatch_size) == (3, 8, 4)
    assert cfg.task.name == "gsm8k" and cfg.task.options == {"n_val": 10, "n_test": 30}
    assert cfg.gate.kind == "paired"
    assert cfg.optimizer.temperature == 0.7  # untouched sections keep their defaults


def test_list_of_bases_merge_in_order(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "train: {epochs: 4, seed: 1}\n")
    write(tmp_path / "b.yaml", "train: {epochs: 6}\n")
    cfg = load_config(write(tmp_path / "c.yaml", "_base_: [a.yaml, b.yaml]\n"))
    assert (cfg.train.epochs, cfg.train.seed) == (6, 1)


def test_base_cycle_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")
    write(tmp_path / "self.yaml", "_base_: self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "self.yaml")


def test_diamond_bases_are_not_a_cycle(tmp_path: Path) -> None:
    write(tmp_path / "common.yaml", "train: {seed: 7}\n")
    write(tmp_path / "x.yaml", "_base_: common.yaml\n")
    write(tmp_path / "y.yaml", "_base_: common.yaml\n")
    cfg = load_config(write(tmp_path / "z.yaml", "_base_: [x.yaml, y.yaml]\n"))
    assert cfg.train.seed == 7


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(write(tmp_path / "a.yaml", "_base_: nope.yaml\n"))
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path / "bad.yaml", "train: {epochs: [\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path / "list.yaml", "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="_base_"):
        load_config(write(tmp_path / "b.yaml", "_base_: {x: 1}\n"))
    # An empty file would silently train every default: refused, `{}` says it on purpose.
    with pytest.raises(ConfigError, match=r"empty\.yaml is empty.*`\{\}`"):
        load_config(write(tmp_path / "empty.yaml", "# only a comment\n"))
    assert load_config(write(tmp_path / "defaults.yaml", "{}\n")) == RunConfig()


def test_overrides_parse_yaml_values(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "train: {epochs: 5}\n")
    cfg = load_config(
        path,
        [
            "train.epochs=3",
            "train.max_steps=10",
            "gate.early_stop=false",
            "gate.alpha=0.05",
            "task.options.n_train=40",
            "task.options.subjects=[a, b]",
            "run.name=my run",
            "skill.initial=null",
            "cache.path=",
        ],
    )
    assert cfg.train.epochs == 3 and cfg.train.max_steps == 10
    assert cfg.gate.early_stop is False and cfg.gate.alpha == 0.05
    assert cfg.task.options == {"n_train": 40, "subjects": ["a", "b"]}
    assert cfg.run.name == "my run" and cfg.skill.initial is None and cfg.cache.path is None


def test_override_errors() -> None:
    for bad in ["train.epochs", "=3", "train..epochs=3"]:
        with pytest.raises(ConfigError, match="override"):
            load_config(None, [bad])
    with pytest.raises(ConfigError, match="not a section"):
        load_config(None, ["train.epochs=3", "train.epochs.x=1"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", "unknown key 'train.epoch': did you mean 'train.epochs'?"),
        ("trian.epochs=3", "unknown key 'trian': did you mean 'train'?"),
        ("gate.aplha=0.2", "unknown key 'gate.aplha': did you mean 'gate.alpha'?"),
        ("optimizer.temprature=1", "did you mean 'optimizer.temperature'?"),
        ("schedule.warmup=2", "did you mean 'schedule.warmup_steps'?"),
    ],
)
def test_unknown_keys_name_the_nearest_valid_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert message in str(info.value)


def test_unknown_key_in_a_file_and_without_close_match(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "slow_update: {enabled: true, n_itmes: 4}\n")
    with pytest.raises(
        ConfigError, match=r"'slow_update.n_itmes': did you mean 'slow_update.n_items'"
    ):
        load_config(path)
    with pytest.raises(ConfigError, match="valid keys: buffer, cache"):
        load_config(None, ["zzzz=1"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epochs=two", "train.epochs"),
        ("train.epochs=0", "train.epochs"),
        ("gate.kind=best", "gate.kind"),
        ("target.max_tokens=-5", "target.max_tokens"),
        ("schedule.kind=step", "schedule.kind"),
        ("train=5", "train"),
    ],
)
def test_type_errors_name_the_dotted_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"invalid value for '{key}'"):
        load_config(None, [override])


def test_cross_field_checks() -> None:
    with pytest.raises(ConfigError, match="train.*minibatch_size"):
        load_config(None, ["train.minibatch_size=32"])
    with pytest.raises(ConfigError, match="schedule"):
        load_config(None, ["schedule.init=1", "schedule.minimum=3"])


def test_empty_section_means_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", "train:\ngate:\n"))
    assert cfg == RunConfig()


def test_config_error_is_a_train_error() -> None:
    with pytest.raises(TrainError):
        load_config(None, ["nope=1"])
    with pytest.raises(ValueError):
        load_config(None, ["nope=1"])


def test_to_dict_round_trips_as_json() -> None:
    cfg = load_config(None, ["task.options.n_val=5", "gate.kind=paired"])
    data = json.loads(json.dumps(config_to_dict(cfg)))
    assert validate_config(data) == cfg


def test_config_hash_is_stable_and_meaningful() -> None:
    a = load_config(None, ["task.options.a=1", "task.options.b=2"])
    b = load_config(None, ["task.options.b=2", "task.options.a=1"])
    assert config_hash(a) == config_hash(b)  # key order does not matter
    assert len(config_hash(a)) == 64
    assert config_hash(a) == config_hash(validate_config(config_to_dict(a)))
    changed = load_config(None, ["task.options.a=1", "task.options.b=2", "train.epochs=3"])
    assert config_hash(changed) != config_hash(a)
    gate_changed = load_config(None, ["task.options.a=1", "task.options.b=2", "gate.samples=2"])
    assert config_hash(gate_changed) != config_hash(a)
    # where and how fast a run executes does not change what it computes
    operational = load_config(
        None,
        [
            "task.options.a=1",
            "task.options.b=2",
            "train.concurrency=8",
            "run.name=x",
            "run.out_dir=elsewhere",
            "cache.enabled=false",
            # a racing gate gives the full gate's verdicts; a budget says when to stop, and a
            # run stopped by one resumes under a larger one
            "gate.racing=false",
            "train.budget_calls=100",
            "train.budget_tokens=5000",
        ],
    )
    assert config_hash(operational) == config_hash(a)
    assert config_to_dict(a)["train"]["concurrency"] == 2  # the dict itself keeps everything


# --- hardening (issue 23): types, duplicate keys, bounds, files that are not configs -------


def test_a_bool_is_not_a_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'train\.epochs'.*valid integer.*got True"):
        load_config(write(tmp_path / "a.yaml", "train: {epochs: true}\n"))
    for override in ("train.epochs=true", "gate.samples=2.0", "target.temperature=true"):
        with pytest.raises(ConfigError, match=override.split("=")[0].replace(".", r"\.")):
            load_config(None, [override])
    assert load_config(None, ["target.temperature=1"]).target.temperature == 1.0


def test_a_key_given_twice_is_refused_naming_it_and_its_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "twice.yaml", "train: {epochs: 1}\ngate: {}\ntrain: {epochs: 3}\n")
    with pytest.raises(
        ConfigError, match=r"twice\.yaml: key 'train' given twice, at lines 1 and 3"
    ):
        load_config(path)
    nested = write(tmp_path / "nested.yaml", "train:\n  epochs: 1\n  epochs: 2\n")
    with pytest.raises(ConfigError, match=r"'epochs' given twice, at lines 2 and 3"):
        load_config(nested)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("eval.samples=1000000000", "eval.samples"),
        ("gate.samples=1000", "gate.samples"),
        ("train.epochs=100000", "train.epochs"),
        ("train.concurrency=100000", "train.concurrency"),
        ("target.max_tokens=10000000000", "target.max_tokens"),
    ],
)
def test_absurd_numbers_are_bounded(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"'{key}'.*less than or equal to"):
        load_config(None, [override])


def test_only_regular_files_of_sane_size_are_read_as_configs(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"pipe\.yaml: is a named pipe"):
        load_config(fifo)  # never opened: opening a FIFO blocks until someone writes
    with pytest.raises(ConfigError, match=r"pipe\.yaml: is a named pipe"):
        load_config(write(tmp_path / "a.yaml", "_base_: pipe.yaml\n"))
    with pytest.raises(ConfigError, match=r"/dev/zero: is a device"):
        load_config(write(tmp_path / "b.yaml", "_base_: /dev/zero\n"))
    big = write(tmp_path / "big.yaml", "# " + "x" * (2**20) + "\n")
    with pytest.raises(ConfigError, match=r"big\.yaml: is 1 MB, more than the 1 MB"):
        load_config(big)


def test_a_file_that_is_no_config_is_named_but_never_quoted(tmp_path: Path) -> None:
    secret = "".join(f"u{i}:$6$Zq8SecretSalt$hash:20228:0:99999:7:::\n" for i in range(3))
    shadow = write(tmp_path / "shadow", secret)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path / "a.yaml", f"_base_: {shadow}\n"))
    message = str(caught.value)
    assert "Zq8SecretSalt" not in message and "20228" not in message
    assert f"{shadow} at line 1: unknown key (text that is no config key)" in message
    # a nested key that is no key name is not quoted either; a plain typo still is
    with pytest.raises(ConfigError) as nested:
        load_config(write(tmp_path / "b.yaml", "train: {'x:Zq8Secret:1': 1}\n"))
    assert "Zq8Secret" not in str(nested.value)
    with pytest.raises(ConfigError, match=r"unknown key 'train\.epoch': did you mean"):
        load_config(write(tmp_path / "c.yaml", "train: {epoch: 1}\n"))
    with pytest.raises(ConfigError, match=r"c2\.yaml at line 2: unknown key 'trian'.*'train'"):
        load_config(write(tmp_path / "c2.yaml", "gate: {}\ntrian: {epochs: 1}\n"))
