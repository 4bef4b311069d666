"""The training loop: rollout → reflect → guard → merge → apply → gate, over a skill document.

Building blocks live in small modules: `schedules` (edit budget per step), `stats`
(confidence intervals and paired tests), `gate` (the acceptance test), `config` (run
configuration), `rollout`, `reflect`, `guard`, `merge`, `buffer`, `evaluation`, `state`
(the resumable run state), `layout` (the output directory) and `engine` (the loop).

`skillfit.train` is both this package and the training function: calling the package,
`skillfit.train("run.yaml")`, runs `skillfit.api.train`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    # `skillfit.train` names this package, so the public `skillfit.train(...)` function is the
    # package made callable: attribute access (skillfit.train.engine) keeps working.
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from skillfit.api import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
