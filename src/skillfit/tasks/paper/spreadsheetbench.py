"""SpreadsheetBench (Ma et al. 2024, Verified 400) as used in the SkillOpt paper: the target
writes Python (openpyxl) that edits a workbook; the code runs in the sandbox on a copy of each
test-case input, and the cells of the answer position are compared with the gold workbook.

Split directory items are the rows of the release's `dataset.json`:
`{"id", "instruction", "answer_position", "instruction_type", "spreadsheet_path"}`, with
`spreadsheet_path` (relative to the split directory, or absolute) a folder holding the test
cases `<n>_<id>_init.xlsx` + `<n>_<id>_golden.xlsx` (Verified 400) or `<n>_<id>_input.xlsx` +
`<n>_<id>_answer.xlsx` (the original 912). An item may instead list its cases explicitly:
`"test_cases": [{"input": path, "gold": path}, ...]`.

Scoring: soft = the fraction of answer cells that match over all test cases; hard = every cell
of every test case matches. Values are compared after normalization: numbers (and numeric
strings) within 0.005, strings stripped, empty string = empty cell, dates as Excel serials; and,
as in the reference evaluation, fill and font colors (RGB) must match too.
Formulas are not evaluated (as in the reference evaluation, which reads cached values), so a
cell holding a formula written by openpyxl has no value; the feedback says so.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter

from skillfit.models.base import ChatModel, InfraError, Message
from skillfit.models.base import Usage as ModelUsage
from skillfit.tasks.base import Item, Score, SplitName, TaskDataError, Trajectory
from skillfit.tasks.common import FixedSplitsTask, check_positive, check_seed
from skillfit.tasks.messages import build_messages
from skillfit.tasks.paper.common import (
    MaterializeResult,
    MissingRawDataError,
    load_manifest,
    load_split_dir,
    missing_raw,
    paper_splits,
    read_json,
    register_materializer,
    require_raw_dir,
    require_split_dir,
    write_split_dir,
)
from skillfit.tasks.paper.workbooks import (
    MAX_SHOWN_MISMATCHES,
    OUTPUT_NAME,
    CaseResult,
    TestCase,
    compare_workbooks,
    normalize_value,
    parse_answer_position,
    values_match,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.sandbox import SandboxResult, run_python

NAME = "spreadsheetbench"
MANIFEST = "spreadsheetbench_id_split"
PUBLISHED = (
    "https://huggingface.co/datasets/KAKA22/SpreadsheetBench "
    "(spreadsheetbench_verified_400.tar.gz, unpacked: dataset.json + spreadsheet/<id>/)"
)
INPUT_NAME = "input.xlsx"

INSTRUCTIONS = f"""You edit Excel workbooks by writing Python.
Reply with one ```python code block. The code runs in the current directory, which holds the \
workbook `{INPUT_NAME}`; it must load it with openpyxl, make the requested change, and save the \
whole workbook as `{OUTPUT_NAME}` in the current directory. There is no network and only the \
current directory is writable. The cells of the answer position are compared by value with the \
expected workbook; formulas are not evaluated, so write computed values."""

INITIAL_SKILL = """# SpreadsheetBench

## Workflow
- Load the workbook with `openpyxl.load_workbook("input.xlsx")`, select the sheet named in the
  answer position (or the first sheet), edit it, then `wb.save("output.xlsx")`.
- Read the preview: find where the data starts (header rows) before looping over rows.

## Values
- Write computed Python values into the answer cells, not Excel formulas.
- Keep numbers as numbers (not strings) and leave cells empty with `None`.
"""


# ----------------------------------------------------------------------------- prompt pieces


def extract_code(reply: str) -> str | None:
    """The Python code of a reply: the first ```python block, else the first fenced block, else
    an unclosed fence's remainder (a reply cut by the token limit)."""
    blocks = re.findall(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", reply, re.S)
    for lang, body in blocks:
        if lang.lower() in ("python", "py", "python3") and body.strip():
            return body
    for _lang, body in blocks:
        if body.strip():
            return body
    match = re.search(r"```[ \t]*(?:python3?|py)?[^\n]*\n(.*)\Z", reply, re.S)
    if match and match.group(1).strip():
        return match.group(1)
    return None


def preview_workbook(
    path: Path, *, max_rows: int = 10, max_cols: int = 12, max_sheets: int = 4, cell_chars: int = 24
) -> str:
    """A compact text view of the first rows of each sheet, with column letters and row
    numbers, so the model can address cells without seeing the file."""
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    lines: list[str] = []
    try:
        for ws in wb.worksheets[:max_sheets]:
            n_rows, n_cols = ws.max_row or 0, ws.max_column or 0
            dims = f"{n_rows} rows x {n_cols} columns"
            lines.append(f'Sheet "{ws.title}" ({dims}; first {min(max_rows, n_rows)} rows shown):')
            cols = min(max_cols, n_cols)
            if cols == 0:
                lines.append("  (empty)")
                continue
            lines.append("row | " + " | ".join(get_column_letter(c) for c in range(1, cols + 1)))
            for r, row in enumerate(
                ws.iter_rows(min_row=1, max_row=max_rows, max_col=cols, values_only=True), 1
            ):
                cells = ["" if v is None else str(v).replace("\n", " ") for v in row]
                cells = [c if len(c) <= cell_chars else c[: cell_chars - 3] + "..." for c in cells]
                lines.append(f"{r} | " + " | ".join(cells))
        if len(wb.worksheets) > max_sheets:
            lines.append(f"(and {len(wb.worksheets) - max_sheets} more sheets)")
    finally:
        wb.close()
    return "\n".join(lines)


# ----------------------------------------------------------------------------- loading


_CASE_RE = re.compile(r"^(\d+)_(.+)_(init|input|golden|answer)\.xlsx$", re.I)


def discover_cases(folder: Path, item_id: str) -> list[TestCase]:
    """Pair `<n>_<id>_init|input.xlsx` with `<n>_<id>_golden|answer.xlsx` in `folder`."""
    inputs: dict[int, Path] = {}
    golds: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = _CASE_RE.match(path.name)
            if not match or match.group(2) != item_id:
                continue
            bucket = inputs if match.group(3).lower() in ("init", "input") else golds
            bucket[int(match.group(1))] = path
    return [TestCase(inputs[n], golds[n]) for n in sorted(inputs) if n in golds]


def _resolve(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _cases_of(row: Mapping[str, Any], root: Path, where: str) -> list[TestCase]:
    explicit = row.get("test_cases")
    if explicit is not None:
        if not isinstance(explicit, list) or not explicit:
            raise TaskDataError(f"{where}: 'test_cases' must be a non-empty list")
        cases = []
        for case in explicit:
            if not (
                isinstance(case, dict)
                and isinstance(case.get("input"), str)
                and isinstance(case.get("gold"), str)
            ):
                raise TaskDataError(f"{where}: each test case needs string 'input' and 'gold'")
            cases.append(TestCase(_resolve(root, case["input"]), _resolve(root, case["gold"])))
    else:
        if not isinstance(row.get("spreadsheet_path"), str):
            raise TaskDataError(f"{where}: missing field 'spreadsheet_path' (or 'test_cases')")
        folder = _resolve(root, row["spreadsheet_path"])
        cases = discover_cases(folder, row["id"])
        if not cases:
            raise TaskDataError(
                f"{where}: no test cases in {folder} (expected 1_{row['id']}_init.xlsx and "
                f"1_{row['id']}_golden.xlsx, or *_input.xlsx / *_answer.xlsx)"
            )
    missing = [str(p) for c in cases for p in (c.input, c.gold) if not p.is_file()]
    if missing:
        raise TaskDataError(f"{where}: missing spreadsheet file(s): {', '.join(missing[:5])}")
    return cases


def load_items(split_dir: str | os.PathLike[str]) -> dict[SplitName, list[Item]]:
    root = Path(split_dir).expanduser()
    rows = load_split_dir(
        root,
        task=NAME,
        required={"instruction": str, "answer_position": str},
        optional={"instruction_type": str, "spreadsheet_path": str, "test_cases": list},
    )
    out: dict[SplitName, list[Item]] = {}
    for split, split_rows in rows.items():
        items: list[Item] = []
        for row in split_rows:
            where = f"{root / split / 'items.json'} (id {row['id']!r})"
            try:
                parse_answer_position(row["answer_position"], "Sheet1")
            except ValueError as exc:
                raise TaskDataError(f"{where}: bad answer_position: {exc}") from exc
            cases = _cases_of(row, root, where)
            items.append(
                Item(
                    id=row["id"],
                    input=(
                        f"Instruction: {row['instruction'].strip()}\n"
                        f"Answer position: {row['answer_position']}"
                    ),
                    target={
                        "answer_position": row["answer_position"],
                        "cases": [{"input": str(c.input), "gold": str(c.gold)} for c in cases],
                    },
                    meta={"instruction_type": row.get("instruction_type") or ""},
                )
            )
        out[split] = items
    return out


# ----------------------------------------------------------------------------- the task


class SpreadsheetBenchTask(FixedSplitsTask):
    """Splits from a split directory; rollout = one code reply run on every test case."""

    def __init__(
        self,
        splits: Mapping[SplitName, Sequence[Item]],
        *,
        options: Mapping[str, Any],
        seed: int = 0,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        timeout_s: float = 30,
        memory_mb: int = 1024,
        preview_rows: int = 10,
        max_attempts: int = 1,
    ) -> None:
        super().__init__(
            name=NAME, splits=splits, initial_skill=INITIAL_SKILL, options=options, seed=seed
        )
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.preview_rows = preview_rows
        self.max_attempts = max_attempts

    def user_message(self, item: Item) -> str:
        first = Path(item.target["cases"][0]["input"])
        preview = preview_workbook(first, max_rows=self.preview_rows)
        kind = item.meta.get("instruction_type")
        kind_line = f"Instruction type: {kind}\n" if kind else ""
        return f"{item.input}\n{kind_line}\nPreview of {INPUT_NAME}:\n{preview}"

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        """Ask for code, run it on every test case, score the answer cells. With
        `max_attempts` > 1, code that crashes, times out or saves no output is sent back with
        its error (never with the expected cells) for another try; the last try is scored."""
        start = time.perf_counter()
        messages: list[Message] = build_messages(skill, INSTRUCTIONS, self.user_message(item))
        tool_calls: list[dict[str, Any]] = []
        usage = ModelUsage()
        code: str | None = None
        score = Score(0, 0.0, "")

        def failed(error: str) -> Trajectory:
            return Trajectory(
                item_id=item.id,
                messages=messages,
                answer=code or "",
                usage=usage,
                tool_calls=tool_calls,
                error=error,
                seconds=time.perf_counter() - start,
                sample=sample,
            )

        for attempt in range(1, self.max_attempts + 1):
            try:
                reply = model.complete(
                    messages,
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                    sample=sample,
                )
            except InfraError as exc:
                return failed(f"{type(exc).__name__}: {exc}")
            usage = usage + reply.usage
            messages = [*messages, {"role": "assistant", "content": reply.text}]
            code = extract_code(reply.text)
            if code is None:
                feedback = "No ```python code block in the reply, so nothing was run."
                if reply.finish_reason == "length":
                    feedback += f" The reply hit the {self.max_tokens}-token limit."
                score = Score(0, 0.0, feedback)
                retry = feedback
            else:
                try:
                    results = self._run_cases(code, item, tool_calls, attempt)
                except OSError as exc:  # the sandbox itself failed: says nothing about the skill
                    return failed(f"sandbox failure: {type(exc).__name__}: {exc}")
                score = _score(results)
                retry = _run_report(results)
            if not retry or attempt == self.max_attempts:
                break
            messages = [
                *messages,
                {"role": "user", "content": f"{retry}\nReply with a corrected ```python block."},
            ]
        if self.max_attempts > 1:
            score = Score(score.hard, score.soft, f"{score.feedback} (attempt {attempt})")
        return Trajectory(
            item_id=item.id,
            messages=messages,
            answer=code or "",
            score=score,
            usage=usage,
            tool_calls=tool_calls,
            seconds=time.perf_counter() - start,
            sample=sample,
        )

    def _run_cases(
        self, code: str, item: Item, tool_calls: list[dict[str, Any]], attempt: int
    ) -> list[CaseResult]:
        results: list[CaseResult] = []
        for index, case in enumerate(item.target["cases"], 1):
            with tempfile.TemporaryDirectory(prefix="skillfit-ssb-") as tmp:
                workdir = Path(tmp)
                shutil.copyfile(case["input"], workdir / INPUT_NAME)
                # The gold workbooks sit beside the inputs: keep the code from reading them.
                run = run_python(
                    code,
                    workdir,
                    timeout_s=self.timeout_s,
                    memory_mb=self.memory_mb,
                    hide=[Path(c["gold"]) for c in item.target["cases"]],
                )
                result = compare_workbooks(
                    Path(case["gold"]), workdir / OUTPUT_NAME, item.target["answer_position"]
                )
            problem = _run_problem(run)
            if problem:
                result.problem = f"{problem}; {result.problem}" if result.problem else problem
            results.append(result)
            tool_calls.append(
                {
                    "tool": "python",
                    "attempt": attempt,
                    "test_case": index,
                    "returncode": run.returncode,
                    "killed_reason": run.killed_reason,
                    "seconds": round(run.seconds, 3),
                    "stdout": run.stdout[-2000:],
                    "stderr": run.stderr[-2000:],
                    "cells_matched": result.n_match,
                    "cells": result.n_cells,
                }
            )
        return results


def _run_report(results: Sequence[CaseResult]) -> str:
    """What the model may see between attempts: run problems only, never expected values."""
    problems = [(i, r.problem) for i, r in enumerate(results, 1) if r.problem]
    if not problems:
        return ""
    multi = len(results) > 1
    return " ".join(
        f"{f'Test case {i}: ' if multi else ''}{p[0].upper()}{p[1:]}." for i, p in problems
    )


def _run_problem(run: SandboxResult) -> str:
    if run.killed_reason == "timeout":
        return f"the code was stopped after {run.seconds:.0f} s (time limit)"
    if run.killed_reason == "memory":
        return "the code ran out of memory"
    if run.killed_reason == "cpu":
        return "the code used up its CPU time"
    if run.returncode != 0:
        lines = [ln for ln in run.stderr.strip().splitlines() if ln.strip()]
        tail = " / ".join(ln.strip() for ln in lines[-3:]) or f"exit code {run.returncode}"
        return f"the code failed: {tail[:400]}"
    return ""


def _score(results: Sequence[CaseResult]) -> Score:
    n_cells = sum(r.n_cells for r in results)
    n_match = sum(r.n_match for r in results)
    solved = all(r.n_cells > 0 and r.n_match == r.n_cells and not r.problem for r in results)
    soft = n_match / n_cells if n_cells else 0.0
    multi = len(results) > 1
    parts = ["All answer cells match." if solved else f"{n_match}/{n_cells} answer cells match."]
    for index, r in enumerate(results, 1):
        prefix = f"Test case {index}: " if multi else ""
        if r.problem:
            parts.append(f"{prefix}{r.problem[0].upper()}{r.problem[1:]}.")
        if r.mismatches:
            shown = "; ".join(r.mismatches[:MAX_SHOWN_MISMATCHES])
            more = len(r.mismatches) - MAX_SHOWN_MISMATCHES
            extra = f" (and {more} more)" if more > 0 else ""
            parts.append(f"{prefix}Mismatches: {shown}{extra}.")
    return Score(hard=int(solved), soft=soft, feedback=" ".join(parts))


def make_task(
    *,
    split_dir: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_tokens: int = 1024,
    timeout_s: int = 30,
    memory_mb: int = 1024,
    preview_rows: int = 10,
    max_attempts: int = 1,
) -> SpreadsheetBenchTask:
    """SpreadsheetBench on the paper's splits; `n_*` keep the first n items of a split."""
    root = require_split_dir(NAME, split_dir)
    splits, options = paper_splits(NAME, root, load_items(root), n_train, n_val, n_test)
    return SpreadsheetBenchTask(
        splits,
        options=options,
        seed=check_seed(NAME, seed),
        max_tokens=check_positive(NAME, "max_tokens", max_tokens),
        timeout_s=check_positive(NAME, "timeout_s", timeout_s),
        memory_mb=check_positive(NAME, "memory_mb", memory_mb),
        preview_rows=check_positive(NAME, "preview_rows", preview_rows),
        max_attempts=check_positive(NAME, "max_attempts", max_attempts),
    )


# ----------------------------------------------------------------------------- materializer


def _find_release(raw: Path, scratch: Path) -> Path:
    """The folder holding `dataset.json`: under `raw`, or inside a release tarball there."""
    found = sorted(raw.rglob("dataset.json"), key=lambda p: len(p.parts))
    if found:
        return found[0].parent
    tarballs = sorted(raw.rglob("spreadsheetbench*.tar.gz")) or sorted(raw.rglob("*.tar.gz"))
    for tarball in tarballs:
        with tarfile.open(tarball) as tar:
            tar.extractall(scratch, filter="data")
        found = sorted(scratch.rglob("dataset.json"), key=lambda p: len(p.parts))
        if found:
            return found[0].parent
    raise missing_raw(
        NAME, raw, ["dataset.json (or spreadsheetbench_verified_400.tar.gz)"], PUBLISHED
    )


def materialize(
    raw_dir: Path, out_dir: Path, manifest_dir: str | os.PathLike[str] | None = None
) -> MaterializeResult:
    """Join the paper's ids with the release's `dataset.json` rows (on `id`) and copy each
    item's spreadsheet folder to `<out_dir>/spreadsheet/<id>/`."""
    manifest = load_manifest(MANIFEST, manifest_dir)
    raw = require_raw_dir(
        raw_dir, NAME, "the unpacked SpreadsheetBench Verified 400 release", PUBLISHED
    )
    with tempfile.TemporaryDirectory(prefix="skillfit-ssb-raw-") as scratch:
        release = _find_release(raw, Path(scratch))
        dataset_path = release / "dataset.json"
        dataset = read_json(dataset_path)
        if not isinstance(dataset, list):
            raise TaskDataError(f"{dataset_path}: expected a JSON array of items")
        by_id = {str(r.get("id")): r for r in dataset if isinstance(r, dict)}
        missing: list[str] = []
        sources: dict[str, Path] = {}
        splits: dict[SplitName, list[dict[str, Any]]] = {}
        for split, mrows in manifest.splits.items():
            rows = []
            for mrow in mrows:
                item_id = mrow["id"]
                rel = str(mrow.get("spreadsheet_path") or f"spreadsheet/{item_id}")
                raw_row = by_id.get(item_id)
                if raw_row is None:
                    missing.append(f"{dataset_path.name} row with id {item_id}")
                    continue
                src = release / str(raw_row.get("spreadsheet_path") or rel)
                if not discover_cases(src, item_id):
                    missing.append(f"{rel}/1_{item_id}_init.xlsx and 1_{item_id}_golden.xlsx")
                    continue
                sources[item_id] = src
                rows.append(
                    {
                        "id": item_id,
                        "instruction": raw_row.get("instruction"),
                        "answer_position": raw_row.get("answer_position"),
                        "instruction_type": raw_row.get("instruction_type")
                        or mrow.get("instruction_type"),
                        "spreadsheet_path": f"spreadsheet/{item_id}",
                    }
                )
            splits[split] = rows
        if missing:
            raise missing_raw(NAME, release, missing, PUBLISHED)
        for item_id, src in sources.items():
            dest = out_dir / "spreadsheet" / item_id
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest)
    result = write_split_dir(out_dir, splits)
    load_items(out_dir)  # fail now, not at training time, if the release rows are malformed
    return result


__all__ = [
    "INSTRUCTIONS",
    "MissingRawDataError",
    "SpreadsheetBenchTask",
    "compare_workbooks",
    "extract_code",
    "load_items",
    "make_task",
    "materialize",
    "normalize_value",
    "parse_answer_position",
    "preview_workbook",
    "values_match",
]

register_task(
    NAME,
    make_task,
    description="SpreadsheetBench Verified (SkillOpt paper splits): write openpyxl code; cell match",
    n_items=400,
)
register_materializer(NAME, materialize)
