"""skillfit: train an agent's skill document while the model's weights stay frozen.

import skillfit
result = skillfit.train("configs/quickstart.yaml")          # -> skillfit.api.TrainResult
ev = skillfit.evaluate("best_skill.md", "configs/quickstart.yaml", split="test")
grid = skillfit.transfer("outputs/run", targets="local:qwen2.5-coder-1.5b", harnesses="chat,agent")
table = skillfit.compare("configs/quickstart.yaml", ["skillfit", "gepa", "oneshot", "none"])
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("skillfit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

# Imported on first use so `import skillfit` (and the CLI's start-up) stays light.
_LAZY = {"evaluate", "transfer", "TrainResult", "EvalResult", "TransferResult"}


def __getattr__(name: str) -> Any:
    if name == "train":
        import skillfit.train as package  # callable: runs skillfit.api.train

        return package
    if name == "compare":
        from skillfit.runtime.compare import compare

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
