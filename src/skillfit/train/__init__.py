"""The training loop: rollout → reflect → guard → merge → apply → gate, over a skill document.

Building blocks live in small modules: `config` (run configuration), `rollout`, `reflect`,
`buffer`, `evaluation`, `state` (the resumable run state), `layout` (the output directory),
`proposal` (what a step returns), `engine` (the context a strategy works in), `runner` (phases,
the stop rule, gating and adopting, checkpoints) and `summary`. The optimizer's side (its calls
and prompts, the guard, merge, schedules, notes, the gate and its acceptance policies, the edit
pipeline) is `skillfit.optim`; atomic writes, errors and statistics are `skillfit.core`.

`skillfit.train` is both this package and the training function: `skillfit/__init__.py` makes
this package callable, so `skillfit.train("run.yaml")` runs `skillfit.api.train` while attribute
access (skillfit.train.engine) keeps working; this package imports nothing above it.
"""
