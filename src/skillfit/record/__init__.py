"""Typed, versioned run records (pydantic) and the recorders that write them.

from skillfit.record import load_run
rec = load_run("outputs/quickstart")
print(rec.status, [s.adopted for s in rec.steps], rec.test.arms["best"].accuracy)
"""

from skillfit.record.models import (
    AUDIT_FILE,
    RECORD_SCHEMA_VERSION,
    Evaluation,
    Event,
    GateVerdict,
    PairedDiff,
    Proposal,
    RoleUsage,
    RunAudit,
    RunMeta,
    RunRecord,
    SkillVersion,
    Status,
    Step,
    TestResults,
)
from skillfit.record.reader import (
    EVENTS_FILE,
    STALE_AFTER_SECONDS,
    STRATEGY_FILE,
    derive_status,
    is_run_dir,
    list_runs,
    load_gate,
    load_proposals,
    load_run,
    load_trajectories,
    parse_test,
    read_events,
)
from skillfit.record.recorders import (
    JsonlRecorder,
    MemoryRecorder,
    Recorder,
    fanout,
    recording,
)

__all__ = [
    "AUDIT_FILE",
    "EVENTS_FILE",
    "RECORD_SCHEMA_VERSION",
    "STALE_AFTER_SECONDS",
    "STRATEGY_FILE",
    "Evaluation",
    "Event",
    "GateVerdict",
    "JsonlRecorder",
    "MemoryRecorder",
    "PairedDiff",
    "Proposal",
    "Recorder",
    "RoleUsage",
    "RunAudit",
    "RunMeta",
    "RunRecord",
    "SkillVersion",
    "Status",
    "Step",
    "TestResults",
    "derive_status",
    "fanout",
    "is_run_dir",
    "list_runs",
    "load_gate",
    "load_proposals",
    "load_run",
    "load_trajectories",
    "parse_test",
    "read_events",
    "recording",
]
