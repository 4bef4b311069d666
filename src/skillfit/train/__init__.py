"""The training loop: rollout → reflect → apply → gate, over a skill document.

Building blocks live in small modules: `schedules` (edit budget per step), `stats`
(confidence intervals and paired tests), `gate` (the acceptance test) and `config`
(run configuration)."""
