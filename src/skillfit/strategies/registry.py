"""Strategies by name: one file plus one `@register` per strategy (the package's `__init__`
imports the built-in ones, which fills the registry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skillfit.core.errors import TrainError
from skillfit.strategies.base import Strategy

_REGISTRY: dict[str, Callable[..., Strategy]] = {}
_HELP: dict[str, str] = {}


def register(name: str, help: str = "") -> Callable[[type], type]:
    def deco(cls: type) -> type:
        _REGISTRY[name] = cls
        _HELP[name] = help or (cls.__doc__ or "").strip().splitlines()[0]
        return cls

    return deco


def strategy_names() -> list[str]:
    return list(_REGISTRY)


def describe() -> dict[str, str]:
    return dict(_HELP)


def get_strategy(name: str, **options: Any) -> Strategy:
    if name not in _REGISTRY:
        import difflib

        near = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise TrainError(f"unknown strategy {name!r}{hint} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name](**options)
