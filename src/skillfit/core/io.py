"""Small file helpers: every file the engine writes is written whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from skillfit.core.writefile import naming


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file and a rename, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with naming(path), os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=_default) + "\n"


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, to_json(obj))


def write_jsonl(path: Path, rows: list[Any]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False, default=_default) + "\n" for r in rows)
    write_text_atomic(path, text)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _default(obj: Any) -> Any:
    # Pydantic models, dataclasses and mappings met in records; everything else as text.
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    if hasattr(obj, "items"):
        return dict(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)
