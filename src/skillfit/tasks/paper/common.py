"""Plumbing shared by the SkillOpt paper benchmarks: split directories, manifests, raw release
files, answer extraction and the single-turn rollout.

A *split directory* is the reference implementation's layout: `<dir>/{train,val,test}/items.json`,
each a JSON array of objects with a unique `id`. A *manifest* (shipped in `manifests/`) lists the
paper's item ids per split; a materializer joins it with the public raw release to build the
split directory."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import string
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillfit.tasks.base import SPLIT_NAMES, Item, SplitName, TaskDataError
from skillfit.tasks.common import check_count

MANIFEST_ROOT = Path(__file__).parent / "manifests"

# field name -> accepted type(s); `str` ids may also be given as integers in raw files.
FieldSpec = Mapping[str, type | tuple[type, ...]]


class MissingRawDataError(TaskDataError):
    """The raw benchmark release needed to materialize a split directory is not on disk."""


# ----------------------------------------------------------------------------- split directories


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError as exc:
        raise TaskDataError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TaskDataError(f"{path}: not readable JSON ({exc})") from exc


def _type_names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)


def check_row(row: Any, required: FieldSpec, optional: FieldSpec, where: str) -> dict[str, Any]:
    """Validate one item object; returns it with `id` as a string. `where` names file and item."""
    if not isinstance(row, dict):
        raise TaskDataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    raw_id = row.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or str(raw_id).strip() == "":
        raise TaskDataError(f"{where}: missing or invalid 'id' (got {raw_id!r})")
    item_id = str(raw_id)
    for name, expected in required.items():
        if name not in row or row[name] is None:
            raise TaskDataError(f"{where} (id {item_id!r}): missing field {name!r}")
        if isinstance(row[name], bool) and bool not in _as_tuple(expected):
            raise TaskDataError(
                f"{where} (id {item_id!r}): field {name!r} must be {_type_names(expected)}, "
                "got bool"
            )
        if not isinstance(row[name], expected):
            raise TaskDataError(
                f"{where} (id {item_id!r}): field {name!r} must be {_type_names(expected)}, "
                f"got {type(row[name]).__name__}"
            )
    for name, expected in optional.items():
        if row.get(name) is not None and not isinstance(row[name], expected):
            raise TaskDataError(
                f"{where} (id {item_id!r}): field {name!r} must be {_type_names(expected)}, "
                f"got {type(row[name]).__name__}"
            )
    return {**row, "id": item_id}


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def load_split_dir(
    split_dir: str | os.PathLike[str],
    *,
    task: str,
    required: FieldSpec,
    optional: FieldSpec | None = None,
) -> dict[SplitName, list[dict[str, Any]]]:
    """Read and validate `<split_dir>/{train,val,test}/items.json`. Ids must be unique across all
    three splits (an id in two splits would leak test items into training)."""
    root = Path(split_dir).expanduser()
    if not root.is_dir():
        raise TaskDataError(
            f"{task}: split directory {root} does not exist; build it with "
            f"`skillfit tasks materialize {task} --raw <raw release dir> --out {root}`"
        )
    seen: dict[str, str] = {}
    out: dict[SplitName, list[dict[str, Any]]] = {}
    for split in SPLIT_NAMES:
        path = root / split / "items.json"
        if not path.is_file():
            raise TaskDataError(f"{task}: {path} is missing (expected a JSON array of items)")
        data = read_json(path)
        if not isinstance(data, list):
            raise TaskDataError(
                f"{path}: expected a JSON array of items, got {type(data).__name__}"
            )
        rows: list[dict[str, Any]] = []
        for index, raw in enumerate(data):
            row = check_row(raw, required, optional or {}, f"{path} item {index}")
            where = f"{path} item {index}"
            if row["id"] in seen:
                raise TaskDataError(
                    f"{where}: duplicate id {row['id']!r} (already used at {seen[row['id']]})"
                )
            seen[row["id"]] = where
            rows.append(row)
        out[split] = rows
    return out


def cap_splits(
    task: str,
    items: Mapping[SplitName, Sequence[Item]],
    n_train: object = None,
    n_val: object = None,
    n_test: object = None,
) -> dict[SplitName, list[Item]]:
    """The first n items of each split (all when n is None): the manifest order is the paper's,
    so a capped run uses a prefix of the paper's split rather than a resample."""
    caps = {
        "train": check_count(task, "n_train", n_train),
        "val": check_count(task, "n_val", n_val),
        "test": check_count(task, "n_test", n_test),
    }
    return {s: list(items[s] if caps[s] is None else items[s][: caps[s]]) for s in SPLIT_NAMES}


def paper_splits(
    task: str,
    split_dir: Path,
    items: Mapping[SplitName, Sequence[Item]],
    n_train: object = None,
    n_val: object = None,
    n_test: object = None,
    **options: Any,
) -> tuple[dict[SplitName, list[Item]], dict[str, Any]]:
    """`cap_splits`, and the options a paper task records in its manifest: the split directory,
    the caps, then the task's own `options`."""
    splits = cap_splits(task, items, n_train, n_val, n_test)
    recorded = {
        "split_dir": str(split_dir),
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        **options,
    }
    return splits, recorded


def write_split_dir(
    out_dir: Path, splits: Mapping[SplitName, Sequence[Mapping[str, Any]]]
) -> MaterializeResult:
    """Write `<out_dir>/<split>/items.json` atomically (temp file + rename); returns the
    folder and the size of each split."""
    for split, rows in splits.items():
        folder = out_dir / split
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".items.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(list(rows), f, ensure_ascii=False, indent=1)
        os.replace(tmp, folder / "items.json")
    return MaterializeResult(out_dir, {s: len(rows) for s, rows in splits.items()})


# ----------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class Manifest:
    """A paper split manifest: the source description and the id rows of each split."""

    path: Path
    info: dict[str, Any]
    splits: dict[SplitName, list[dict[str, Any]]]

    @property
    def source_url(self) -> str:
        return str(self.info.get("source_url", ""))

    def select(self, rows: Mapping[str, dict[str, Any]]) -> dict[SplitName, list[dict[str, Any]]]:
        """The manifest's splits filled in from `rows` (raw rows by id), in manifest order."""
        return {s: [rows[row["id"]] for row in ids] for s, ids in self.splits.items()}


def load_manifest(folder_name: str, manifest_dir: str | os.PathLike[str] | None = None) -> Manifest:
    """Load a manifest folder; `manifest_dir` may be the folder itself or a parent holding
    `folder_name` (for example the unpacked `data/` of the reference repository)."""
    if manifest_dir is None:
        root = MANIFEST_ROOT / folder_name
    else:
        given = Path(manifest_dir).expanduser()
        root = given / folder_name if (given / folder_name).is_dir() else given
    info = read_json(root / "split_manifest.json")
    if not isinstance(info, dict):
        raise TaskDataError(f"{root / 'split_manifest.json'}: expected a JSON object")
    splits = load_split_dir(root, task=folder_name, required={})
    return Manifest(path=root, info=info, splits=splits)


@dataclass(frozen=True)
class MaterializeResult:
    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------------------- raw release files


def find_raw_files(raw_dir: Path, patterns: Sequence[str]) -> list[Path]:
    """Files under `raw_dir` (recursively) whose names match any glob pattern, sorted."""
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in raw_dir.rglob(pattern) if p.is_file())
    return sorted(found)


def require_raw_dir(raw_dir: str | os.PathLike[str], task: str, expected: str, where: str) -> Path:
    root = Path(raw_dir).expanduser()
    if not root.is_dir():
        raise MissingRawDataError(
            f"{task}: raw data folder {root} does not exist. Expected {expected}. "
            f"The raw release is published at {where}."
        )
    return root


def missing_raw(
    task: str, raw_dir: Path, missing: Sequence[str], where: str
) -> MissingRawDataError:
    shown = ", ".join(missing[:10]) + (
        f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
    )
    return MissingRawDataError(
        f"{task}: missing raw files under {raw_dir}: {shown}. "
        f"Download the raw release from {where} and point --raw at it."
    )


def missing_items(
    task: str,
    raw_dir: Path,
    missing: Sequence[str],
    total: int,
    scanned: Sequence[Path],
    where: str,
) -> MissingRawDataError:
    """Manifest items the raw files on disk do not hold (a partial or different release)."""
    shown = ", ".join(missing[:10]) + (
        f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
    )
    files = ", ".join(str(p.relative_to(raw_dir)) for p in scanned[:5])
    files += f" and {len(scanned) - 5} more" if len(scanned) > 5 else ""
    return MissingRawDataError(
        f"{task}: {len(missing)} of {total} manifest items are not in the raw files under "
        f"{raw_dir} (scanned {files or 'no files'}): {shown}. "
        f"The full raw release is published at {where}."
    )


def iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a raw data file: .parquet (needs pyarrow), .jsonl[.gz], .json, .csv."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq  # optional: only the parquet releases need it
        except ImportError as exc:
            raise TaskDataError(
                f"{path}: reading parquet files needs pyarrow (`pip install 'skillfit[paper]'`)"
            ) from exc
        # Batches keep memory bounded: the SearchQA train file alone is ~0.5 GB of text.
        for batch in pq.ParquetFile(path).iter_batches(batch_size=512):
            yield from batch.to_pylist()
    elif name.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise TaskDataError(f"{path} line {lineno}: not JSON ({exc})") from exc
    elif name.endswith(".json"):
        data = read_json(path)
        if isinstance(data, dict):
            data = data.get("data", data.get("items"))
        if not isinstance(data, list):
            raise TaskDataError(f"{path}: expected a JSON array (or an object with 'data')")
        yield from data
    elif name.endswith(".csv"):
        with path.open(encoding="utf-8", newline="") as f:
            yield from csv.DictReader(f)
    else:
        raise TaskDataError(f"{path}: unsupported raw file type")


# ----------------------------------------------------------------------------- answers and scoring


def squad_normalize(text: str) -> str:
    """SQuAD answer normalization: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1_feedback(em: int, f1: float, expected: str, given: str) -> list[str]:
    """The opening sentences of an exact-match / token-F1 task's feedback: verdict, `expected`
    (a whole sentence), what was given, and the F1."""
    return [
        "Correct." if em else ("Partly right." if f1 > 0 else "Wrong."),
        expected,
        f"Given: {given!r}." if given else "Given: nothing.",
        f"Token F1 {f1:.2f}.",
    ]


# ----------------------------------------------------------------------------- task options


def require_split_dir(task: str, split_dir: str | os.PathLike[str] | None) -> Path:
    if split_dir is None or str(split_dir).strip() == "":
        raise TaskDataError(
            f"{task}: option split_dir is required (a folder with train/ val/ test/ items.json); "
            f"build one with `skillfit tasks materialize {task} --raw <raw release> --out <dir>`"
        )
    return Path(split_dir).expanduser()


# ----------------------------------------------------------------------------- materializers

Materializer = Callable[[Path, Path, "str | os.PathLike[str] | None"], MaterializeResult]
MATERIALIZERS: dict[str, Materializer] = {}


def register_materializer(name: str, fn: Materializer) -> Materializer:
    """Make `skillfit tasks materialize <name>` build split directories with `fn(raw, out,
    manifest_dir)`."""
    MATERIALIZERS[name] = fn
    return fn
