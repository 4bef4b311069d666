"""Where the model layer keeps its files (joined weights, response cache, server log)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """The user cache directory; `SKILLFIT_CACHE_DIR` overrides it (tests, shared machines)."""
    override = os.environ.get("SKILLFIT_CACHE_DIR")
    path = Path(override) if override else Path(platformdirs.user_cache_dir("skillfit"))
    path.mkdir(parents=True, exist_ok=True)
    return path
