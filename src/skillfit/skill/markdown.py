"""Markdown <-> sections: the one place that knows how a skill document is cut up.

Parsing is also normalization: `render(parse_sections(text))` is the canonical form of
`text`, and the canonical form parses back to the same sections, so it round-trips
exactly. Normalization does this and nothing else:

- a leading byte-order mark is dropped; CRLF and lone CR line endings become LF;
- trailing whitespace is stripped from every line;
- ATX headings (``#`` to ``######`` after at most 3 spaces) are rewritten as
  ``"#" * level + " " + title`` (optional closing ``#``s dropped);
- exactly one blank line separates a heading from the text around it;
- outside fenced code blocks, runs of blank lines become one blank line;
- blank lines at the start and end of the document are dropped, and a non-empty
  document ends with exactly one newline.

Lines inside fenced code blocks (``` or ~~~, CommonMark rules, an unclosed fence runs
to the end of the document) are never headings and keep their blank lines; so are the
lines of a YAML front-matter block (``---`` ... ``---`` at the top, as in SKILL.md files),
which stays in the preamble. Setext
headings (a line underlined with === or ---) are treated as plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREAMBLE_ID = "preamble"

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?=[ \t]|$)(.*)$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_CLOSING_HASHES = re.compile(r"[ \t]+#+$")
# A title that would lose its last word to the closing-sequence rule when re-parsed.
_NEEDS_CLOSING = re.compile(r"(?:^|[ \t])#+$")
_NON_SLUG = re.compile(r"[^\w]+|_+")


@dataclass(frozen=True)
class Section:
    """One section: a heading and the text under it, up to the next heading of any level.

    The text before the first heading is the section ``"preamble"`` (level 0, no title).
    `body` has no leading or trailing blank lines and no final newline."""

    id: str
    title: str
    level: int
    body: str

    @property
    def heading(self) -> str:
        """The canonical heading line ("" for the preamble)."""
        return heading_line(self.level, self.title) if self.level else ""

    @property
    def text(self) -> str:
        """This section as canonical markdown, ending with a newline."""
        if not self.level:
            return self.body + "\n"
        return self.heading + "\n" + ("\n" + self.body + "\n" if self.body else "")


def slugify(title: str) -> str:
    """GitHub-like slug: lower case, runs of anything but letters and digits become "-"."""
    slug = _NON_SLUG.sub("-", title.casefold()).strip("-")
    return slug or "section"


def heading_line(level: int, title: str) -> str:
    hashes = "#" * level
    if not title:
        return hashes
    if _NEEDS_CLOSING.search(title):
        # "# foo #" would re-parse as "foo": add a closing sequence to keep the last "#".
        return f"{hashes} {title} #"
    return f"{hashes} {title}"


def _parse_heading(line: str) -> tuple[int, str] | None:
    m = _HEADING.match(line)
    if m is None:
        return None
    rest = m.group(2).strip()
    title = "" if rest.strip("#") == "" else _CLOSING_HASHES.sub("", rest).strip()
    return len(m.group(1)), title


def _fence_closes(line: str, char: str, length: int) -> bool:
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return False
    run = len(stripped) - len(stripped.lstrip(char))
    return run >= length and stripped[run:].strip() == ""


def _clean_body(lines: list[tuple[str, bool]]) -> str:
    """Join body lines, collapsing blank runs outside fences and trimming blank edges.
    Each line comes with a flag saying whether it lies inside a fenced code block."""
    out: list[str] = []
    for line, fenced in lines:
        if not fenced and line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)


def normalize_newlines(text: str) -> str:
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse_sections(text: str) -> tuple[Section, ...]:
    """Cut markdown into sections (see the module docstring for the normalization)."""
    lines = [line.rstrip() for line in normalize_newlines(text).split("\n")]
    # (level, title, body lines); level 0 is the preamble.
    raw: list[tuple[int, str, list[tuple[str, bool]]]] = [(0, "", [])]
    front = _front_matter_end(lines)
    fence: tuple[str, int] | None = None
    for i, line in enumerate(lines):
        if i < front:
            raw[-1][2].append((line, True))
            continue
        if fence is not None:
            raw[-1][2].append((line, True))
            if _fence_closes(line, *fence):
                fence = None
            continue
        opener = _FENCE_OPEN.match(line)
        if opener and not (opener.group(1)[0] == "`" and "`" in opener.group(2)):
            fence = (opener.group(1)[0], len(opener.group(1)))
            raw[-1][2].append((line, True))
            continue
        heading = _parse_heading(line)
        if heading is not None:
            raw.append((heading[0], heading[1], []))
        else:
            raw[-1][2].append((line, False))

    sections: list[Section] = []
    used: set[str] = set()
    for level, title, body_lines in raw:
        body = _clean_body(body_lines)
        if level == 0:
            if not body:
                continue
            base = PREAMBLE_ID
        else:
            base = slugify(title)
        sid = _unique(base, used)
        used.add(sid)
        sections.append(Section(sid, title, level, body))
    return tuple(sections)


def _front_matter_end(lines: list[str]) -> int:
    """Index just past a YAML front-matter block (``---`` on the first non-blank line up to
    a ``---`` or ``...`` line), or 0 when there is none."""
    first = next((i for i, line in enumerate(lines) if line), None)
    if first is None or lines[first] != "---":
        return 0
    for j in range(first + 1, len(lines)):
        if lines[j] in ("---", "..."):
            return j + 1
    return 0


def _unique(base: str, used: set[str]) -> str:
    if base not in used:
        return base
    n = 2
    while f"{base}-{n}" in used:
        n += 1
    return f"{base}-{n}"


def render(sections: tuple[Section, ...] | list[Section]) -> str:
    """Canonical markdown: sections joined by one blank line."""
    return "\n".join(s.text for s in sections)


def section_offsets(sections: tuple[Section, ...]) -> list[int]:
    """Start offset of each section's text inside `render(sections)`."""
    offsets: list[int] = []
    pos = 0
    for s in sections:
        offsets.append(pos)
        pos += len(s.text) + 1  # the "\n" separator
    return offsets


def starts_with_heading(content: str) -> bool:
    """Whether the first non-blank line of `content` is a heading."""
    for line in normalize_newlines(content).split("\n"):
        if line.strip():
            return _parse_heading(line.rstrip()) is not None
    return False
