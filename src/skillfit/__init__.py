"""skillfit: train an agent's skill document while the model's weights stay frozen."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("skillfit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
