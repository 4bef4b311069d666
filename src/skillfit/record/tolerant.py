"""Reading a run's files without trusting them: a file that is cut short, or holds a value of
the wrong type (a step `"x"`, an accuracy `"x"`), is noted as damaged, by file and with what
is wrong, and the rest of the run still loads. Readers (the dashboard, `skillfit report`) say
which file is damaged instead of failing with a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
_MISSING = object()


def why(exc: ValidationError) -> str:
    """A pydantic error as one short line: where, what was expected, what was found."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    got = repr(first.get("input"))
    got = got if len(got) <= 40 else got[:37] + "..."
    msg = str(first.get("msg", "invalid")).lower()
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where + ': ' if where else ''}{msg}, got {got}{more}"


class Files:
    """The JSON files of one run directory, read once each; what is wrong is kept in
    `damaged` (file name relative to the run -> one line)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.damaged: dict[str, str] = {}

    def note(self, name: str, problem: str) -> None:
        """Add `problem` to what is wrong with `name` (the first three are said)."""
        said = self.damaged.get(name)
        if said is None:
            self.damaged[name] = problem
        elif problem not in said and said.count("; ") < 2:
            self.damaged[name] = f"{said}; {problem}"

    def json(self, name: str, kind: type | None = None) -> Any:
        """The parsed file, or None when it is missing or damaged (then noted); `kind`: the
        type the top level must have."""
        path = self.root / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.note(name, f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
            return None
        try:
            data = json.loads(text)
        except ValueError:
            self.note(name, "is not valid JSON (cut short?)")
            return None
        if kind is not None and not isinstance(data, kind):
            self.note(name, f"holds {_kind(data)}, not {_kind(kind())}")
            return None
        return data

    def text(self, name: str) -> str | None:
        try:
            return (self.root / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.note(name, f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
            return None

    def model(self, name: str, cls: type[M], data: Any, what: str = "") -> M | None:
        """`cls` validated from `data`, or None with the problem noted against `name`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            self.note(name, f"{what + ': ' if what else ''}{why(exc)}")
        except (TypeError, ValueError) as exc:
            self.note(name, f"{what + ': ' if what else ''}{exc}")
        return None


class Fields:
    """Typed reads from one mapping of a file; a value of the wrong type is noted and the
    default used."""

    def __init__(self, files: Files, name: str, data: Any, where: str = "") -> None:
        self.files, self.name, self.where = files, name, where
        if data is not None and not isinstance(data, dict):
            files.note(name, f"{where or 'its top level'} holds {_kind(data)}, not an object")
            data = None
        self.data: dict[str, Any] = data or {}

    def _get(self, key: str, ok: Callable[[Any], bool], expected: str, default: Any) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if ok(value):
            return value
        got = repr(value)
        got = got if len(got) <= 40 else got[:37] + "..."
        where = f"{self.where}." if self.where else ""
        self.files.note(self.name, f"{where}{key} should be {expected}, got {got}")
        return default

    def whole(self, key: str, default: int = 0) -> int:
        return int(
            self._get(
                key,
                lambda v: isinstance(v, int) and not isinstance(v, bool),
                "a whole number",
                default,
            )
        )

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self._get(
            key,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "a number",
            default,
        )
        return None if value is None else float(value)

    def text(self, key: str, default: str = "") -> str:
        return str(self._get(key, lambda v: isinstance(v, str), "text", default))

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, lambda v: isinstance(v, str), "text", None)
        return None if value is None else str(value)

    def items(self, key: str) -> list[Any]:
        return list(self._get(key, lambda v: isinstance(v, list), "a list", []))

    def section(self, key: str) -> Fields:
        value = self._get(key, lambda v: isinstance(v, dict), "an object", None)
        where = f"{self.where}.{key}" if self.where else key
        return Fields(self.files, self.name, value, where)

    def raw(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }.get(type(value), "nothing" if value is None else type(value).__name__)
