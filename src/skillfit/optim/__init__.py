"""Pure pieces of optimization: the edit pipeline's stages (see skillfit.optim.pipeline)."""

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
