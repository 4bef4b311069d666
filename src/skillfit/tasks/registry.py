"""The task registry: a name (plus options) in, a ready `Task` out.

Adding a task takes one file. Write a factory that takes the task's options as keyword
arguments and returns an object meeting the `Task` protocol (plus `split_manifest()`), and
register it at import time::

    from skillfit.tasks.registry import register_task

    @register_task("mytask", description="What it measures", n_items=lambda: 500)
    def make_mytask(*, n_train=None, n_val=None, n_test=None, seed=0) -> Task:
        ...

A *family* registers a prefix ending in "/"; its factory takes the member name first::

    register_task("bbh/", make_bbh_task, description="BIG-Bench Hard: {member}",
                  members=lambda: BBH_TASKS, n_items=count_items)
    get_task("bbh/web_of_lies", n_train=40)   # calls make_bbh_task("web_of_lies", n_train=40)

The bundled tasks (bbh, gsm8k, reasoning_gym) are imported on first use, and so is the
optional `skillfit.tasks.paper` package, whose absence or failure does not affect the others.
A module outside skillfit registers by being imported before `get_task` is called: an
installed package through the `skillfit.tasks` entry-point group, a user's module through
`task.module` in a config or `skillfit --import` (see skillfit.tasks.plugins).
See docs/adding-a-task.md.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from skillfit.tasks.base import Task, TaskDataError
from skillfit.tasks.common import TaskOptionError

Factory = Callable[..., Task]
F = TypeVar("F", bound=Factory)
Count = int | None | Callable[[], int | None] | Callable[[str], int | None]

# Modules that register the bundled tasks, imported on first use of the registry.
_BUILTIN_MODULES = (
    "skillfit.tasks.bbh",
    "skillfit.tasks.gsm8k",
    "skillfit.tasks.rgym",
    "skillfit.tasks.userfile",
    "skillfit.tasks.mined",
)
# Registered by other parts of skillfit that may be absent from an installation.
_OPTIONAL_MODULES = ("skillfit.tasks.paper",)


@dataclass(frozen=True)
class TaskInfo:
    name: str
    description: str
    n_items: int | None  # None: generated on demand, no fixed size


@dataclass(frozen=True)
class _Entry:
    name: str  # a task name, or a family prefix ending in "/"
    factory: Factory
    description: str
    n_items: Count
    members: Callable[[], list[str]] | None
    list_members: bool

    @property
    def is_family(self) -> bool:
        return self.name.endswith("/")


_REGISTRY: dict[str, _Entry] = {}
_loaded = False


@overload
def register_task(
    name: str,
    factory: None = None,
    *,
    description: str = "",
    n_items: Count = None,
    members: Callable[[], list[str]] | None = None,
    list_members: bool = True,
    replace: bool = False,
) -> Callable[[F], F]: ...


@overload
def register_task(
    name: str,
    factory: F,
    *,
    description: str = "",
    n_items: Count = None,
    members: Callable[[], list[str]] | None = None,
    list_members: bool = True,
    replace: bool = False,
) -> F: ...


def register_task(
    name: str,
    factory: F | None = None,
    *,
    description: str = "",
    n_items: Count = None,
    members: Callable[[], list[str]] | None = None,
    list_members: bool = True,
    replace: bool = False,
) -> F | Callable[[F], F]:
    """Register `factory` under `name` (usable as a decorator when `factory` is omitted).

    name: a task name ("gsm8k"), or a family prefix ending in "/" ("bbh/") whose factory is
      called as `factory(member, **options)`.
    description: one line for `skillfit tasks`; in a family, "{member}" is replaced.
    n_items: the number of items the data holds (int, or a callable computed lazily -- taking
      the member name in a family); None for generated tasks.
    members: a family's known member names (for listing and "did you mean").
    list_members: False lists a large family as one row instead of one row per member.
    replace: allow re-registering a name (otherwise a clash is an error).
    """

    def add(fn: F) -> F:
        if name in _REGISTRY and not replace and _REGISTRY[name].factory is not fn:
            raise ValueError(f"a task named {name!r} is already registered")
        _REGISTRY[name] = _Entry(name, fn, description, n_items, members, list_members)
        return fn

    return add if factory is None else add(factory)


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for module in _OPTIONAL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                warnings.warn(f"tasks from {module} unavailable: {exc}", stacklevel=3)
        except Exception as exc:  # another package's bug must not hide the bundled tasks
            warnings.warn(f"tasks from {module} unavailable: {exc!r}", stacklevel=3)
    # Installed packages' tasks (the `skillfit.tasks` entry-point group).
    from skillfit.tasks.plugins import load_entry_points

    load_entry_points(register_task, lambda name: name in _REGISTRY)


def _count(entry: _Entry, member: str | None = None) -> int | None:
    n = entry.n_items
    if not callable(n):
        return n
    try:
        return n(member) if member is not None else n()  # type: ignore[call-arg]
    except Exception as exc:  # one task's unreadable data must not break the whole listing
        warnings.warn(f"cannot count the items of {entry.name}{member or ''}: {exc}", stacklevel=3)
        return None


def _family_members(entry: _Entry) -> list[str]:
    return list(entry.members()) if entry.members else []


def known_names() -> list[str]:
    """Every concrete task name the registry can build (family members spelled out)."""
    _ensure_loaded()
    names: list[str] = []
    for entry in _REGISTRY.values():
        if entry.is_family:
            names.extend(entry.name + m for m in _family_members(entry))
        else:
            names.append(entry.name)
    return sorted(names)


def list_tasks() -> list[TaskInfo]:
    """One row per registered task (a family's members one by one, unless it asked to be
    listed as a single row)."""
    _ensure_loaded()
    rows: list[TaskInfo] = []
    for entry in sorted(_REGISTRY.values(), key=lambda e: e.name):
        if entry.is_family and entry.list_members and entry.members:
            for member in _family_members(entry):
                desc = entry.description.replace("{member}", member)
                rows.append(TaskInfo(entry.name + member, desc, _count(entry, member)))
        elif entry.is_family:
            desc = entry.description.replace("{member}", "<name>")
            rows.append(TaskInfo(entry.name + "<name>", desc, None))
        else:
            rows.append(TaskInfo(entry.name, entry.description, _count(entry)))
    return rows


def _unknown(name: str) -> TaskDataError:
    names = known_names()
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    if not close:
        # Match on the part after a family prefix too: "bbh/web_of_lie" vs "web_of_lies".
        tail = name.rsplit("/", 1)[-1]
        by_tail = {n.rsplit("/", 1)[-1]: n for n in names}
        close = [by_tail[t] for t in difflib.get_close_matches(tail, list(by_tail), n=5)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return TaskDataError(f"unknown task {name!r}{hint} (`skillfit tasks` lists them all)")


def _resolve(name: str) -> tuple[_Entry, str | None]:
    _ensure_loaded()
    if name in _REGISTRY and not _REGISTRY[name].is_family:
        return _REGISTRY[name], None
    prefix, sep, member = name.partition("/")
    entry = _REGISTRY.get(prefix + "/") if sep else None
    if entry is None or not member:
        raise _unknown(name)
    if entry.members and member not in _family_members(entry):
        raise _unknown(name)
    return entry, member


def option_names(name: str) -> list[str]:
    """The options task `name` accepts."""
    entry, member = _resolve(name)
    params = list(inspect.signature(entry.factory).parameters.values())
    if member is not None:
        params = params[1:]
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def get_task(name: str, /, **options: Any) -> Task:
    """Build task `name` with `options` (e.g. n_train, n_val, n_test, seed).

    Raises TaskDataError for an unknown name (listing close ones) and TaskOptionError (a
    TaskDataError) for an option the task does not take or cannot honour."""
    entry, member = _resolve(name)
    params = inspect.signature(entry.factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if not takes_any:
        valid = option_names(name)
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise TaskOptionError(
                f"task {name!r} does not take option(s) {', '.join(unknown)}; "
                f"its options are: {', '.join(valid) or '(none)'}"
            )
    return entry.factory(member, **options) if member is not None else entry.factory(**options)
