"""The run state: one serializable object holding everything a resumed run needs.

It is written atomically after every finished step (and after each epoch-end stage), so a
killed run continues from the last finished unit of work. Randomness is never stored as a
generator: every random choice derives its seed from (seed, epoch, purpose), so the state
plus the config determine the rest of the run exactly.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SerializationInfo, field_serializer

from skillfit.core.io import write_text_atomic
from skillfit.record.models import GateVerdict

Phase = Literal["steps", "slow_update", "meta_skill", "test_eval", "done"]


class BufferEntry(BaseModel):
    """An edit the gate turned down, with what it did to the validation score."""

    step: int
    kind: str = "step"  # "step" | "slow_update"
    edit: dict[str, Any]
    delta: float | None = None  # candidate mean minus current mean on the val items
    reason: str = ""
    skill_version: int = 0  # the version of the skill the edit was tried on


class StepRecord(BaseModel):
    """One line of history.json: what a step (or an epoch-end slow update) did."""

    step: int  # global step number, 1-based; slow updates carry the step they followed
    epoch: int  # 1-based
    kind: str = "step"  # "step" | "slow_update"
    budget: int = 0
    train_score: float | None = None  # mean hard score of the train batch (ok rollouts)
    n_train: int = 0
    n_infra_errors: int = 0
    n_minibatches: int = 0
    n_failed_minibatches: int = 0
    proposed: int = 0
    guard_rejected: int = 0
    merged: int = 0
    selected: int = 0
    applied: int = 0
    unapplied: int = 0
    applied_edits: list[str] = Field(default_factory=list)  # one-line descriptions
    gate: GateVerdict | None = None  # accepted, reason, means, paired CI, p-value, n
    adopted: bool = False
    skill_version: int = 1
    skill_tokens: int = 0
    val_current: float | None = None
    val_candidate: float | None = None
    note: str = ""
    # Per role: calls, cache_hits, errors and token counts (ints), seconds and cost (floats).
    tokens: dict[str, dict[str, int | float]] = Field(default_factory=dict)
    seconds: float = 0.0

    @field_serializer("gate")
    def _gate_as_written(self, gate: GateVerdict | None, info: SerializationInfo) -> Any:
        # The verdict's own keys only (a brief leaves out per_item and the gate.json-only ones).
        return None if gate is None else gate.model_dump(mode=info.mode, exclude_unset=True)


class RunState(BaseModel):
    schema_version: int = 1
    config_hash: str
    seed: int
    phase: Phase = "steps"
    epoch: int = 0  # 0-based epoch in progress
    step_in_epoch: int = 0  # steps already finished in this epoch
    global_step: int = 0  # steps finished in the whole run
    steps_per_epoch: int
    total_steps: int
    initial_skill: str
    current_skill: str
    current_version: int = 1
    current_score: float | None = None  # latest val measurement of the current skill
    epoch_start_skill: str
    best_skill: str
    best_version: int = 1
    best_score: float | None = None
    steps_since_adoption: int = 0
    stopped: str | None = None  # why training stopped: epochs | max_steps | patience
    buffer: list[BufferEntry] = Field(default_factory=list)
    meta_skill: str = ""
    history: list[StepRecord] = Field(default_factory=list)
    test: dict[str, Any] | None = None
    # Size of the run's call journal (calls.jsonl) when this state was saved: calls journaled
    # past it belong to the unit of work a kill interrupted (see models.accounting).
    journal_bytes: int = 0
    # What a strategy other than the default keeps between steps (see skillfit.strategies).
    strategy_state: dict[str, Any] = Field(default_factory=dict)
    # Calls, tokens and seconds per phase of the loop so far (see skillfit.train.phases).
    phases: dict[str, dict[str, float]] = Field(default_factory=dict)

    @property
    def schedule_step(self) -> int:
        """The schedule's step counter: the number of finished steps."""
        return self.global_step

    def brief(self) -> dict[str, Any]:
        """Where the run stands, for progress events."""
        return {
            "phase": self.phase,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "total_steps": self.total_steps,
            "current_version": self.current_version,
            "current_score": self.current_score,
            "best_score": self.best_score,
            "best_version": self.best_version,
            "stopped": self.stopped,
        }

    def save(self, path: Path) -> None:
        write_text_atomic(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunState:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def derived_rng(seed: int, *parts: object) -> random.Random:
    """A generator seeded from (seed, parts): the same inputs give the same draws on resume."""
    return random.Random(":".join([str(seed), *map(str, parts)]))
