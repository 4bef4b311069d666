"""Loading, saving and diffing skill files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skillfit.skill import DEFAULT_MAX_BYTES, Edit, Skill, SkillFileError

DOC = "# Rules\n\nAnswer with True or False.\n\n## Examples\n\n- not True -> False\n"


def test_load_reads_and_normalizes(tmp_path: Path) -> None:
    path = tmp_path / "SKILL.md"
    path.write_bytes(b"\xef\xbb\xbf# Rules\r\n\r\nAnswer with True or False.  \r\n")
    skill = Skill.load(path)
    assert skill.text == "# Rules\n\nAnswer with True or False.\n"
    assert Skill.load(str(path)) == skill


def test_load_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.md"
    with pytest.raises(SkillFileError, match="not found") as err:
        Skill.load(path)
    assert str(path) in str(err.value)


def test_load_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SkillFileError, match="directory"):
        Skill.load(tmp_path)


def test_load_rejects_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("# Règles\n".encode("latin-1"))
    with pytest.raises(SkillFileError, match="not valid UTF-8") as err:
        Skill.load(path)
    assert str(path) in str(err.value)


def test_load_rejects_files_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text("x" * 101, encoding="utf-8")
    with pytest.raises(SkillFileError) as err:
        Skill.load(path, max_bytes=100)
    assert str(path) in str(err.value) and "100 bytes" in str(err.value)
    assert Skill.load(path, max_bytes=101).text == "x" * 101 + "\n"


def test_default_limit_is_64_kib(tmp_path: Path) -> None:
    assert DEFAULT_MAX_BYTES == 65536
    path = tmp_path / "big.md"
    path.write_text("x" * 65537, encoding="utf-8")
    with pytest.raises(SkillFileError, match="65536"):
        Skill.load(path)


def test_save_then_load_round_trips_with_same_ids(tmp_path: Path) -> None:
    skill = Skill.parse(DOC).apply([Edit(op="add", content="## Examples\n\nmore")]).skill
    path = skill.save(tmp_path / "deep" / "dir" / "skill.md")
    assert path.read_bytes() == skill.text.encode("utf-8")
    loaded = Skill.load(path)
    assert loaded == skill
    assert loaded.section_ids == skill.section_ids == ("rules", "examples", "examples-2")


def test_save_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "skill.md"
    path.write_text("old\n", encoding="utf-8")
    Skill.parse(DOC).save(path)
    assert path.read_text(encoding="utf-8") == DOC
    assert os.listdir(tmp_path) == ["skill.md"]


def test_saved_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = Skill.parse(DOC).save(tmp_path / "skill.md")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_save_keeps_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "skill.md"
    path.write_text("old\n", encoding="utf-8")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        Skill.parse(DOC).save(path)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["skill.md"]


def test_diff_is_unified_and_empty_when_equal() -> None:
    before = Skill.parse(DOC)
    after = before.apply(
        [Edit(op="replace", anchor="True or False", content="exactly True or False")]
    ).skill
    diff = before.diff(after)
    assert diff.startswith("--- before\n+++ after\n@@ ")
    assert "-Answer with True or False.\n" in diff
    assert "+Answer with exactly True or False.\n" in diff
    assert before.diff(before) == ""
    named = before.diff(after, fromfile="v1.md", tofile="v2.md")
    assert named.startswith("--- v1.md\n+++ v2.md\n")


def test_diff_from_empty_skill() -> None:
    diff = Skill.empty().diff(Skill.parse("Be brief.\n"))
    assert "+Be brief.\n" in diff


def test_only_a_regular_file_is_read_as_a_skill(tmp_path: Path) -> None:
    import os

    from skillfit.skill import read_skill

    fifo = tmp_path / "skill.md"
    os.mkfifo(fifo)  # opening it would block until some process writes to it
    with pytest.raises(SkillFileError, match=r"skill\.md: is a named pipe"):
        Skill.load(fifo)
    with pytest.raises(SkillFileError, match=r"skill\.md: is a named pipe"):
        read_skill(fifo)
    with pytest.raises(SkillFileError, match=r"/dev/zero: is a device"):
        Skill.load("/dev/zero")
