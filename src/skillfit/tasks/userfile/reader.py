"""Reading a user's data file into items: JSONL, JSON, CSV/TSV and Parquet, fields mapped.

Every refusal is a `TaskDataError` naming the file, the line (the row, for Parquet) and the
field, so a user can open the file and fix it: a missing or empty field, a duplicate id, an
input given twice (in two splits, or twice where splits are drawn), an unknown split name, a
file that is not what its extension says.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillfit.core.readfile import FileRefused, read_regular_file
from skillfit.tasks.base import SPLIT_NAMES, Item, SplitName, TaskDataError

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Split names a data file may use, and what they mean here.
SPLIT_ALIASES: Mapping[str, SplitName] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}
_PARQUET_MAGIC = b"PAR1"
# A task's data is a few hundred items: a file larger than this is a wrong path or a whole
# dataset, and reading it whole (as every format here is) would hold it all in memory.
MAX_DATA_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Row:
    """One record of the file: where it was (`line`: 1-based line, or row for Parquet) and its
    fields."""

    line: int
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Mapped:
    """A row turned into an item, with the split its split column named (if any)."""

    item: Item
    line: int
    split: SplitName | None = None


@dataclass(frozen=True)
class FieldMap:
    """Which column holds what. `target` None: the items have no reference answer (a judge
    with a rubric grades them); `id` None: ids come from the line numbers; `split` None: the
    splits are drawn by seed."""

    input: str = "input"
    target: str | None = "target"
    id: str | None = None
    split: str | None = None
    extra: Sequence[str] = field(default_factory=tuple)


def detect_format(path: Path, given: str | None = None) -> str:
    if given is not None:
        fmt = given.lower().lstrip(".")
        if fmt not in FORMATS:
            raise TaskDataError(
                f"{path}: unknown format {given!r}; use one of {', '.join(FORMATS)}"
            )
        return fmt
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise TaskDataError(
            f"{path}: cannot tell the format from the extension {path.suffix or '(none)'!r}; "
            f"use .jsonl, .json, .csv, .tsv or .parquet, or set the task option format"
        )
    return found


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _text(path: Path, raw: bytes, fmt: str) -> str:
    if raw.startswith(_PARQUET_MAGIC):
        raise TaskDataError(f"{path}: is a Parquet file, not {fmt.upper()}; rename it to .parquet")
    if b"\x00" in raw[:8192]:
        raise TaskDataError(f"{path}: is a binary file, not {fmt.upper()} text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = _line_of(raw, exc.start)
        raise TaskDataError(
            f"{path}: line {line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None


def read_data_file(path: Path) -> bytes:
    """The bytes of a data file: a regular file of at most MAX_DATA_BYTES (a FIFO or a device
    named as the data would hang the run or fill its memory)."""
    try:
        return read_regular_file(path, MAX_DATA_BYTES, "a data file")
    except FileNotFoundError:
        raise TaskDataError(f"{path}: data file not found") from None
    except IsADirectoryError:
        raise TaskDataError(f"{path}: is a folder; give the data file") from None
    except FileRefused as exc:
        hint = "; keep the rows you need in a smaller file" if exc.too_large else ""
        raise TaskDataError(f"{exc}{hint}") from None
    except OSError as exc:
        raise TaskDataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_rows(path: Path, fmt: str, *, delimiter: str | None = None) -> list[Row]:
    """Every record of the file, in order. Refuses a file that is not what `fmt` says."""
    return parse_rows(path, read_data_file(path), fmt, delimiter=delimiter)


def parse_rows(path: Path, raw: bytes, fmt: str, *, delimiter: str | None = None) -> list[Row]:
    """Every record of `raw`, the content of the data file at `path`, in order."""
    if fmt == "parquet":
        return _parquet_rows(path, raw)
    text = _text(path, raw, fmt)
    if fmt == "jsonl":
        return _jsonl_rows(path, text)
    if fmt == "json":
        return _json_rows(path, text)
    return _csv_rows(path, text, delimiter or ("\t" if fmt == "tsv" else ","))


def _jsonl_rows(path: Path, text: str) -> list[Row]:
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = (
                " (is this a JSON array? name the file .json)" if n == 1 and line[:1] == "[" else ""
            )
            raise TaskDataError(
                f"{path}: line {n}: not a JSON object per line: {exc.msg}{hint}"
            ) from None
        if not isinstance(obj, dict):
            raise TaskDataError(
                f"{path}: line {n}: expected a JSON object, got {type(obj).__name__}"
            )
        rows.append(Row(n, obj))
    return rows


def _json_rows(path: Path, text: str) -> list[Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskDataError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("examples"), list):
        data = data["examples"]
    if not isinstance(data, list):
        raise TaskDataError(f"{path}: expected a JSON list of objects (or {{'examples': [...]}})")
    # A JSON array has no line per record: report the record's position (1-based).
    rows = []
    for i, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise TaskDataError(f"{path}: record {i}: expected an object, got {type(obj).__name__}")
        rows.append(Row(i, obj))
    return rows


def _csv_rows(path: Path, text: str, delimiter: str) -> list[Row]:
    if text.lstrip().startswith(("{", "[")) and path.suffix.lower() in (".csv", ".tsv"):
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        try:
            json.loads(first)
            raise TaskDataError(f"{path}: holds JSON, not CSV; rename it to .jsonl")
        except json.JSONDecodeError:
            pass
    # The csv module refuses fields over 128 KB; a field can be no larger than the file, whose
    # size read_data_file already bounds (a JSONL field of the same size is read as well).
    if csv.field_size_limit() < MAX_DATA_BYTES:
        csv.field_size_limit(MAX_DATA_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise TaskDataError(f"{path}: is empty (no header line)")
        header = [h.strip() for h in header]
        if any(not h for h in header):
            raise TaskDataError(f"{path}: line 1: a column has no name in the header")
        seen: set[str] = set()
        for h in header:
            if h in seen:
                raise TaskDataError(f"{path}: line 1: column {h!r} appears twice in the header")
            seen.add(h)
        rows = []
        start = reader.line_num + 1
        for values in reader:
            line = start
            start = reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                raise TaskDataError(
                    f"{path}: line {line}: {len(values)} fields but the header names "
                    f"{len(header)} (an unquoted {delimiter!r} inside a value?)"
                )
            rows.append(Row(line, dict(zip(header, values, strict=False))))
    except csv.Error as exc:
        raise TaskDataError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
    return rows


def _parquet_rows(path: Path, raw: bytes) -> list[Row]:
    if not (raw.startswith(_PARQUET_MAGIC) and raw.endswith(_PARQUET_MAGIC)):
        kind = "text" if raw[:1] in (b"{", b"[") or raw[:64].isascii() else "some other file"
        raise TaskDataError(f"{path}: is not a Parquet file (it looks like {kind})")
    try:
        import pyarrow.parquet as pq  # optional: only Parquet files need it
    except ImportError:
        raise TaskDataError(
            f"{path}: reading Parquet needs pyarrow: pip install 'skillfit[parquet]'"
        ) from None
    try:
        table = pq.read_table(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises its own error types for a damaged file
        raise TaskDataError(f"{path}: cannot read the Parquet file: {exc}") from None
    return [Row(i, rec) for i, rec in enumerate(table.to_pylist(), start=1)]


# --- rows -> items ---------------------------------------------------------------------------


def where_in_file(path: Path, fmt: str, line: int) -> str:
    """ "data.csv: line 7" ("row 7" in Parquet, "record 7" in a JSON list)."""
    unit = "row" if fmt == "parquet" else "record" if fmt == "json" else "line"
    return f"{path}: {unit} {line}"


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return isinstance(value, float) and value != value  # NaN from a Parquet column


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def check_columns(path: Path, fmt: str, rows: Sequence[Row], fields: FieldMap) -> None:
    """For a file with a header (CSV, Parquet), a mapped column that is absent is named once,
    with the columns the file has."""
    if not rows or fmt not in ("csv", "tsv", "parquet"):
        return
    have = list(rows[0].fields)
    wanted = [("input", fields.input), ("target", fields.target), ("id", fields.id)]
    wanted += [("split", fields.split)]
    for option, column in wanted:
        if column is not None and column not in have:
            raise TaskDataError(
                f"{path}: no column {column!r} (task option {option}); the file's columns are: "
                f"{', '.join(have)}"
            )


def to_items(path: Path, fmt: str, rows: Sequence[Row], fields: FieldMap) -> list[Mapped]:
    """Items from rows: fields mapped and checked, ids unique, each input given once."""
    if not rows:
        raise TaskDataError(f"{path}: holds no records")
    check_columns(path, fmt, rows, fields)
    stem = path.stem
    out: list[Mapped] = []
    ids: dict[str, int] = {}
    inputs: dict[str, tuple[int, SplitName | None]] = {}
    for row in rows:
        where = where_in_file(path, fmt, row.line)

        def get(column: str, option: str, row: Row = row, where: str = where) -> Any:
            if column not in row.fields:
                raise TaskDataError(f"{where}: missing field {column!r} (task option {option})")
            value = row.fields[column]
            if _is_empty(value):
                raise TaskDataError(f"{where}: field {column!r} is empty (task option {option})")
            return value

        text = _scalar_text(get(fields.input, "input"))
        if text is None:
            raise TaskDataError(
                f"{where}: field {fields.input!r} must be text, got "
                f"{type(row.fields[fields.input]).__name__}"
            )
        target: Any = None
        if fields.target is not None:
            target = get(fields.target, "target")
            if isinstance(target, float) and target.is_integer():
                target = int(target)
        if fields.id is not None:
            raw_id = get(fields.id, "id")
            if _scalar_text(raw_id) is None:
                raise TaskDataError(f"{where}: field {fields.id!r} must be text or a number")
            item_id = str(raw_id).strip()
            if item_id in ids:
                raise TaskDataError(
                    f"{where}: field {fields.id!r}: duplicate id {item_id!r} "
                    f"(first at line {ids[item_id]})"
                )
        else:
            item_id = f"{stem}-{row.line:05d}"
        ids[item_id] = row.line
        split: SplitName | None = None
        if fields.split is not None:
            value = get(fields.split, "split")
            split = split_named(value)
            if split is None:
                raise TaskDataError(
                    f"{where}: field {fields.split!r}: unknown split "
                    f"{str(value).strip().lower()!r}; use train, val (or validation, dev) or test"
                )
        key = " ".join(text.split()).casefold()
        if key in inputs:
            first, first_split = inputs[key]
            if split is not None and first_split is not None and split != first_split:
                raise TaskDataError(
                    f"{where}: field {fields.input!r}: this input is in split {split} and, at "
                    f"line {first}, in split {first_split}: an input may be in one split only"
                )
            raise TaskDataError(
                f"{where}: field {fields.input!r}: the same input as line {first}; give each "
                "input once (several acceptable answers: a list as the target, in JSONL)"
            )
        inputs[key] = (row.line, split)
        skip = {fields.input, fields.target, fields.id, fields.split}
        meta = {k: v for k, v in row.fields.items() if k not in skip}
        meta["line"] = row.line
        out.append(Mapped(Item(id=item_id, input=text, target=target, meta=meta), row.line, split))
    return out


def split_named(value: Any) -> SplitName | None:
    """The split a split column's value names (train, val, test or an alias), or None."""
    return SPLIT_ALIASES.get(str(value).strip().lower())


def scan_split_column(rows: Sequence[Row], column: str) -> tuple[bool, Row | None]:
    """Whether some row gives `column` a value, and the first row whose value names no split.
    It tells a column that reads as the splits from one that merely has the name; the task
    option split is still what refuses a bad row."""
    has_values = False
    for row in rows:
        value = row.fields.get(column)
        if _is_empty(value):
            continue
        has_values = True
        if split_named(value) is None:
            return True, row
    return has_values, None


def splits_by_column(mapped: Sequence[Mapped]) -> dict[SplitName, list[Item]]:
    splits: dict[SplitName, list[Item]] = {s: [] for s in SPLIT_NAMES}
    for m in mapped:
        assert m.split is not None
        splits[m.split].append(m.item)
    return splits
