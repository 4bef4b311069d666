"""The typed, versioned run record: what a run wrote, as pydantic models.

One schema that the console view, `skillfit report`, `skillfit compare` and the dashboard all
read. The models describe the files of the output layout (config.json, history.json,
runtime_state.json, summary.json, steps/, test_eval/) plus `events.jsonl`, the recorder's
event stream; unknown keys are kept (`extra="allow"`) so older and newer runs both load.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RECORD_SCHEMA_VERSION = 1

# archived: a kept result (config.json, best_skill.md, meta_skill.md) without the run's state;
# damaged: the state file exists but cannot be read, and no process is writing the run.
Status = Literal["running", "done", "failed", "stale", "empty", "archived", "damaged"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunMeta(_Open):
    """Who and what: the run's task, models, strategy and full config."""

    schema_version: int = RECORD_SCHEMA_VERSION
    run_dir: str
    name: str
    task: str = ""
    target: str = ""
    optimizer: str = ""
    harness: str = "chat"
    strategy: str = "skillfit"
    seed: int = 0
    config_hash: str = ""
    config: dict[str, Any] = Field(default_factory=dict)


class GateVerdict(_Open):
    """The gate's decision on one candidate skill (history's brief, or gate.json in full). The
    trainer writes it (`StepRecord.gate`) and every reader reads it back as this same model."""

    accepted: bool = False
    reason: str = ""
    current_mean: float | None = None
    candidate_mean: float | None = None
    mean_diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n_items: int = 0
    n_scored: int = 0
    n_excluded: int = 0
    # Items scored on both sides, and of those the ones the candidate won or lost (None in a
    # verdict recorded before these counts were kept).
    n_compared: int | None = None
    wins: int | None = None
    losses: int | None = None
    stopped_early: bool = False
    decided: bool = True
    skipped: str | None = None  # why no gate ran (no edit applied), from gate.json
    per_item: list[dict[str, Any]] = Field(default_factory=list)


class RoleUsage(_Open):
    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from a provider's prompt cache
    cache_write_tokens: int = 0  # prompt tokens written to it (0 in records made before)
    completion_tokens: int = 0
    seconds: float = 0.0
    cost: float = 0.0
    hit_tokens: int = 0  # tokens of the replies served from the cache

    @property
    def tokens(self) -> int:
        return int(self.prompt_tokens) + int(self.completion_tokens)


class Step(_Open):
    """One unit of optimization: a step, or an epoch-end slow update (`kind`)."""

    step: int
    epoch: int
    kind: str = "step"
    budget: int = 0
    train_score: float | None = None
    n_train: int = 0
    n_infra_errors: int = 0
    proposed: int = 0
    guard_rejected: int = 0
    merged: int = 0
    selected: int = 0
    applied: int = 0
    unapplied: int = 0
    applied_edits: list[str] = Field(default_factory=list)
    gate: GateVerdict | None = None
    adopted: bool = False
    skill_version: int = 1
    skill_tokens: int = 0
    val_current: float | None = None
    val_candidate: float | None = None
    note: str = ""
    tokens: dict[str, RoleUsage] = Field(default_factory=dict)
    seconds: float = 0.0


class Proposal(_Open):
    """One optimizer reply of a step (a minibatch's reflection): its edits and raw answer."""

    index: int = 0
    ok: bool = False
    edits: list[dict[str, Any]] = Field(default_factory=list)
    invalid_edits: list[dict[str, Any]] = Field(default_factory=list)
    n_failures: int | None = None
    optimizer: dict[str, Any] | None = None


class PairedDiff(_Open):
    a: str = ""
    b: str = ""
    n: int = 0
    mean_diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    wins: int = 0
    losses: int = 0
    ties: int = 0


class Evaluation(_Open):
    """One skill measured on a split: accuracy with its interval, format, errors."""

    name: str
    n_items: int = 0
    samples: int = 1
    correct: int = 0
    scored: int = 0
    accuracy: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = 0.95
    n_errors: int = 0
    format_rate: float | None = None
    formatted_accuracy: float | None = None
    # item id -> hard scores, one per sample (None for a sample lost to an infra error)
    per_item: dict[str, list[float | None]] = Field(default_factory=dict)


class TestResults(_Open):
    """The test arms (none / initial / best, or any other names) and their paired differences."""

    arms: dict[str, Evaluation] = Field(default_factory=dict)
    comparisons: dict[str, PairedDiff] = Field(default_factory=dict)
    best_version: int | None = None
    tokens: dict[str, RoleUsage] = Field(default_factory=dict)
    seconds: float = 0.0


class Event(_Open):
    """One line of events.jsonl: what happened, when (unix seconds), and its data."""

    schema_version: int = RECORD_SCHEMA_VERSION
    ts: float
    event: str
    data: dict[str, Any] = Field(default_factory=dict)


class SkillVersion(_Open):
    version: int
    text: str
    tokens: int = 0


AUDIT_FILE = "audit.json"


class RunAudit(_Open):
    """audit.json: what the audit found in a run's trained skill (`best_skill.md`) and latest
    meta-skill (skillfit.app.audit). `skillfit train` writes it when a run finishes; `skillfit
    audit RUN_DIR` computes the same for any run. Warnings for a person to read: a run with
    problems is still a finished run."""

    skillfit_version: str = ""
    # Each file read, relative to the run directory, and the number of problems found in it.
    files: dict[str, int] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)  # each names its file
    # Ids of the marked worked examples of training items (optimizer.examples: train): item
    # text on purpose, so not problems.
    deliberate_examples: list[str] = Field(default_factory=list)
    checked: list[str] = Field(default_factory=list)  # what the audit looked for

    @property
    def clean(self) -> bool:
        return not self.problems


class RunRecord(_Open):
    """Everything a run directory says, typed. Build it with `load_run(run_dir)`."""

    schema_version: int = RECORD_SCHEMA_VERSION
    meta: RunMeta
    status: Status
    status_reason: str = ""
    phase: str = ""
    epoch: int = 0
    global_step: int = 0
    total_steps: int = 0
    stopped: str | None = None
    steps: list[Step] = Field(default_factory=list)
    skills: list[SkillVersion] = Field(default_factory=list)
    initial_skill: str = ""
    best_skill: str = ""
    best_version: int = 1
    best_score: float | None = None
    meta_skill: str = ""
    test: TestResults | None = None
    tokens: dict[str, RoleUsage] = Field(default_factory=dict)
    seconds: float = 0.0
    last_activity: float | None = None  # unix time of the newest file the run wrote
    events: list[Event] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)
    audit: RunAudit | None = None  # audit.json (None: a run not audited yet)
    # Files that could not be read, or held values of the wrong type (left out of the
    # record): file name relative to the run -> what is wrong, in one line.
    damaged: dict[str, str] = Field(default_factory=dict)

    @property
    def adopted_steps(self) -> list[Step]:
        return [s for s in self.steps if s.adopted]

    def test_accuracy(self, arm: str = "best") -> float | None:
        if self.test is None or arm not in self.test.arms:
            return None
        return self.test.arms[arm].accuracy
