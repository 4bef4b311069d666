"""Edits to a skill document and how a batch of them lands on the text.

Every edit of one `apply` call is resolved against the *original* document (section ids
and anchors refer to the skill the optimizer saw), turned into a text operation on the
canonical text, checked against the edits accepted before it, and only then applied.
Nothing is ever silently turned into something else: an edit either does what it says
or is rejected with a reason.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from skillfit.skill.markdown import (
    PREAMBLE_ID,
    Section,
    parse_sections,
    render,
    section_offsets,
    slugify,
    starts_with_heading,
)

Op = Literal["add", "delete", "replace"]

# Words small optimizers use for the three operations.
_OP_SYNONYMS = {
    "insert": "add",
    "append": "add",
    "remove": "delete",
    "drop": "delete",
    "edit": "replace",
    "update": "replace",
    "modify": "replace",
    "rewrite": "replace",
}


class Edit(BaseModel):
    """One proposed change.

    - ``add``: `content` (which may start with a "## Heading") goes after section `section`
      (after its body, before the next heading of any level), or on the line after the one
      where `anchor` ends, or at the end of the document when neither is given.
    - ``delete``: removes section `section` (its heading and body, not the sections after it),
      or the `anchor` text.
    - ``replace``: replaces the body of section `section` (the heading is kept unless
      `content` starts with a heading), or the `anchor` text, with `content`.

    An anchor must occur exactly once (exact match first, then a match that ignores
    differences in whitespace). Given both, the anchor is searched inside the section only.
    Empty strings for `section` / `anchor` mean "not given"."""

    model_config = ConfigDict(frozen=True)

    op: Op
    section: str | None = None
    anchor: str | None = None
    content: str = ""
    rationale: str = ""

    @field_validator("op", mode="before")
    @classmethod
    def _normalize_op(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return _OP_SYNONYMS.get(value, value)
        return value

    @field_validator("section", mode="before")
    @classmethod
    def _normalize_section(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("anchor", mode="before")
    @classmethod
    def _normalize_anchor(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def describe(self, width: int = 60) -> str:
        """One-line human summary, e.g. ``replace section 'rules': "Answer with ..."``."""
        if self.section and self.anchor:
            where = f"anchor {_preview(self.anchor, 30)} in section '{self.section}'"
        elif self.section:
            where = f"section '{self.section}'"
        elif self.anchor:
            where = f"anchor {_preview(self.anchor, 30)}"
        else:
            where = ""
        if self.op == "add":
            head = f"add after {where}" if where else "add at end"
        else:
            head = f"{self.op} {where}".rstrip()
        return head if self.op == "delete" else f"{head}: {_preview(self.content, width)}"


def _preview(text: str, width: int) -> str:
    flat = " ".join(text.split())
    if len(flat) > width:
        flat = flat[: width - 1] + "…"
    return f'"{flat}"'


class EditOutcome(BaseModel):
    """What became of one edit. `reason` says why it was rejected, or where it landed."""

    model_config = ConfigDict(frozen=True)

    edit: Edit
    applied: bool
    reason: str = ""


@dataclass(frozen=True)
class _TextOp:
    """Replace original[start:end] with `new` (start == end is an insertion)."""

    start: int
    end: int
    new: str
    section: str | None  # set when the edit addresses a whole section (conflict by id)
    where: str
    anchor: tuple[int, int] | None = None  # the text an anchored edit relies on
    # Among insertions at one point, the finer attachment sits closer to the text before
    # it: after an anchor's line (0), then after a section (1), then at the end (2).
    rank: int = 1


class _Rejected(Exception):
    pass


class _Document:
    """The original skill, as canonical text plus where each section sits in it."""

    def __init__(self, sections: tuple[Section, ...]) -> None:
        self.sections = sections
        self.text = render(sections)
        self.by_id = {s.id: s for s in sections}
        self.span = {
            s.id: (start, start + len(s.text))
            for s, start in zip(sections, section_offsets(sections), strict=True)
        }

    def find_section(self, sid: str) -> Section | None:
        if sid in self.by_id:
            return self.by_id[sid]
        # Accept a title or a "#"-prefixed id for a section id: small models write both.
        slug = slugify(sid)
        if slug in self.by_id:
            return self.by_id[slug]
        return None

    def unknown_section(self, sid: str) -> str:
        ids = list(self.by_id)
        if not ids:
            return f"unknown section '{sid}': the skill has no sections"
        near = difflib.get_close_matches(sid, ids, n=3, cutoff=0.4)
        if not near:
            near = difflib.get_close_matches(slugify(sid), ids, n=3, cutoff=0.4)
        if near:
            return f"unknown section '{sid}'; nearest ids: " + ", ".join(f"'{i}'" for i in near)
        return f"unknown section '{sid}'; ids are: " + ", ".join(f"'{i}'" for i in ids[:12])

    def find_anchor(self, anchor: str, lo: int, hi: int, scope: str) -> tuple[int, int]:
        """The one (start, end) where `anchor` occurs in text[lo:hi]."""
        hits = _occurrences(self.text, anchor, lo, hi)
        if not hits:
            raise _Rejected(f"anchor {_preview(anchor, 40)} not found in {scope}")
        if len(hits) > 1:
            raise _Rejected(
                f"anchor {_preview(anchor, 40)} is ambiguous: it matches {len(hits)} times "
                f"in {scope}; quote more surrounding text so it matches exactly once"
            )
        return hits[0]


def _occurrences(text: str, anchor: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """Every (possibly overlapping) match of `anchor` in text[lo:hi]: exact matches, or if
    there are none, matches that treat any run of whitespace as equal to any other."""
    hits: list[tuple[int, int]] = []
    i = text.find(anchor, lo, hi)
    while i != -1:
        hits.append((i, i + len(anchor)))
        i = text.find(anchor, i + 1, hi)
    if hits:
        return hits
    words = anchor.split()
    if not words:
        return []
    pattern = re.compile(r"(?=(" + r"\s+".join(re.escape(w) for w in words) + "))")
    return [(m.start(), m.start() + len(m.group(1))) for m in pattern.finditer(text, lo, hi)]


def _resolve(doc: _Document, edit: Edit) -> _TextOp:
    """Turn an edit into a text operation on the original text, or raise _Rejected."""
    content = edit.content
    if edit.op in ("add", "replace") and not content.strip():
        hint = " (use delete to remove text)" if edit.op == "replace" else ""
        raise _Rejected(f"{edit.op} needs non-empty content{hint}")
    text = doc.text

    section: Section | None = None
    if edit.section is not None:
        section = doc.find_section(edit.section)
        if section is None and slugify(edit.section) == PREAMBLE_ID and not edit.anchor:
            return _resolve_missing_preamble(edit)
        if section is None:
            raise _Rejected(doc.unknown_section(edit.section))

    if edit.anchor is not None:
        if section is not None:
            lo, hi = doc.span[section.id]
            scope = f"section '{section.id}'"
        else:
            lo, hi, scope = 0, len(text), "the skill"
        start, end = doc.find_anchor(edit.anchor, lo, hi, scope)
        where = f"at anchor in {scope}"
        if edit.op == "delete":
            return _TextOp(start, end, "", None, where, (start, end))
        if edit.op == "replace":
            anchor = text[start:end]
            # The content's surrounding newlines follow the anchor's: a one-line anchor
            # replaced by "text\n" must not split the line it sits in.
            if not anchor.endswith("\n"):
                content = content.rstrip("\n")
            if not anchor.startswith("\n"):
                content = content.lstrip("\n")
            return _TextOp(start, end, content, None, where, (start, end))
        # add: on its own line(s) right after the line where the anchor ends
        nl = text.find("\n", max(end - 1, start))
        pos = len(text) if nl == -1 else nl + 1
        new = content.strip("\n") + "\n"
        return _TextOp(pos, pos, new, None, f"after anchor in {scope}", (start, end), rank=0)

    if section is not None:
        start, end = doc.span[section.id]
        sid = section.id
        if edit.op == "delete":
            # Take the blank separator line with it.
            stop = end + 1 if end < len(text) else end
            return _TextOp(start, stop, "", sid, f"deleted section '{sid}'")
        if edit.op == "replace":
            if section.level == 0 or starts_with_heading(content):
                return _TextOp(start, end, content.strip("\n") + "\n", sid, f"section '{sid}'")
            body_start = start + len(section.heading) + 1
            return _TextOp(
                body_start, end, "\n" + content.strip("\n") + "\n", sid, f"body of '{sid}'"
            )
        return _TextOp(end, end, "\n" + content.strip("\n") + "\n", sid, f"after section '{sid}'")

    # Neither section nor anchor.
    if edit.op != "add":
        raise _Rejected(f"{edit.op} needs a section id or an anchor")
    sep = "\n" if text else ""
    return _TextOp(len(text), len(text), sep + content.strip("\n") + "\n", None, "at end", rank=2)


def _resolve_missing_preamble(edit: Edit) -> _TextOp:
    """'preamble' is addressable even when empty: add/replace then write at the very top."""
    if edit.op == "delete":
        raise _Rejected("section 'preamble' is empty; nothing to delete")
    return _TextOp(0, 0, edit.content.strip("\n") + "\n\n", PREAMBLE_ID, "at start")


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two spans share text; an empty span (an insertion point) overlaps a span
    only when it falls strictly inside it, and two insertion points never overlap."""
    if a[0] == a[1] and b[0] == b[1]:
        return False  # two insertions at one point keep their order
    if a[0] == a[1]:
        return b[0] < a[0] < b[1]
    if b[0] == b[1]:
        return a[0] < b[0] < a[1]
    return a[0] < b[1] and b[0] < a[1]


def _conflict(a: _TextOp, b: _TextOp) -> str | None:
    if a.section is not None and a.section == b.section:
        return f"both edit section '{a.section}'"
    spans_a = [(a.start, a.end)] + ([a.anchor] if a.anchor else [])
    spans_b = [(b.start, b.end)] + ([b.anchor] if b.anchor else [])
    if any(_overlap(x, y) for x in spans_a for y in spans_b):
        return "overlapping text"
    return None


def _splice(text: str, ops: list[tuple[int, _TextOp]]) -> str:
    # Right to left so earlier offsets stay valid; at one point, lower rank then the
    # earlier edit ends up first.
    ordered = sorted(ops, key=lambda p: (p[1].start, p[1].end, p[1].rank, p[0]), reverse=True)
    for _, op in ordered:
        text = text[: op.start] + op.new + text[op.end :]
    return text


def apply_edits(sections: tuple[Section, ...], edits: list[Edit]) -> tuple[str, list[EditOutcome]]:
    """Apply `edits` to the document made of `sections`; return the new (raw, not yet
    normalized) text and one outcome per edit, in order."""
    doc = _Document(sections)
    accepted: list[tuple[int, _TextOp]] = []
    outcomes: list[EditOutcome] = []
    for i, edit in enumerate(edits):
        try:
            op = _resolve(doc, edit)
            for j, prev in accepted:
                what = _conflict(op, prev)
                if what:
                    raise _Rejected(f"conflict with edit #{j + 1} ({what})")
            alone = render(parse_sections(_splice(doc.text, [(i, op)])))
            if alone == doc.text:
                raise _Rejected("edit changes nothing")
        except _Rejected as rejected:
            outcomes.append(EditOutcome(edit=edit, applied=False, reason=str(rejected)))
            continue
        accepted.append((i, op))
        outcomes.append(EditOutcome(edit=edit, applied=True, reason=op.where))
    return _splice(doc.text, accepted), outcomes
