"""OfficeQA (Databricks) as used in the SkillOpt paper: answer a question about U.S. Treasury
Bulletin documents by searching and reading them with tools. Scored by normalized exact match
(hard) and token F1 (soft).

The target runs under the agent harness (skillfit's own tool loop) over the item's document
folder with three tools: list_files, read_file (line offset/limit) and grep. The tools cannot
reach outside that folder; the chat harness, which has no tools, refuses the task.

Split directory items: `{"id", "question", "ground_truth", "source_files": [file names]}`;
optional `source_docs` (page URLs, shown as hints), `category`, and `docs_dir` (the item's
document folder, relative to the split directory; default `docs/<id>`, or the task option
`docs_dir` for one shared corpus folder).
Raw release: https://huggingface.co/datasets/databricks/officeqa (gated: `officeqa_full.csv`
plus the parsed bulletins `treasury_bulletins_parsed/**/treasury_bulletin_<year>_<month>.txt`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import string
from pathlib import Path
from typing import Any

from skillfit.tasks.base import Environment, Item, Score, SplitName, TaskDataError, Tool, ToolError
from skillfit.tasks.common import SingleTurnTask, check_count, check_positive, check_seed
from skillfit.tasks.paper.common import (
    MaterializeResult,
    f1_feedback,
    find_raw_files,
    iter_rows,
    load_manifest,
    load_split_dir,
    missing_items,
    missing_raw,
    paper_splits,
    register_materializer,
    require_raw_dir,
    require_split_dir,
    write_split_dir,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.scoring import f1_overlap

NAME = "officeqa"
MANIFEST = "officeqa_id_split"
PUBLISHED = (
    "https://huggingface.co/datasets/databricks/officeqa (gated; officeqa_full.csv and "
    "treasury_bulletins_parsed/)"
)

INSTRUCTIONS = (
    "You answer questions about U.S. Treasury Bulletin documents. The documents are text files "
    "in your document folder; use the tools to find and read the evidence before answering. "
    "Give the final answer as a short value (a number with the unit or precision the question "
    "asks for, or a short phrase), not a sentence."
)

INITIAL_SKILL = """# OfficeQA

## Finding the evidence
- Start with grep for a distinctive word of the question (a table title, a year, an account name).
- Read a few lines around each match before trusting a number.

## Answer format
- Answer with the value only, in the unit the question asks for.
"""

# ----------------------------------------------------------------------------- folder tools

MAX_READ_LINES = 200
MAX_READ_CHARS = 6000
MAX_GREP_MATCHES = 30
MAX_LINE_CHARS = 300


def _inside(root: Path, rel: str) -> Path:
    """The file `rel` names inside `root`; ToolError for anything that escapes it (absolute
    paths, `..`, symlinks pointing outside) or is not a file."""
    if not isinstance(rel, str) or not rel.strip():
        raise ToolError("path must be a non-empty file name from list_files")
    target = (root / rel.strip()).resolve()
    if not target.is_relative_to(root):
        raise ToolError(f"{rel!r} is outside the document folder")
    if not target.is_file():
        raise ToolError(f"no file {rel!r}; call list_files to see the files")
    return target


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.resolve().is_relative_to(root))


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _int_arg(args: dict[str, Any], name: str, default: int) -> int:
    value = args.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"{name} must be an integer")
    return int(value)


def folder_tools(folder: str | os.PathLike[str]) -> list[Tool]:
    """list_files / read_file / grep over the text files of one folder, confined to it."""
    root = Path(folder).resolve()

    def list_files(args: dict[str, Any]) -> str:
        rows = []
        for p in _files(root):
            lines = _read_lines(p)
            rows.append(f"{p.relative_to(root).as_posix()} ({len(lines)} lines)")
        return "\n".join(rows) or "(the folder is empty)"

    def read_file(args: dict[str, Any]) -> str:
        path = _inside(root, args.get("path", ""))
        lines = _read_lines(path)
        offset = max(1, _int_arg(args, "offset", 1))
        limit = min(MAX_READ_LINES, max(1, _int_arg(args, "limit", 50)))
        if offset > len(lines):
            raise ToolError(f"offset {offset} is past the end ({len(lines)} lines)")
        out, size = [], 0
        for number in range(offset, min(len(lines), offset + limit - 1) + 1):
            line = f"{number}| {lines[number - 1][:MAX_LINE_CHARS]}"
            if size + len(line) > MAX_READ_CHARS:
                out.append(f"[... stopped at {MAX_READ_CHARS} characters; read on from {number}]")
                break
            out.append(line)
            size += len(line) + 1
        return "\n".join(out)

    def grep(args: dict[str, Any]) -> str:
        pattern = args.get("pattern", "")
        if not isinstance(pattern, str) or not pattern.strip():
            raise ToolError("pattern must be a non-empty string")
        rel = args.get("path") or ""
        if not isinstance(rel, str):
            raise ToolError('path must be a file name, or "" for every document')
        paths = [_inside(root, rel)] if rel.strip() else _files(root)
        needle = pattern.strip().casefold()
        hits: list[str] = []
        for p in paths:
            for number, line in enumerate(_read_lines(p), 1):
                if needle in line.casefold():
                    hits.append(
                        f"{p.relative_to(root).as_posix()}:{number}: {line.strip()[:MAX_LINE_CHARS]}"
                    )
                    if len(hits) >= MAX_GREP_MATCHES:
                        return "\n".join([*hits, f"[more matches; first {MAX_GREP_MATCHES} shown]"])
        return "\n".join(hits) or f"no line contains {pattern!r}"

    return [
        Tool("list_files", "list the document files and their lengths", {}, list_files),
        Tool(
            "read_file",
            "read lines of a document, numbered; offset is the first line (1-based), limit how "
            f"many lines (at most {MAX_READ_LINES})",
            {
                "properties": {
                    "path": {"type": "string"},
                    "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                },
                "required": ["path", "offset", "limit"],
            },
            read_file,
        ),
        Tool(
            "grep",
            'find the lines containing a text (case-insensitive, literal); path "" searches '
            "every document",
            {
                "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}},
                "required": ["pattern", "path"],
            },
            grep,
        ),
    ]


# ----------------------------------------------------------------------------- scoring

_UNIT_WORDS = re.compile(r"\b(million|millions|billion|billions|dollars|dollar|nominal)\b")
_KEEP = set("0123456789.-%")


def normalize_answer(text: str) -> str:
    """The reference implementation's OfficeQA normalization: lower case, no thousands commas,
    punctuation dropped except in numbers, unit words (million, dollars...) dropped."""
    text = text.lower().strip().replace(",", "")
    text = "".join(ch for ch in text if ch not in string.punctuation or ch in _KEEP)
    text = _UNIT_WORDS.sub(" ", text)
    return " ".join(text.split())


def _number(norm: str) -> float | None:
    try:
        return float(norm.rstrip("%").strip())
    except ValueError:
        return None


def score_answer(prediction: str, gold: str) -> tuple[int, float]:
    """(exact match, F1) after normalization; equal numbers ("1234.0" vs "1,234") match."""
    pred, want = normalize_answer(prediction), normalize_answer(gold)
    em = pred == want
    if not em:
        a, b = _number(pred), _number(want)
        em = a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(b))
    f1 = 1.0 if em else f1_overlap(pred.split(), want.split())
    return int(em), f1


def score_reply(item: Item, reply: str) -> tuple[str, Score]:
    answer = reply.strip()
    em, f1 = score_answer(answer, str(item.target))
    parts = f1_feedback(em, f1, f"Expected: {str(item.target)!r}.", answer)
    return answer, Score(hard=em, soft=f1, feedback=" ".join(parts))


# ----------------------------------------------------------------------------- task


class OfficeQATask(SingleTurnTask):
    """OfficeQA: the agent harness with folder tools over the item's document folder."""

    default_harness = "agent"

    def __init__(
        self, *, max_steps: int = 8, max_context_chars: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_steps = max_steps
        self.max_context_chars = max_context_chars

    def environment(self, item: Item) -> Environment:
        folder = Path(item.meta["docs_dir"]).resolve()
        return Environment(
            item_id=item.id,
            prompt=item.input,
            instructions=self.instructions,
            task=self.name,
            tools=tuple(folder_tools(folder)),
            files={p.relative_to(folder).as_posix(): str(p) for p in _files(folder)},
            needs_tools=True,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            max_steps=self.max_steps,
            max_context_chars=self.max_context_chars,
        )


def _as_list(value: Any) -> list[str]:
    """A list field that raw files give as a list, a JSON list, or newline-separated text."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            loaded = None
        if isinstance(loaded, list):
            return [str(v).strip() for v in loaded if str(v).strip()]
    return [part.strip() for part in text.splitlines() if part.strip()]


def load_items(
    split_dir: str | os.PathLike[str], docs_dir: str | os.PathLike[str] | None = None
) -> dict[SplitName, list[Item]]:
    root = Path(split_dir)
    rows = load_split_dir(
        root,
        task=NAME,
        required={"question": str, "ground_truth": (str, int, float), "source_files": (list, str)},
        optional={"source_docs": (list, str), "category": str, "docs_dir": str},
    )
    out: dict[SplitName, list[Item]] = {}
    for split, split_rows in rows.items():
        items = []
        for row in split_rows:
            where = f"{root / split / 'items.json'} (id {row['id']!r})"
            if row.get("docs_dir"):
                folder = Path(row["docs_dir"])
                folder = folder if folder.is_absolute() else root / folder
            elif docs_dir is not None:
                folder = Path(docs_dir).expanduser()
            else:
                folder = root / "docs" / row["id"]
            if not folder.is_dir():
                raise TaskDataError(f"{where}: document folder {folder} not found")
            files = _as_list(row["source_files"])
            hints = _as_list(row.get("source_docs"))
            lines = [f"Question: {row['question']}", "", "Source files (in your document folder):"]
            lines += [f"- {f}" for f in files] or ["- (none given)"]
            if hints:
                lines += ["", "Source pages:"] + [f"- {h}" for h in hints]
            items.append(
                Item(
                    id=row["id"],
                    input="\n".join(lines),
                    target=str(row["ground_truth"]),
                    meta={
                        "docs_dir": str(folder.resolve()),
                        "source_files": files,
                        "category": row.get("category", ""),
                    },
                )
            )
        out[split] = items
    return out


def make_task(
    *,
    split_dir: str | None = None,
    docs_dir: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_steps: int = 8,
    max_tokens: int = 384,
    max_context_chars: int | None = 12_000,
) -> OfficeQATask:
    """OfficeQA on the paper's splits; `docs_dir` names one corpus folder for every item whose
    split-directory row has no `docs_dir` of its own. `max_context_chars` keeps the agent's
    conversation under that size by eliding old tool results (the default fits the embedded
    model's 4,096-token window; None keeps everything)."""
    root = require_split_dir(NAME, split_dir)
    splits, options = paper_splits(
        NAME,
        root,
        load_items(root, docs_dir),
        n_train,
        n_val,
        n_test,
        docs_dir=docs_dir,
        max_steps=max_steps,
        max_context_chars=max_context_chars,
    )
    return OfficeQATask(
        name=NAME,
        splits=splits,
        score=score_reply,
        instructions=INSTRUCTIONS,
        initial_skill=INITIAL_SKILL,
        options=options,
        seed=check_seed(NAME, seed),
        max_tokens=check_positive(NAME, "max_tokens", max_tokens),
        max_steps=check_positive(NAME, "max_steps", max_steps),
        max_context_chars=check_count(NAME, "max_context_chars", max_context_chars),
    )


# ----------------------------------------------------------------------------- materializer


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link when possible (the bulletins are large and shared by many items)."""
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def materialize(
    raw_dir: Path, out_dir: Path, manifest_dir: str | os.PathLike[str] | None = None
) -> MaterializeResult:
    """Join the paper's OfficeQA uids with officeqa_full.csv; each item's source documents are
    linked into `<out>/docs/<id>/`, its tools' whole world."""
    manifest = load_manifest(MANIFEST, manifest_dir)
    raw = require_raw_dir(
        raw_dir, NAME, "officeqa_full.csv and treasury_bulletins_parsed/", PUBLISHED
    )
    csvs = find_raw_files(raw, ["officeqa_full.csv"]) or find_raw_files(raw, ["officeqa*.csv"])
    if not csvs:
        raise missing_raw(NAME, raw, ["officeqa_full.csv"], PUBLISHED)
    wanted = {row["id"]: row for rows in manifest.splits.values() for row in rows}
    found: dict[str, dict[str, Any]] = {}
    for row in iter_rows(csvs[0]):
        uid = str(row.get("uid") or row.get("id") or "").strip()
        if uid in wanted and uid not in found:
            found[uid] = row
    missing_rows = [u for u in wanted if u not in found]
    if missing_rows:
        named = [f"uid {u}" for u in missing_rows]
        raise missing_items(NAME, raw, named, len(wanted), csvs[:1], PUBLISHED)
    # Index the parsed documents by file name; prefer the `transformed` text where both exist.
    docs: dict[str, Path] = {}
    for path in find_raw_files(raw, ["*.txt", "*.md"]):
        if path.name not in docs or "transformed" in path.parts:
            docs[path.name] = path
    needed: dict[str, list[str]] = {
        uid: _as_list(found[uid].get("source_files")) or _as_list(wanted[uid].get("source_files"))
        for uid in wanted
    }
    missing_docs = sorted({f for files in needed.values() for f in files if f not in docs})
    if missing_docs:
        raise missing_raw(
            NAME, raw, [f"treasury_bulletins_parsed/**/{f}" for f in missing_docs], PUBLISHED
        )
    rows_out: dict[str, dict[str, Any]] = {}
    for uid, row in found.items():
        folder = out_dir / "docs" / uid
        folder.mkdir(parents=True, exist_ok=True)
        for name in needed[uid]:
            _link_or_copy(docs[name], folder / name)
        ground_truth = str(row.get("ground_truth") or row.get("answer") or "").strip()
        rows_out[uid] = {
            "id": uid,
            "uid": uid,
            "question": str(row.get("question", "")).strip(),
            "ground_truth": ground_truth,
            "answers": [ground_truth] if ground_truth else [],
            "category": str(
                row.get("category") or row.get("difficulty") or wanted[uid].get("category") or ""
            ),
            "source_files": needed[uid],
            "source_docs": _as_list(row.get("source_docs"))
            or _as_list(wanted[uid].get("source_docs")),
            "docs_dir": f"docs/{uid}",
        }
    return write_split_dir(out_dir, manifest.select(rows_out))


register_task(
    NAME,
    make_task,
    description="OfficeQA (SkillOpt paper splits): tool agent over Treasury Bulletins; EM / F1",
)
register_materializer(NAME, materialize)
