"""Agent Skills directories: `<name>/SKILL.md` (YAML frontmatter, then the markdown body) plus
optional reference files, as agents load them from `.claude/skills/` or `.agents/skills/`.

    bundle = load_skill_dir("skills/web-of-lies")        # validated; bundle.body is trained
    bundle.with_body(new_text).save("out/web-of-lies")    # frontmatter and files kept
    skill = read_skill(path)   # a SKILL.md directory, a skills folder holding one, or a file

Frontmatter is checked as the Agent Skills specification requires: `name` 1-64 characters of
lowercase letters, digits and hyphens (not at either end, never two in a row) equal to the
directory's name; `description` a non-empty string of at most 1024 characters; optional
`license`, `compatibility` (at most 500 characters), `metadata` (string keys and values) and
`allowed-tools`; no other field. Training edits only the body.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from skillfit.core.readfile import yaml_problem
from skillfit.skill.document import Skill, SkillFileError, read_skill_text

SKILL_FILE = "SKILL.md"
NAME_MAX = 64
DESCRIPTION_MAX = 1024
COMPATIBILITY_MAX = 500
FIELDS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
MAX_REFERENCE_BYTES = 10 * 1024 * 1024  # all reference files of one skill together

_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_FRONTMATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.S)
# A leading block with a `name:` or `description:` line was meant as frontmatter, even when
# its YAML is broken: it is refused, not sent to the target as body text.
_FIELD_LINE = re.compile(r"^(?:name|description)[ \t]*:", re.M)
# What SkillDir.save leaves beside a skill when killed between its renames.
_SAVE_DEBRIS = re.compile(r"\A\.(?P<name>.+)\.[0-9a-f]{32}\.(?:tmp|old)\Z")


def name_problem(name: object) -> str | None:
    """Why `name` is not a valid skill name, or None when it is."""
    if not isinstance(name, str) or not name:
        return "name must be a non-empty string"
    if len(name) > NAME_MAX:
        return f"name {name!r} is longer than {NAME_MAX} characters"
    if not _NAME.fullmatch(name):
        return (
            f"name {name!r} must use only lowercase letters, digits and hyphens, "
            "not start or end with a hyphen, and have no two hyphens in a row"
        )
    return None


def skill_name(text: str) -> str:
    """A valid skill name made from any text ("bbh/web_of_lies" -> "bbh-web-of-lies")."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:NAME_MAX].strip("-")
    return slug or "skill"


def check_frontmatter(data: Mapping[str, Any], *, where: str, dir_name: str | None) -> None:
    """SkillFileError naming `where` when the frontmatter breaks the specification."""
    problems: list[str] = []
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        problems.append(
            f"unknown field(s) {', '.join(map(str, unknown))} (allowed: {', '.join(FIELDS)})"
        )
    if "name" not in data:
        problems.append("missing field 'name'")
    else:
        problem = name_problem(data["name"])
        if problem:
            problems.append(problem)
        elif dir_name is not None and data["name"] != dir_name:
            problems.append(f"name {data['name']!r} must match the directory's name {dir_name!r}")
    description = data.get("description")
    if "description" not in data:
        problems.append("missing field 'description'")
    elif not isinstance(description, str) or not description.strip():
        problems.append("description must be a non-empty string")
    elif len(description) > DESCRIPTION_MAX:
        problems.append(
            f"description has {len(description)} characters, more than {DESCRIPTION_MAX}"
        )
    compatibility = data.get("compatibility")
    if compatibility is not None and (
        not isinstance(compatibility, str) or len(compatibility) > COMPATIBILITY_MAX
    ):
        problems.append(f"compatibility must be a string of at most {COMPATIBILITY_MAX} chars")
    for key in ("license", "allowed-tools"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key} must be a string")
    metadata = data.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        problems.append("metadata must map strings to strings")
    if problems:
        raise SkillFileError(f"{where}: " + "; ".join(problems))


def split_frontmatter(
    text: str, *, where: str, strict: bool = True
) -> tuple[dict[str, Any] | None, str]:
    """(the YAML frontmatter as a mapping, or None when there is none; the body after it).
    Not `strict` (a plain markdown file), a leading block that is not a mapping naming a
    `name` or `description` is body text (a thematic break, say), not an error."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    match = _FRONTMATTER.match(text)
    if match is None:
        return None, text
    try:
        data = yaml.safe_load(match.group(1) or "")
    except yaml.YAMLError as exc:
        if not strict and not _FIELD_LINE.search(match.group(1) or ""):
            return None, text
        raise SkillFileError(
            f"{where}: the frontmatter is not valid YAML: {yaml_problem(exc, first_line=2)}"
        ) from None
    if not isinstance(data, dict) or not ({"name", "description"} & set(data) or strict):
        if not strict:
            return None, text
        raise SkillFileError(f"{where}: the frontmatter must be a YAML mapping")
    return data, text[match.end() :]


@dataclass(frozen=True)
class SkillDir:
    """One Agent Skills directory: frontmatter fields, the markdown body, reference files
    (path relative to the directory -> bytes)."""

    name: str
    description: str
    body: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)  # license, metadata... as written
    files: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", Skill.parse(self.body).text)
        check_frontmatter(self.frontmatter(), where=f"skill {self.name!r}", dir_name=None)
        for rel in self.files:
            p = Path(rel)
            if p.is_absolute() or ".." in p.parts or rel == SKILL_FILE:
                raise SkillFileError(f"skill {self.name!r}: bad reference file path {rel!r}")

    @property
    def skill(self) -> Skill:
        return Skill.parse(self.body)

    def frontmatter(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, **dict(self.fields)}

    def with_body(self, body: str) -> SkillDir:
        return replace(self, body=body)

    def render(self) -> str:
        """The SKILL.md text: frontmatter, a blank line, the body."""
        head = yaml.safe_dump(
            self.frontmatter(), sort_keys=False, allow_unicode=True, width=100_000
        )
        return f"---\n{head}---\n\n{self.body}"

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the skill to `directory`, whose name must be the skill's name; an existing
        directory there is replaced as a whole (written beside it, then renamed)."""
        target = Path(directory)
        if target.name != self.name:
            raise SkillFileError(
                f"a skill directory must be named after the skill: {target} is not {self.name!r}"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_save_debris(target.parent, self.name)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        try:
            tmp.mkdir()
            (tmp / SKILL_FILE).write_text(self.render(), encoding="utf-8", newline="\n")
            for rel, data in self.files.items():
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
            if target.exists():
                target.rename(old)
            tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not target.exists():
                old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return target


def remove_save_debris(folder: Path, name: str | None = None) -> None:
    """Remove the `.<name>.<hex>.tmp` / `.old` folders that a save killed between its renames
    left in `folder` (of skill `name`, or of any skill)."""
    for p in folder.iterdir():
        m = _SAVE_DEBRIS.match(p.name)
        if m and (name is None or m["name"] == name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def load_skill_dir(directory: str | os.PathLike[str]) -> SkillDir:
    """Read and validate the skill directory `directory` (holding SKILL.md)."""
    root = Path(directory)
    path = root / SKILL_FILE
    if not path.is_file():
        raise SkillFileError(f"{root} holds no {SKILL_FILE}")
    data, body = split_frontmatter(read_skill_text(path), where=str(path))
    if data is None:
        raise SkillFileError(
            f"{path}: missing the YAML frontmatter (---, name: ..., description: ..., ---)"
        )
    check_frontmatter(data, where=str(path), dir_name=root.resolve().name)
    files: dict[str, bytes] = {}
    total = 0
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel == SKILL_FILE or not p.is_file() or any(s.startswith(".") for s in Path(rel).parts):
            continue
        if not p.resolve().is_relative_to(root.resolve()):
            raise SkillFileError(f"{p} points outside the skill directory {root}")
        total += p.stat().st_size
        if total > MAX_REFERENCE_BYTES:
            raise SkillFileError(f"{root}: reference files exceed {MAX_REFERENCE_BYTES} bytes")
        files[rel] = p.read_bytes()
    fields = {k: v for k, v in data.items() if k not in ("name", "description")}
    return SkillDir(data["name"], data["description"], body, fields, files)


def find_skill_dir(path: str | os.PathLike[str]) -> Path | None:
    """The skill directory `path` names: itself when it holds SKILL.md, the directory of a
    SKILL.md file, or the one skill inside a skills folder (`.claude/skills`, a run's
    `best_skill/`). None for a plain markdown file; SkillFileError for an ambiguous folder."""
    p = Path(path)
    if p.is_file():
        return p.parent if p.name == SKILL_FILE else None
    if not p.is_dir():
        if p.exists():
            return None  # a pipe or a device: the reader refuses it, saying which
        raise SkillFileError(f"skill file not found: {p}")
    if (p / SKILL_FILE).is_file():
        return p
    # Hidden folders are no skills: a save killed between its renames leaves `.<name>.*.tmp`.
    inner = sorted(
        d
        for d in p.iterdir()
        if d.is_dir() and not d.name.startswith(".") and (d / SKILL_FILE).is_file()
    )
    if len(inner) == 1:
        return inner[0]
    if inner:
        names = ", ".join(d.name for d in inner)
        raise SkillFileError(f"{p} holds several skills ({names}): name one of them")
    raise SkillFileError(f"{p} is a directory holding no {SKILL_FILE}")


def read_skill_source(path: str | os.PathLike[str]) -> tuple[Skill, SkillDir | None]:
    """(the skill body, its directory when it came from one) from a skill directory, a skills
    folder holding one skill, a SKILL.md, or a plain markdown file. A plain file that opens
    with frontmatter has it checked (except the directory name) and left out of the body."""
    directory = find_skill_dir(path)
    if directory is not None:
        bundle = load_skill_dir(directory)
        return bundle.skill, bundle
    text = read_skill_text(Path(path))
    data, body = split_frontmatter(text, where=str(path), strict=False)
    if data is None:
        return Skill.parse(text), None
    check_frontmatter(data, where=str(path), dir_name=None)
    fields = {k: v for k, v in data.items() if k not in ("name", "description")}
    return Skill.parse(body), SkillDir(data["name"], data["description"], body, fields)


def read_skill(path: str | os.PathLike[str]) -> Skill:
    """The skill body from any skill path (see `read_skill_source`)."""
    return read_skill_source(path)[0]
