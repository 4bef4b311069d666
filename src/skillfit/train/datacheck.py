"""Is a task's data still the data a run started with?

A run records its task's data in splits.json: the item ids of every split, a digest of the
items (`items_sha256`: ids, inputs and targets) and, for the `file` task, the digest of the
data file (`data_sha256`). A resumed run whose data changed would train its later steps and
test on other items than its earlier steps; an evaluation of a run's skill would measure it
on items the run never held out. Both are refused with what changed (see api.train and
api.evaluate).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skillfit.core.errors import TrainError
from skillfit.tasks.base import Item

__all__ = ["ITEMS_KEY", "DataChanged", "data_change", "items_digest", "recorded_manifest"]

ITEMS_KEY = "items_sha256"
SPLITS = ("train", "val", "test")


class DataChanged(TrainError):
    """The task's data is not the data the run recorded."""


def _plain(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        # Not JSON (a task's own object): its type stands in, never its repr, which may hold
        # an address that differs between processes and would refuse every resume.
        return f"<{type(value).__qualname__}>"


def items_digest(splits: Mapping[str, Sequence[Item]]) -> dict[str, str]:
    """Per split, a digest of its items' ids, inputs and targets, in order."""
    out = {}
    for name in SPLITS:
        h = hashlib.sha256()
        for item in splits.get(name, ()):
            h.update(_plain([item.id, item.input, item.target]).encode("utf-8"))
            h.update(b"\n")
        out[name] = h.hexdigest()
    return out


def recorded_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The run's splits.json, or None when it has none (or it cannot be read)."""
    try:
        data = json.loads((run_dir / "splits.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def data_change(
    recorded: Mapping[str, Any],
    task: Any,
    splits: Mapping[str, Sequence[Item]],
    names: Sequence[str] = SPLITS,
) -> str | None:
    """What differs between the recorded data and the task's data now, for the splits in
    `names`, in a few words naming the data file when there is one; None if nothing does.

    With every split asked for (a resume) any change of the data file counts; for some splits
    (an evaluation) only a change of their items does, when the run recorded their digests."""
    path = getattr(task, "data_path", None)
    digests = recorded.get(ITEMS_KEY)
    then, now = recorded.get("data_sha256"), getattr(task, "data_sha256", None)
    whole = tuple(names) == SPLITS or not isinstance(digests, Mapping)
    if whole and isinstance(then, str) and isinstance(now, str) and then != now:
        return (
            f"{path or 'the data file'} changed since the run started (sha256 {then[:12]}… "
            f"then, {now[:12]}… now)"
        )
    where = f"{path}: " if path else ""
    ids = recorded.get("splits")
    if isinstance(ids, Mapping):
        for name in names:
            if name in ids and ids[name] != [it.id for it in splits.get(name, ())]:
                return (
                    f"{where}the task's {name} split is not the one the run recorded in "
                    "splits.json (its data or options changed)"
                )
    if isinstance(digests, Mapping):
        current = items_digest(splits)
        for name in names:
            if name in digests and digests[name] != current[name]:
                return (
                    f"{where}the {name} items changed since the run started (same ids, other "
                    "inputs or answers)"
                )
    return None
