"""skillfit: train an agent's skill document while the model's weights stay frozen.

import skillfit
result = skillfit.train("configs/quickstart.yaml")          # -> skillfit.api.TrainResult
ev = skillfit.evaluate("best_skill.md", "configs/quickstart.yaml", split="test")
grid = skillfit.transfer("outputs/run", targets="local:qwen2.5-coder-1.5b", harnesses="chat,agent")
table = skillfit.compare("configs/quickstart.yaml", ["skillfit", "gepa", "oneshot", "none"])
"""

import types
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("skillfit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"


class _CallablePackage(types.ModuleType):
    # `skillfit.train` names the training package, so the public `skillfit.train(...)` function
    # is that package made callable: attribute access (skillfit.train.engine) keeps working.
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from skillfit.api import train

        return train(*args, **kwargs)


# Made callable here, not in the package itself, so skillfit.train imports nothing above it.
# Every import of skillfit.train runs this file first. (Its __init__ imports nothing.)
import skillfit.train as _train_package  # noqa: E402

_train_package.__class__ = _CallablePackage

# Imported on first use so `import skillfit` (and the CLI's start-up) stays light.
_LAZY = {"evaluate", "transfer", "TrainResult", "EvalResult", "TransferResult"}


def __getattr__(name: str) -> Any:
    if name == "compare":
        from skillfit.app.compare import compare

        return compare
    if name in _LAZY:
        from skillfit import api

        return getattr(api, name)
    raise AttributeError(f"module 'skillfit' has no attribute {name!r}")


__all__ = [
    "EvalResult",
    "TrainResult",
    "TransferResult",
    "__version__",
    "compare",
    "evaluate",
    "train",
    "transfer",
]
