"""Agent Skills directories: SKILL.md frontmatter validated as the specification requires,
reference files kept, and every skill path form read to the same body."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillfit.skill import (
    Skill,
    SkillDir,
    SkillFileError,
    find_skill_dir,
    load_skill_dir,
    name_problem,
    read_skill,
    read_skill_source,
    skill_name,
)

BODY = "# Method\n\nCount the liars from the first line.\n"


def make(root: Path, name: str, front: str, body: str = BODY) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\n{front}---\n\n{body}", encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", ["a", "web-of-lies", "x9", "a" * 64, "bbh-2-step"])
def test_valid_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "Web", "-a", "a-", "a--b", "a_b", "a b", "a" * 65, "é", 3, None]
)
def test_invalid_names(name: object) -> None:
    assert name_problem(name) is not None


def test_skill_name_from_any_text() -> None:
    assert skill_name("bbh/web_of_lies") == "bbh-web-of-lies"
    assert skill_name("reasoning_gym/Basic  Arithmetic") == "reasoning-gym-basic-arithmetic"
    assert skill_name("///") == "skill"
    assert name_problem(skill_name("x" * 100 + "/y")) is None


def test_load_directory_with_references(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        "web-of-lies",
        "name: web-of-lies\ndescription: Solve web-of-lies puzzles.\nlicense: MIT\n"
        "metadata: {author: me}\n",
    )
    (folder / "references").mkdir()
    (folder / "references" / "notes.md").write_text("more")
    (folder / ".hidden").write_text("skip me")
    bundle = load_skill_dir(folder)
    assert bundle.name == "web-of-lies" and bundle.description == "Solve web-of-lies puzzles."
    assert bundle.body == BODY and bundle.skill == Skill.parse(BODY)
    assert bundle.fields == {"license": "MIT", "metadata": {"author": "me"}}
    assert bundle.files == {"references/notes.md": b"more"}


@pytest.mark.parametrize(
    ("front", "problem"),
    [
        ("description: d\n", "missing field 'name'"),
        ("name: other\ndescription: d\n", "must match the directory's name 'tool'"),
        ("name: Tool\ndescription: d\n", "lowercase"),
        ("name: tool\n", "missing field 'description'"),
        ("name: tool\ndescription: '   '\n", "non-empty"),
        ("name: tool\ndescription: " + "d" * 1025 + "\n", "more than 1024"),
        ("name: tool\ndescription: d\nversion: 2\n", "unknown field(s) version"),
        ("name: tool\ndescription: d\ncompatibility: " + "c" * 501 + "\n", "compatibility"),
        ("name: tool\ndescription: d\nmetadata: {a: 1}\n", "metadata"),
        ("name: [tool\n", "not valid YAML"),
    ],
)
def test_frontmatter_errors_name_the_file(tmp_path: Path, front: str, problem: str) -> None:
    folder = make(tmp_path, "tool", front)
    with pytest.raises(SkillFileError) as err:
        load_skill_dir(folder)
    assert problem in str(err.value) and "SKILL.md" in str(err.value)


def test_missing_frontmatter_and_missing_file(tmp_path: Path) -> None:
    folder = tmp_path / "tool"
    folder.mkdir()
    with pytest.raises(SkillFileError, match="holds no SKILL.md"):
        load_skill_dir(folder)
    (folder / "SKILL.md").write_text(BODY)
    with pytest.raises(SkillFileError, match="missing the YAML frontmatter"):
        load_skill_dir(folder)


def test_save_round_trips_and_replaces(tmp_path: Path) -> None:
    bundle = SkillDir(
        "web-of-lies",
        "Solve it: carefully.",
        BODY,
        {"license": "MIT"},
        {"references/a.md": b"A"},
    )
    out = bundle.save(tmp_path / "skills" / "web-of-lies")
    text = (out / "SKILL.md").read_text()
    assert text.startswith("---\nname: web-of-lies\ndescription: 'Solve it: carefully.'\n")
    assert text.endswith("---\n\n" + BODY)
    assert load_skill_dir(out) == bundle
    bundle.with_body("# New\n\nBody.\n").save(out)
    assert load_skill_dir(out).body == "# New\n\nBody.\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["web-of-lies"]  # no temp left
    with pytest.raises(SkillFileError, match="named after the skill"):
        bundle.save(tmp_path / "elsewhere")
    with pytest.raises(SkillFileError, match="lowercase"):
        SkillDir("Bad", "d", BODY)
    with pytest.raises(SkillFileError, match="bad reference file path"):
        SkillDir("ok", "d", BODY, files={"../x": b""})


def test_every_path_form_reads_the_same_body(tmp_path: Path) -> None:
    folder = make(tmp_path / "skills", "web-of-lies", "name: web-of-lies\ndescription: d\n")
    plain = tmp_path / "plain.md"
    plain.write_text(BODY)
    front = tmp_path / "front.md"
    front.write_text("---\nname: web-of-lies\ndescription: d\n---\n" + BODY)
    for path in (folder, folder / "SKILL.md", tmp_path / "skills", plain, front):
        assert read_skill(path).text == BODY, path
    assert find_skill_dir(plain) is None and find_skill_dir(tmp_path / "skills") == folder
    skill, bundle = read_skill_source(front)
    assert bundle is not None and bundle.name == "web-of-lies" and skill.text == BODY


def test_plain_markdown_opening_with_a_rule_is_all_body(tmp_path: Path) -> None:
    path = tmp_path / "rule.md"
    path.write_text("---\n\n# Title\n\n---\n\nText.\n")
    skill, bundle = read_skill_source(path)
    assert bundle is None and "# Title" in skill.text


def test_folders_that_name_no_single_skill(tmp_path: Path) -> None:
    make(tmp_path / "two", "a", "name: a\ndescription: d\n")
    make(tmp_path / "two", "b", "name: b\ndescription: d\n")
    with pytest.raises(SkillFileError, match=r"several skills \(a, b\)"):
        read_skill(tmp_path / "two")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkillFileError, match="holding no SKILL.md"):
        read_skill(tmp_path / "empty")
    with pytest.raises(SkillFileError, match="not found"):
        read_skill(tmp_path / "nope")
