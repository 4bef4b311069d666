"""The optimizer's side of training: its calls and settings (`optimizer`), prompts
(`prompting`, prompts/), the knowledge pass, the guard (`guard`, with its checks in `needles`,
`meta_text`, `vocabulary`, `repetition` and `grading`), merge and ranking, the edit budget
schedules, the meta-skill's notes, the edit pipeline that chains them (`pipeline`), and the
gate (`gate`: paired, strict-mean and unconditional; its decision rules and early-stop
bounds in `gate_rules`) with the acceptance policies the runner is given (`acceptance`:
measured, ungated)."""

from skillfit.optim.pipeline import (
    STAGES,
    EditBatch,
    Stage,
    address,
    fit,
    guard_stage,
    merge_stage,
    resolve,
    run_pipeline,
    select_stage,
)

__all__ = [
    "STAGES",
    "EditBatch",
    "Stage",
    "address",
    "fit",
    "guard_stage",
    "merge_stage",
    "resolve",
    "run_pipeline",
    "select_stage",
]
