"""Kill-and-resume gives the same run as a straight one; output-directory rules; bad splits."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from train_fakes import AddTask, as_rules, config, run

from skillfit.core.errors import RunDirConflict, SplitError, TrainError
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.tasks.base import Item

TIPS = [
    "## Zero rule\nWhen the first number is a multiple of three, add carefully.",
    "## One rule\nWhen the first number leaves one over threes, count on.",
    "## Two rule\nWhen the first number leaves two over threes, double check.",
]
JUNK = "## Tone\nStay calm and friendly."


def solve(request: Request) -> str:
    """Right only when the skill holds the tip for the item's kind (first number mod 3)."""
    q = request.last_user.split()
    a, b = int(q[2]), int(q[4].rstrip("?"))
    return str(a + b) if TIPS[a % 3].split("\n")[1] in request.system else "no idea"


def optimizer_reply(request: Request) -> Any:
    """A pure function of the prompt, so cached and fresh replies agree."""
    text = request.last_user
    if "short notes for an optimizer" in request.system:
        return {"notes": f"- {text.count('(adopted')} adopted, {text.count('(rejected')} rejected"}
    failing = re.findall(r"\(wrong\)\nInput:\nWhat is (\d+) plus", text)
    if "You check the work of an AI model" in request.system:  # stage one of `diagnose`
        words = ["zero", "one", "two"]
        mistakes = [f"missed the {words[int(a) % 3]} rule" for a in failing]
        return {"task": "sums", "mistakes": mistakes, "contrast": ""}
    named = re.findall(r"missed the (zero|one|two) rule", text)  # stage two sees no item
    kinds = sorted({int(a) % 3 for a in failing} | {["zero", "one", "two"].index(w) for w in named})
    edits = []
    if "Stay calm and friendly." not in text:  # not yet in the rejected buffer
        edits.append({"op": "add", "content": JUNK})
    edits += [{"op": "add", "content": TIPS[k]} for k in kinds if TIPS[k] not in text]
    m = re.search(r"Propose at most (\d+)", text)
    limit = int(m.group(1)) if m else 1
    reply = {"analysis": "tips", "edits": edits[:limit]}
    return as_rules(reply) if "You write rules" in request.system else reply


class Exploding:
    """Wraps a script; the call numbered `at` raises (once), as if the process were killed."""

    def __init__(self, fn: Any, at: int | None) -> None:
        self.fn, self.at, self.n = fn, at, 0
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Any:
        with self.lock:
            self.n += 1
            boom = self.n == self.at
        if boom:
            raise RuntimeError("simulated crash")
        return self.fn(request)


def resume_config(tmp_path: Path, name: str) -> Any:
    return config(
        tmp_path,
        f"run.name={name}",
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
    )


def comparable(root: Path) -> dict[str, Any]:
    state = json.loads((root / "runtime_state.json").read_text())
    state.pop("journal_bytes")  # the call journal of a killed run also holds the failed call
    state.pop("phases")  # seconds and calls per phase: what it cost, not what it computed
    for rec in state["history"]:
        rec.pop("seconds"), rec.pop("tokens")
    test = state["test"]
    test.pop("seconds"), test.pop("tokens")
    skills = {p.name: p.read_text() for p in sorted((root / "skills").iterdir())}
    return {"state": state, "skills": skills, "best": (root / "best_skill.md").read_text()}


def test_kill_and_resume_equals_a_straight_run(tmp_path: Path) -> None:
    task = AddTask(n_train=9, n_val=6, n_test=6)
    counter = Exploding(solve, None)
    run(
        resume_config(tmp_path, "straight"),
        task,
        ScriptedModel(counter),
        ScriptedModel(optimizer_reply),
    )
    straight = comparable(tmp_path / "straight")
    assert straight["state"]["phase"] == "done"
    kinds = {r["kind"] for r in straight["state"]["history"]}
    assert kinds == {"step", "slow_update"}
    assert any(r["adopted"] for r in straight["state"]["history"])
    assert straight["state"]["buffer"], "the scenario should exercise the rejected-edit buffer"
    total = counter.n

    for fraction in (0.2, 0.5, 0.8, 0.97):
        name = f"crash{int(fraction * 100)}"
        cfg = resume_config(tmp_path, name)
        exploding = ScriptedModel(Exploding(solve, int(total * fraction)))
        with pytest.raises(RuntimeError, match="simulated crash"):
            run(cfg, task, exploding, ScriptedModel(optimizer_reply))
        assert (tmp_path / name / "runtime_state.json").exists()
        result = run(cfg, task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
        assert result.resumed
        resumed = comparable(tmp_path / name)
        state = resumed["state"]
        state["config_hash"] = straight["state"]["config_hash"]
        assert resumed == straight, f"crash at {fraction:.0%} of the target calls"


def test_resume_is_the_default_and_a_finished_run_costs_nothing(tmp_path: Path) -> None:
    task = AddTask()
    cfg = config(tmp_path)
    first = run(cfg, task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
    target, opt = ScriptedModel(solve), ScriptedModel(optimizer_reply)
    again = run(cfg, task, target, opt)
    assert again.resumed and again.best_skill == first.best_skill
    assert target.calls == [] and opt.calls == []
    assert again.summary == first.summary


def test_a_different_config_is_refused_unless_forced(tmp_path: Path) -> None:
    task = AddTask()
    run(config(tmp_path), task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
    other = config(tmp_path, "train.seed=7")
    with pytest.raises(RunDirConflict, match="different config"):
        run(other, task, ScriptedModel(solve), ScriptedModel(optimizer_reply))
    # Execution-only settings do not change the run's identity.
    run(
        config(tmp_path, "train.concurrency=1"),
        task,
        ScriptedModel(solve),
        ScriptedModel(optimizer_reply),
    )
    result = run(other, task, ScriptedModel(solve), ScriptedModel(optimizer_reply), force=True)
    assert not result.resumed and result.moved_aside is not None
    assert (result.moved_aside / "runtime_state.json").exists()
    assert result.moved_aside.name.startswith("run.replaced-")


def test_foreign_directory_and_nothing_to_resume(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirConflict, match="holds no skillfit run"):
        run(config(tmp_path), AddTask(), ScriptedModel(solve), ScriptedModel(optimizer_reply))
    with pytest.raises(TrainError, match="nothing to resume"):
        run(
            config(tmp_path, "run.name=new"),
            AddTask(),
            ScriptedModel(solve),
            ScriptedModel(optimizer_reply),
            resume=True,
        )


class SplitTask(AddTask):
    def __init__(self, splits: dict[str, list[Item]]) -> None:
        super().__init__()
        self._splits = splits


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        ({"train": [Item("a", "q")], "val": [], "test": [Item("c", "q")]}, "val split"),
        ({"train": [Item("a", "q")], "test": [Item("c", "q")]}, "val split"),
        ({"train": [Item("a", "q")], "val": [Item("b", "q")], "test": []}, "test split"),
        (
            {"train": [Item("a", "q")], "val": [Item("a", "q")], "test": [Item("c", "q")]},
            "in both train and val",
        ),
        (
            {"train": [Item("a", "q")], "val": [Item("b", "q")], "test": [Item("b", "q")]},
            "in both val and test",
        ),
    ],
)
def test_bad_splits_are_refused_before_anything_is_written(
    tmp_path: Path, splits: dict[str, list[Item]], message: str
) -> None:
    with pytest.raises(SplitError, match=message):
        run(
            config(tmp_path),
            SplitTask(splits),
            ScriptedModel(solve),
            ScriptedModel(optimizer_reply),
        )
    assert not (tmp_path / "run").exists()
