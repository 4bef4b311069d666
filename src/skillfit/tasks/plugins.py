"""Tasks defined outside skillfit: an installed package's entry points, or a module named in a
config (`task.module`) or on the command line (`skillfit --import my_tasks ...`).

A package registers tasks through the `skillfit.tasks` entry-point group, in its
pyproject.toml::

    [project.entry-points."skillfit.tasks"]
    my_tasks = "my_package.tasks"              # a module: importing it registers its tasks
    capitals = "my_package.tasks:make_capitals"  # a factory: registered under the entry's name

A module given by name is imported like any module (the config's folder is searched first); a
path ending in `.py` is imported from that file (relative to the config's folder).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from skillfit.tasks.common import TaskOptionError

ENTRY_POINT_GROUP = "skillfit.tasks"


def load_entry_points(register: Callable[..., Any], registered: Callable[[str], bool]) -> list[str]:
    """Import every `skillfit.tasks` entry point; a callable one is registered as a task
    factory under the entry's name (`register(name, factory, description=...)`, unless
    `registered(name)`: its module registered that name already). A broken plugin is a warning,
    never a failure of the bundled tasks. Returns the entries loaded."""
    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if not inspect.ismodule(obj) and callable(obj) and not registered(ep.name):
                doc = (inspect.getdoc(obj) or "").strip().splitlines()
                register(ep.name, obj, description=doc[0] if doc else f"from {ep.value}")
            loaded.append(ep.name)
        except Exception as exc:  # another package's bug must not hide the bundled tasks
            warnings.warn(
                f"tasks from entry point {ep.name} ({ep.value}) unavailable: {exc!r}",
                stacklevel=2,
            )
    return loaded


@contextmanager
def _on_path(folder: Path | None) -> Iterator[None]:
    if folder is None or str(folder) in sys.path:
        yield
        return
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with suppress(ValueError):
            sys.path.remove(str(folder))


def import_file(path_text: str, base_dir: Path | None = None) -> ModuleType:
    """Import a Python file by path (relative to `base_dir`), once per resolved path. Its own
    folder is searched for the modules it imports."""
    path = Path(path_text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    path = path.resolve()
    if not path.is_file():
        raise TaskOptionError(f"Python file {path} not found")
    name = "skillfit_user_" + re.sub(r"\W", "_", str(path))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskOptionError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _on_path(path.parent):
            spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise TaskOptionError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from exc
    return module


def import_task_modules(
    specs: str | Iterable[str] | None, base_dir: str | Path | None = None
) -> list[ModuleType]:
    """Import the modules that register a user's tasks: dotted names or `.py` paths (relative
    to `base_dir`, the config's folder). TaskOptionError names the one that failed."""
    if specs is None:
        return []
    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",") if s.strip()]
    base = Path(base_dir) if base_dir is not None else None
    modules = []
    for spec in specs:
        if spec.endswith(".py") or "/" in spec or "\\" in spec:
            modules.append(import_file(spec, base))
            continue
        try:
            with _on_path(base):
                modules.append(importlib.import_module(spec))
        except ImportError as exc:
            where = f" (searched {base} first)" if base is not None else ""
            raise TaskOptionError(f"cannot import task module {spec!r}{where}: {exc}") from None
        except Exception as exc:
            raise TaskOptionError(
                f"task module {spec!r} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
    return modules
