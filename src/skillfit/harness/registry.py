"""Harnesses by name: `get_harness("agent")`. A new harness registers itself in one line:

    register_harness("codex", CodexHarness)

The factory takes no arguments and returns an object meeting the `Harness` protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from skillfit.harness.agent import AgentHarness
from skillfit.harness.base import Harness, HarnessError
from skillfit.harness.chat import ChatHarness
from skillfit.harness.claude_code import claude_code_harness
from skillfit.harness.codex import codex_harness

DEFAULT_HARNESS = "chat"

_REGISTRY: dict[str, Callable[[], Harness]] = {}


def register_harness(
    name: str, factory: Callable[[], Harness], *, replace: bool = False
) -> Callable[[], Harness]:
    """Register `factory` under `name` (a clash is an error unless `replace`)."""
    if not name or name != name.strip() or "," in name:
        raise ValueError(f"bad harness name {name!r}")
    if name in _REGISTRY and not replace and _REGISTRY[name] is not factory:
        raise ValueError(f"a harness named {name!r} is already registered")
    _REGISTRY[name] = factory
    return factory


def harness_names() -> list[str]:
    return sorted(_REGISTRY)


def get_harness(name: str | Harness) -> Harness:
    """The harness called `name` (a Harness object is returned as it is). An unknown name is a
    HarnessError listing the known ones."""
    if not isinstance(name, str):
        return name
    factory = _REGISTRY.get(name.strip())
    if factory is None:
        raise HarnessError(
            f"unknown harness {name!r}; known harnesses: {', '.join(harness_names())}"
        )
    return factory()


register_harness("chat", ChatHarness)
register_harness("agent", AgentHarness)
register_harness("codex", codex_harness)
register_harness("claude-code", claude_code_harness)
