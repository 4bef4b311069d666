"""Fakes for the training-engine tests: a tiny addition task and scripted target/optimizer."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from skillfit.models.base import ChatModel, InfraError
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.tasks.base import Item, Score, Trajectory

MAGIC = "Add the two numbers and reply with the sum only."


class AddTask:
    """Items "What is a plus b?"; the answer must be the sum, exactly."""

    def __init__(
        self, n_train: int = 6, n_val: int = 4, n_test: int = 4, initial: str = ""
    ) -> None:
        def items(prefix: str, start: int, n: int) -> list[Item]:
            return [
                Item(
                    id=f"{prefix}-{i}",
                    input=f"What is {i} plus {i + 100}?",
                    target=str(2 * i + 100),
                )
                for i in range(start, start + n)
            ]

        self._splits = {
            "train": items("train", 0, n_train),
            "val": items("val", 1000, n_val),
            "test": items("test", 2000, n_test),
        }
        self._initial = initial

    @property
    def name(self) -> str:
        return "add"

    @property
    def initial_skill(self) -> str:
        return self._initial

    def splits(self) -> dict[str, list[Item]]:
        return {k: list(v) for k, v in self._splits.items()}

    def split_manifest(self) -> dict[str, Any]:
        return {"task": "add", "splits": {k: [i.id for i in v] for k, v in self._splits.items()}}

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        messages = [
            {"role": "system", "content": skill + "\n\nSolve the task."},
            {"role": "user", "content": item.input},
        ]
        try:
            reply = model.complete(messages, max_tokens=32, sample=sample)
        except InfraError as exc:
            return Trajectory(item_id=item.id, messages=messages, error=str(exc), sample=sample)
        ok = reply.text.strip() == item.target
        score = Score(hard=int(ok), soft=float(ok), feedback="" if ok else "wrong sum")
        return Trajectory(
            item_id=item.id,
            messages=[*messages, {"role": "assistant", "content": reply.text}],
            answer=reply.text,
            score=score,
            usage=reply.usage,
            sample=sample,
        )


def solve(request: Request) -> str:
    """The target: right only when the skill tells it how."""
    q = request.last_user
    if MAGIC in request.system:
        a, b = int(q.split()[2]), int(q.split()[4].rstrip("?"))
        return str(a + b)
    return "I am not sure."


def target_model(fn: Callable[[Request], str] = solve) -> ScriptedModel:
    return ScriptedModel(fn, name="scripted:target")


def edit(
    op: str = "add", section: str | None = None, content: str = MAGIC, rationale: str = ""
) -> dict[str, Any]:
    return {
        "op": op,
        "section": section,
        "anchor": None,
        "content": content,
        "rationale": rationale,
    }


class Optimizer:
    """A scripted optimizer replying from a queue per prompt kind; the last reply repeats."""

    def __init__(
        self, replies: list[Any] | None = None, meta: str = "- adding the method helped"
    ) -> None:
        self.replies = list(replies or [{"analysis": "missing method", "edits": [edit()]}])
        self.meta = meta
        self.diagnosis: Any = {
            "task": "adding two numbers",
            "mistakes": ["gave no sum"],
            "contrast": "",
        }
        self.lock = threading.Lock()
        self.n = 0
        self.model = ScriptedModel(self._reply, name="scripted:optimizer")

    def _reply(self, request: Request) -> Any:
        if "short notes for an optimizer" in request.system:
            return {"notes": self.meta}
        if "You check the work of an AI model" in request.system:
            return self.diagnosis
        with self.lock:
            i = min(self.n, len(self.replies) - 1)
            self.n += 1
        reply = self.replies[i]
        reply = reply(request) if callable(reply) else reply
        return as_rules(reply) if "You write rules" in request.system else reply

    @property
    def calls(self) -> list[Request]:
        return self.model.calls


def as_rules(reply: Any) -> Any:
    """An edits reply in the shape of the rules stage: each edit's content as one rule."""
    if not isinstance(reply, dict) or "edits" not in reply:
        return reply
    rules = []
    for e in reply["edits"]:
        head, _, body = str(e.get("content", "")).partition("\n")
        title, rule = (head.lstrip("# "), body) if head.startswith("#") and body else ("Rule", head)
        rules.append({"fixes": "x", "title": title, "rule": rule, "replaces": e.get("section")})
    return {"analysis": reply.get("analysis", ""), "rules": rules}


def as_text(obj: Any) -> str:
    return json.dumps(obj)


def config(tmp_path: Any, *overrides: str) -> Any:
    """A small RunConfig for the fakes: no cache unless asked, run dir under tmp_path."""
    from skillfit.train.config import load_config

    base = [
        "task.name=add",
        "target.model=scripted:target",
        "optimizer.model=scripted:optimizer",
        "optimizer.temperature=0.0",
        "train.epochs=1",
        "train.batch_size=3",
        "train.minibatch_size=3",
        "train.concurrency=2",
        "schedule.init=2",
        "schedule.minimum=1",
        "slow_update.enabled=false",
        "meta_skill.enabled=false",
        "cache.enabled=false",
        # The fakes have a handful of val items, too few for the default significance test to
        # adopt anything: these tests exercise the loop, so they use the paper's strict gate.
        "gate.kind=strict_mean",
        f"run.out_dir={tmp_path}",
        "run.name=run",
    ]
    return load_config(None, [*base, *overrides])


def run(cfg: Any, task: Any, target: Any, optimizer: Any, **kwargs: Any) -> Any:
    from skillfit.api import train

    return train(cfg, task=task, target=target, optimizer=optimizer, **kwargs)
