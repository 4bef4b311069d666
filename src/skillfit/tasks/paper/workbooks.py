"""SpreadsheetBench's scoring side: where the answer cells are (`parse_answer_position`) and
how an output workbook's cells are compared with the gold one (`compare_workbooks`): values
after normalization (numbers within NUMBER_TOLERANCE, strings stripped, empty string = empty
cell, dates as Excel serials) and, as in the reference evaluation, fill and font colors."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.datetime import to_excel

from skillfit.tasks.base import TaskDataError

OUTPUT_NAME = "output.xlsx"
NUMBER_TOLERANCE = 0.005  # the reference evaluation rounds numbers to 2 decimals
MAX_SHOWN_MISMATCHES = 5


@dataclass(frozen=True)
class TestCase:
    input: Path
    gold: Path


@dataclass
class CaseResult:
    """One test case: how many answer cells matched, which did not, and what went wrong."""

    n_cells: int = 0
    n_match: int = 0
    mismatches: list[str] = field(default_factory=list)
    problem: str = ""  # exception, timeout, missing output...


# ----------------------------------------------------------------------------- answer positions


def parse_answer_position(position: str, default_sheet: str) -> list[tuple[str, str]]:
    """`"Sheet1!A1:C5,'My sheet'!D2"` -> [("Sheet1", "A1:C5"), ("My sheet", "D2")]; a range
    without a sheet refers to `default_sheet` (the first sheet, as in the reference)."""
    parts: list[tuple[str, str]] = []
    # Split on commas outside quotes: sheet names may contain commas when quoted.
    for chunk in re.findall(r"(?:'[^']*'|[^,])+", position):
        chunk = chunk.strip()
        if not chunk:
            continue
        if "!" in chunk:
            sheet, rng = chunk.rsplit("!", 1)
            sheet = sheet.strip().strip("'")
        else:
            sheet, rng = default_sheet, chunk
        rng = rng.strip().strip("'").replace("$", "")
        if not rng:
            raise ValueError(f"empty cell range in answer position {position!r}")
        range_boundaries(rng)  # raises ValueError on nonsense
        parts.append((sheet, rng))
    if not parts:
        raise ValueError(f"no cell range in answer position {position!r}")
    return parts


def _cells(rng: str, max_row: int, max_col: int) -> list[str]:
    min_col, min_row, hi_col, hi_row = range_boundaries(rng)
    # Whole-column ("A:C") or whole-row ("2:4") ranges end where the gold sheet's data ends.
    min_col, min_row = min_col or 1, min_row or 1
    hi_col, hi_row = hi_col or max_col, hi_row or max_row
    return [
        f"{get_column_letter(c)}{r}"
        for c in range(min_col, hi_col + 1)
        for r in range(min_row, hi_row + 1)
    ]


# ----------------------------------------------------------------------------- cell comparison


def normalize_value(value: Any) -> Any:
    """A comparable form of a cell value: None for empty, float for numbers and numeric
    strings, stripped text, Excel serials for dates, "HH:MM" for times."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return float(round(to_excel(value)))
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, dt.timedelta):
        return value.total_seconds() / 86400.0
    text = str(value).strip()
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def values_match(expected: Any, got: Any) -> bool:
    a, b = normalize_value(expected), normalize_value(got)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=NUMBER_TOLERANCE)
    return type(a) is type(b) and a == b


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _rgb(color: Any) -> str:
    """The RGB part of an openpyxl color; theme and indexed colors count as none, as in the
    reference evaluation."""
    rgb = getattr(color, "rgb", None)
    # A theme color's `rgb` is an error text, not hex: treat it as no color.
    if isinstance(rgb, str) and re.fullmatch(r"[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?", rgb):
        return rgb[-6:].upper()
    return "000000"


def style_mismatch(gold_cell: Any, out_cell: Any) -> str | None:
    """How a cell's fill or font color differs from the gold one (highlighting tasks are
    scored on it, as in the reference evaluation); None when they agree."""
    for what, expected, got in (
        ("fill color", _rgb(gold_cell.fill.fgColor), _rgb(out_cell.fill.fgColor)),
        ("fill background", _rgb(gold_cell.fill.bgColor), _rgb(out_cell.fill.bgColor)),
        ("font color", _rgb(gold_cell.font.color), _rgb(out_cell.font.color)),
    ):
        if expected != got:
            return f"value right but {what} is {got}, expected {expected}"
    return None


def compare_workbooks(gold_path: Path, output_path: Path, answer_position: str) -> CaseResult:
    """Compare the answer cells of `output_path` with `gold_path` (both by cached value)."""
    gold_wb = openpyxl.load_workbook(gold_path, data_only=True)
    try:
        parts = parse_answer_position(answer_position, gold_wb.sheetnames[0])
        result = CaseResult()
        for sheet, rng in parts:
            if sheet not in gold_wb.sheetnames:
                raise TaskDataError(
                    f"{gold_path}: answer position {answer_position!r} names sheet {sheet!r}, "
                    f"which the gold workbook lacks (it has {gold_wb.sheetnames})"
                )
            gold_ws = gold_wb[sheet]
            result.n_cells += len(_cells(rng, gold_ws.max_row, gold_ws.max_column))
        if not output_path.is_file():
            result.problem = f"the code did not save {OUTPUT_NAME}"
            return result
        try:
            out_wb = openpyxl.load_workbook(output_path, data_only=True)
            formulas_wb = openpyxl.load_workbook(output_path, data_only=False)
        except Exception as exc:  # a broken file written by the model's code
            result.problem = f"{OUTPUT_NAME} could not be opened: {type(exc).__name__}: {exc}"
            return result
        for sheet, rng in parts:
            gold_ws = gold_wb[sheet]
            if sheet not in out_wb.sheetnames:
                result.mismatches.append(f"sheet {sheet!r} is missing from {OUTPUT_NAME}")
                continue
            out_ws, formula_ws = out_wb[sheet], formulas_wb[sheet]
            for ref in _cells(rng, gold_ws.max_row, gold_ws.max_column):
                expected, got = gold_ws[ref].value, out_ws[ref].value
                if values_match(expected, got):
                    style = style_mismatch(gold_ws[ref], out_ws[ref])
                    if style is None:
                        result.n_match += 1
                    else:
                        result.mismatches.append(f"{sheet}!{ref}: {style}")
                    continue
                written = formula_ws[ref].value
                if got is None and isinstance(written, str) and written.startswith("="):
                    note = f"got formula {_show(written)} (not evaluated; write the value)"
                else:
                    note = f"got {_show(got)}"
                result.mismatches.append(f"{sheet}!{ref}: expected {_show(expected)}, {note}")
        return result
    finally:
        gold_wb.close()
