"""The training loop: rollout → reflect → guard → merge → apply → gate, over a skill document.

Building blocks live in small modules: `stats` (confidence intervals and paired tests), `gate`
(the acceptance test), `config` (run configuration), `rollout`, `reflect`, `buffer`,
`evaluation`, `state` (the resumable run state), `layout` (the output directory), `engine` (the
loop's parts) and `runner` (phases, stop rules, checkpoints). The optimizer's side (its calls
and prompts, the guard, merge, schedules, notes, the edit pipeline) is `skillfit.optim`.

`skillfit.train` is both this package and the training function: `skillfit/__init__.py` makes
this package callable, so `skillfit.train("run.yaml")` runs `skillfit.api.train` while attribute
access (skillfit.train.engine) keeps working; this package imports nothing above it.
"""
