"""The skill document: an immutable, parsed markdown text with stable section ids."""

from __future__ import annotations

import difflib
import math
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from skillfit.core.readfile import FileRefused, read_regular_file
from skillfit.skill.edits import Edit, EditOutcome, apply_edits
from skillfit.skill.markdown import Section, parse_sections, render

DEFAULT_MAX_BYTES = 65536


class SkillFileError(Exception):
    """A skill file could not be read: missing, not UTF-8, or over the size limit."""


class Skill:
    """A skill document. Immutable: `apply` returns a new Skill.

    `text` is the canonical markdown (see `skillfit.skill.markdown` for the normalization);
    `Skill.parse(s.text) == s` and `Skill.parse(s.text).text == s.text`. Section ids are
    slugs of the headings ("answer-format"), "preamble" for text before the first heading,
    with "-2", "-3"... for repeats. Ids are a function of the text alone, so a saved and
    reloaded skill has the same ids; edits never rename other sections, except that repeats
    of one heading are numbered in document order: deleting the first "Notes" renames
    "notes-2" to "notes", and a new "## Notes" added *before* an existing one takes "notes"
    (added after it, it gets "notes-2"). Two skills are equal when their texts are equal.

    `n_tokens()` is ceil(len(text) / 4): on the shipped task skills and a 6 KB design doc
    it overestimates the Qwen2.5 tokenizer's count by 1-16% (2% overall)."""

    __slots__ = ("_sections", "_text")

    _sections: tuple[Section, ...]
    _text: str

    def __init__(self, text: str = "") -> None:
        sections = parse_sections(text)
        object.__setattr__(self, "_sections", sections)
        object.__setattr__(self, "_text", render(sections))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Skill is immutable; apply() returns a new Skill")

    # -- construction ------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Skill:
        return cls(text)

    @classmethod
    def empty(cls) -> Skill:
        return cls("")

    @classmethod
    def load(cls, path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> Skill:
        """Read a UTF-8 markdown file of at most `max_bytes` bytes."""
        return cls(read_skill_text(Path(path), max_bytes))

    # -- views -------------------------------------------------------------------------
    @property
    def text(self) -> str:
        return self._text

    @property
    def sections(self) -> tuple[Section, ...]:
        return self._sections

    @property
    def section_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self._sections)

    def section(self, section_id: str) -> Section:
        """The section with this id (KeyError if there is none)."""
        for s in self._sections:
            if s.id == section_id:
                return s
        raise KeyError(section_id)

    def n_tokens(self) -> int:
        """Approximate token count: ceil(characters / 4), the usual rule of thumb for
        English text under BPE tokenizers. Tokenizer-free so it costs nothing."""
        return math.ceil(len(self._text) / 4)

    def outline(self) -> str:
        """One line per section: id, heading and approximate size, for prompts and logs."""
        lines = []
        for s in self._sections:
            label = s.heading or "(text before the first heading)"
            lines.append(f"- {s.id}: {label} (~{math.ceil(len(s.body) / 4)} tokens)")
        return "\n".join(lines)

    # -- change ------------------------------------------------------------------------
    def apply(self, edits: Iterable[Edit]) -> ApplyResult:
        """Apply edits, all addressed against this skill; one outcome per edit, in order."""
        new_text, outcomes = apply_edits(self._sections, list(edits))
        return ApplyResult(skill=Skill(new_text), outcomes=outcomes)

    def diff(self, other: Skill, *, fromfile: str = "before", tofile: str = "after") -> str:
        """Unified diff from this skill to `other` ("" when equal)."""
        return "".join(
            difflib.unified_diff(
                self._text.splitlines(keepends=True),
                other.text.splitlines(keepends=True),
                fromfile=fromfile,
                tofile=tofile,
            )
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the text atomically (temp file in the same directory, then rename)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        # A fresh name opened with "x" (not mkstemp, whose files are private 0600) so the
        # saved skill gets the usual permissions.
        tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp")
        try:
            with tmp.open("x", encoding="utf-8", newline="\n") as f:
                f.write(self._text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return p

    # -- identity ----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Skill):
            return self._text == other._text
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._text)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Skill(sections={list(self.section_ids)!r}, chars={len(self._text)})"

    def __reduce__(self) -> tuple[type[Skill], tuple[str]]:
        return (Skill, (self._text,))


@dataclass(frozen=True)
class ApplyResult:
    """The new skill and one outcome per edit, in the order the edits were given."""

    skill: Skill
    outcomes: list[EditOutcome] = field(default_factory=list)

    @property
    def applied(self) -> list[EditOutcome]:
        return [o for o in self.outcomes if o.applied]

    @property
    def rejected(self) -> list[EditOutcome]:
        return [o for o in self.outcomes if not o.applied]


def read_skill_text(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """A skill file's UTF-8 text: only a regular file of at most `max_bytes` bytes; every
    problem is one SkillFileError naming the path."""
    try:
        data = read_regular_file(path, max_bytes, "a skill file")
    except FileNotFoundError:
        raise SkillFileError(f"skill file not found: {path}") from None
    except IsADirectoryError:
        raise SkillFileError(f"skill file {path} is a directory") from None
    except FileRefused as exc:
        if exc.too_large:
            raise SkillFileError(
                f"skill file {path} is larger than the limit of {max_bytes} bytes"
            ) from None
        raise SkillFileError(f"skill file {exc}") from None
    except OSError as exc:
        raise SkillFileError(f"cannot read skill file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SkillFileError(
            f"skill file {path} is not valid UTF-8 (bad byte at offset {exc.start})"
        ) from None
