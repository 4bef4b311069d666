"""`runtime.executor: ray`: the same run on a local Ray cluster (127.0.0.1, two worker
processes) as on the local thread pool: same skill, same per-item results, same cache keys and
accounting; a worker killed mid-step changes nothing; a run resumes across executors.

The task comes from a task module (tests/ray_plugin.py) and the target from a scripted rules
file, so every worker rebuilds both from the config, as a user's cluster would. The optimizer
stays on the driver."""

from __future__ import annotations

import json
import os
import pickle
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_train_resume import TIPS, optimizer_reply
from train_fakes import AddTask

from skillfit.core.errors import InfraFailure, TrainError
from skillfit.models.scripted import ScriptedModel

ray = pytest.importorskip("ray")

PLUGIN = Path(__file__).with_name("ray_plugin.py")
SIZES = {"n_train": 9, "n_val": 6, "n_test": 6}


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local Ray cluster for the module: two CPUs, so two worker processes at a time."""
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scripted target as a rules file: right only when the skill holds the item's tip."""
    path = tmp_path_factory.mktemp("target") / "rules.json"
    items = [i for split in AddTask(**SIZES).splits().values() for i in split]
    out = []
    for item in items:
        a = int(item.input.split()[2])
        out.append(
            {
                "match": f"^{re.escape(item.input)}$",
                "system": re.escape(TIPS[a % 3].split("\n")[1]),
                "reply": item.target,
            }
        )
    out.append({"match": ".", "reply": "no idea"})
    path.write_text(json.dumps(out))
    return path


def ray_config(tmp_path: Path, rules: Path, name: str, *overrides: str) -> Any:
    from train_fakes import config

    options = ", ".join(f"{k}: {v}" for k, v in SIZES.items())
    return config(
        tmp_path,
        f"run.name={name}",
        "task.name=raytest/add",
        f"task.module={PLUGIN}",
        f"task.options={{{options}}}",
        f"target.model=scripted:{rules}",
        "train.epochs=2",
        "train.batch_size=3",
        "train.minibatch_size=2",
        "schedule.kind=constant",
        "schedule.init=1",
        "slow_update.enabled=true",
        "slow_update.n_items=4",
        "meta_skill.enabled=true",
        "eval.samples=2",
        "cache.enabled=true",
        f"cache.path={tmp_path / (name + '.sqlite')}",
        *overrides,
    )


def train(cfg: Any, optimizer: Any = None, **kw: Any) -> Any:
    from skillfit.api import train as api_train

    return api_train(cfg, optimizer=optimizer or ScriptedModel(optimizer_reply), **kw)


def outcome(root: Path, *, phases: bool = True) -> dict[str, Any]:
    """Everything a run decided and measured, without timings. `phases=False` leaves out the
    per-phase counts: the calls a killed process paid in its unfinished step are in the run's
    ledger but not in the phase table it never saved."""
    state = json.loads((root / "runtime_state.json").read_text())
    state.pop("journal_bytes"), state.pop("config_hash")
    if not phases:
        state.pop("phases", None)
    for rec in state["history"]:
        rec.pop("seconds")
        rec["tokens"] = {
            role: {k: s[k] for k in ("calls", "cache_hits")} for role, s in rec["tokens"].items()
        }
    test = state["test"]
    test.pop("seconds"), test.pop("tokens")
    for row in state.get("phases", {}).values():  # per-phase counts, not the wall clock
        row.pop("seconds", None)

    def rows(path: Path) -> list[dict[str, Any]]:
        out = []
        for line in path.read_text().splitlines():
            row = json.loads(line)
            row.pop("seconds", None)
            out.append(row)
        return out

    per_item = {
        str(p.relative_to(root)): rows(p)
        for p in sorted(root.rglob("*.jsonl"))
        if p.parts[len(root.parts)] in ("steps", "slow_update", "test_eval")
    }
    gates = {
        str(p.relative_to(root)): json.loads(p.read_text()) for p in sorted(root.rglob("gate.json"))
    }
    return {
        "state": state,
        "best": (root / "best_skill.md").read_text(),
        "skills": {p.name: p.read_text() for p in sorted((root / "skills").iterdir())},
        "per_item": per_item,
        "gates": gates,
    }


def cache_keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT key FROM replies")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, rules: Path) -> dict[str, Any]:
    """The run on the local executor (no Ray involved)."""
    tmp = tmp_path_factory.mktemp("local")
    optimizer = ScriptedModel(optimizer_reply)
    train(ray_config(tmp, rules, "local"), optimizer)
    out = outcome(tmp / "local")
    out["optimizer_calls"] = len(optimizer.calls)
    assert out["state"]["phase"] == "done"
    assert any(r["adopted"] for r in out["state"]["history"]), "the scenario adopts a skill"
    out["keys"] = cache_keys(tmp / "local.sqlite")
    return out


def same(reference: dict[str, Any], *, phases: bool = True) -> dict[str, Any]:
    out = {k: v for k, v in reference.items() if k not in ("keys", "optimizer_calls")}
    if not phases:
        out["state"] = {k: v for k, v in out["state"].items() if k != "phases"}
    return out


def test_a_run_on_ray_is_the_run_on_the_local_executor(
    cluster: None, reference: dict[str, Any], rules: Path, tmp_path: Path
) -> None:
    train(ray_config(tmp_path, rules, "ray", "runtime.executor=ray"))
    assert outcome(tmp_path / "ray") == same(reference)
    assert cache_keys(tmp_path / "ray.sqlite") == reference["keys"]
    config = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert config["runtime"]["executor"] == "ray"


def test_a_worker_killed_mid_step_changes_nothing(
    cluster: None, reference: dict[str, Any], rules: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    options = ", ".join(f"{k}: {v}" for k, v in SIZES.items())
    crash = f"crash_marker: '{marker}', crash_item: train-4, driver_pid: {os.getpid()}"
    train(
        ray_config(
            tmp_path,
            rules,
            "ray",
            "runtime.executor=ray",
            f"task.options={{{options}, {crash}}}",
        )
    )
    assert marker.exists(), "a worker was killed during a step's rollouts"
    assert int(marker.read_text()) != os.getpid()
    assert outcome(tmp_path / "ray") == same(reference)
    assert cache_keys(tmp_path / "ray.sqlite") == reference["keys"]


def test_a_task_lost_past_its_retries_stops_the_run_resumably(
    cluster: None, reference: dict[str, Any], rules: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    options = ", ".join(f"{k}: {v}" for k, v in SIZES.items())
    crash = f"crash_marker: '{marker}', crash_item: train-4, driver_pid: {os.getpid()}"
    cfg = ray_config(
        tmp_path,
        rules,
        "ray",
        "runtime.executor=ray",
        "runtime.ray.max_retries=0",
        f"task.options={{{options}, {crash}}}",
    )
    with pytest.raises(InfraFailure, match="lost a rollout task"):
        train(cfg)
    assert marker.exists()
    result = train(cfg)  # the same command again: the worker no longer dies
    assert result.resumed
    assert outcome(tmp_path / "ray", phases=False) == same(reference, phases=False)


class Exploding:
    """The optimizer's script; call number `at` raises, as if the driver were killed there."""

    def __init__(self, at: int) -> None:
        self.at, self.n = at, 0

    def __call__(self, request: Any) -> Any:
        self.n += 1
        if self.n == self.at:
            raise RuntimeError("simulated crash")
        return optimizer_reply(request)


@pytest.mark.parametrize("first, then", [("ray", "local"), ("local", "ray")])
def test_a_run_resumes_on_the_other_executor(
    cluster: None, reference: dict[str, Any], rules: Path, tmp_path: Path, first: str, then: str
) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(
            ray_config(tmp_path, rules, "run", f"runtime.executor={first}"),
            ScriptedModel(Exploding(at=reference["optimizer_calls"] // 2)),
        )
    state = json.loads((tmp_path / "run" / "runtime_state.json").read_text())
    assert state["history"] and state["phase"] != "done", "stopped part way"
    result = train(ray_config(tmp_path, rules, "run", f"runtime.executor={then}"))
    assert result.resumed
    assert outcome(tmp_path / "run", phases=False) == same(reference, phases=False)


def test_the_spec_a_worker_gets_holds_no_key(
    monkeypatch: pytest.MonkeyPatch, rules: Path, tmp_path: Path
) -> None:
    from skillfit.app.build import rollout_spec

    secret = "sk-test-0123456789abcdefghijklmnopqrstuv"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    cfg = ray_config(tmp_path, rules, "spec", "runtime.executor=ray", "target.model=openai:gpt-x")
    spec = rollout_spec(cfg)
    assert spec.target == "openai:gpt-x"
    assert secret.encode() not in pickle.dumps(spec)
    # A key written into the model string would travel with every task: refused.
    leaky = ray_config(
        tmp_path, rules, "spec", f"target.model=openai:gpt-x@https://u:{secret}@example.invalid/v1"
    )
    with pytest.raises(TrainError, match="credential"):
        rollout_spec(leaky)


def test_objects_cannot_be_sent_to_workers(rules: Path, tmp_path: Path) -> None:
    from skillfit.api import train as api_train

    cfg = ray_config(tmp_path, rules, "obj", "runtime.executor=ray")
    with pytest.raises(TrainError, match="cannot be sent"):
        api_train(cfg, task=AddTask(), optimizer=ScriptedModel(optimizer_reply))
    assert not (tmp_path / "obj").exists()


@pytest.mark.real_model
def test_the_embedded_model_gives_the_same_run_on_ray(cluster: None, tmp_path: Path) -> None:
    """Two items on the embedded 0.5B: each Ray worker starts its own server, and exact
    decoding gives the replies, the skill and the results of the local executor."""
    from skillfit.api import train as api_train
    from skillfit.train.config import load_config

    def cfg(name: str, *extra: str) -> Any:
        return load_config(
            None,
            [
                "task.name=bbh/boolean_expressions",
                "task.options={n_train: 2, n_val: 2, n_test: 2, seed: 0}",
                "target.model=local:qwen2.5-coder-0.5b",
                "target.max_tokens=48",
                "optimizer.model=local:qwen2.5-coder-0.5b",
                "optimizer.max_tokens=320",
                "train.epochs=1",
                "train.batch_size=2",
                "train.minibatch_size=2",
                "train.max_steps=1",
                "train.concurrency=2",
                "slow_update.enabled=false",
                "meta_skill.enabled=false",
                "run.target_check=false",
                f"cache.path={tmp_path / (name + '.sqlite')}",
                f"run.out_dir={tmp_path}",
                f"run.name={name}",
                *extra,
            ],
        )

    api_train(cfg("local"))
    api_train(cfg("ray", "runtime.executor=ray"))
    local, remote = outcome(tmp_path / "local"), outcome(tmp_path / "ray")
    assert local["state"]["history"][0]["n_infra_errors"] == 0
    assert remote == local
    assert cache_keys(tmp_path / "ray.sqlite") == cache_keys(tmp_path / "local.sqlite")
