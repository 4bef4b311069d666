"""API keys and endpoints come from the environment or a `.env` file, never from arguments.

Values are read at model construction and handed straight to the provider SDK; they are never
logged, cached or written to any config.
"""

from __future__ import annotations

import os
import threading

from dotenv import find_dotenv, load_dotenv

from skillfit.models.base import MissingCredentialsError

_loaded = False
_lock = threading.Lock()


def _load_dotenv_once() -> None:
    global _loaded
    with _lock:
        if not _loaded:
            # usecwd: the project's .env next to where the user runs skillfit; real env wins.
            path = find_dotenv(usecwd=True)
            if path:
                load_dotenv(path, override=False)
            _loaded = True


def optional_env(name: str) -> str | None:
    _load_dotenv_once()
    value = os.environ.get(name, "").strip()
    return value or None


def require_env(name: str, *, purpose: str) -> str:
    """The value of `name`, or MissingCredentialsError saying how to set it."""
    value = optional_env(name)
    if value is None:
        raise MissingCredentialsError(
            f"{purpose} needs the environment variable {name}; set it in your shell or in a "
            f".env file in the working directory (never on the command line)"
        )
    return value
