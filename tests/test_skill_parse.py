"""Parsing a skill into sections, ids, normalization and round-trips."""

from __future__ import annotations

import pytest

from skillfit.skill import Section, Skill, slugify

DOC = """\
Use this skill for boolean expressions.

# Boolean expressions

Evaluate step by step.

## Answer format

Answer with True or False.

## Examples

- not True -> False
"""


def test_sections_ids_titles_levels_bodies() -> None:
    skill = Skill.parse(DOC)
    assert skill.section_ids == ("preamble", "boolean-expressions", "answer-format", "examples")
    pre, top, fmt, ex = skill.sections
    assert pre == Section("preamble", "", 0, "Use this skill for boolean expressions.")
    assert (top.title, top.level, top.body) == ("Boolean expressions", 1, "Evaluate step by step.")
    assert (fmt.title, fmt.level, fmt.body) == ("Answer format", 2, "Answer with True or False.")
    assert ex.body == "- not True -> False"
    assert skill.section("answer-format") is fmt


def test_canonical_text_round_trips() -> None:
    skill = Skill.parse(DOC)
    assert skill.text == DOC
    assert Skill.parse(skill.text).text == skill.text
    assert Skill.parse(skill.text) == skill


def test_section_text_concatenates_to_document() -> None:
    skill = Skill.parse(DOC)
    assert "\n".join(s.text for s in skill.sections) == skill.text


def test_no_preamble_when_document_starts_with_heading() -> None:
    skill = Skill.parse("# A\n\nbody\n")
    assert skill.section_ids == ("a",)


def test_duplicate_slugs_get_suffixes() -> None:
    skill = Skill.parse("## Notes\n\na\n\n## notes\n\nb\n\n## NOTES!\n\nc\n")
    assert skill.section_ids == ("notes", "notes-2", "notes-3")


def test_duplicate_suffix_skips_ids_already_taken() -> None:
    skill = Skill.parse("## A 2\n\n## A\n\n## A\n")
    assert skill.section_ids == ("a-2", "a", "a-3")


def test_heading_named_preamble_does_not_clash_with_preamble() -> None:
    skill = Skill.parse("intro\n\n# Preamble\n\nx\n")
    assert skill.section_ids == ("preamble", "preamble-2")


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Answer format", "answer-format"),
        ("Step 2: check the *result*", "step-2-check-the-result"),
        ("  C++ / Rust tips ", "c-rust-tips"),
        ("snake_case names", "snake-case-names"),
        ("Ünïcode Überschrift", "ünïcode-überschrift"),
        ("!!!", "section"),
        ("", "section"),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_headings_inside_code_fences_are_not_headings() -> None:
    text = (
        "# Real\n\n```python\n# a comment\n\n\n## also a comment\n```\n\n"
        "~~~~\n# tilde fence\n~~~\n# still inside, the closing fence is too short\n~~~~\n\n"
        "## After\n"
    )
    skill = Skill.parse(text)
    assert skill.section_ids == ("real", "after")
    body = skill.section("real").body
    assert "# a comment\n\n\n## also a comment" in body  # blank lines in code are kept
    assert "# still inside" in body


def test_yaml_front_matter_stays_verbatim_in_the_preamble() -> None:
    text = "---\nname: bool\n# a yaml comment\n\n\ndescription: x\n---\n\n# Rules\n\nBe brief.\n"
    skill = Skill.parse(text)
    assert skill.section_ids == ("preamble", "rules")
    assert skill.sections[0].body == "---\nname: bool\n# a yaml comment\n\n\ndescription: x\n---"
    assert skill.text == text


def test_unclosed_front_matter_is_plain_text() -> None:
    assert Skill.parse("---\n# Title\n").section_ids == ("preamble", "title")


def test_unclosed_fence_runs_to_end_of_document() -> None:
    skill = Skill.parse("# A\n\n```\n# not a heading\n")
    assert skill.section_ids == ("a",)
    assert skill.section("a").body == "```\n# not a heading"


def test_backtick_fence_with_backtick_in_info_string_is_not_a_fence() -> None:
    skill = Skill.parse("``` a`b\n# Heading\n")
    assert skill.section_ids == ("preamble", "heading")


def test_indented_and_non_atx_lines_are_not_headings() -> None:
    text = "    # indented code\n\n#hashtag\n\nTitle\n=====\n\n####### seven\n"
    skill = Skill.parse(text)
    assert skill.section_ids == ("preamble",)


def test_normalization() -> None:
    raw = "\ufeff\r\n\r\nintro  \r\n\r\n\r\n\r\nmore\n#   Title   ##  \n## Sub\ntext\t\n\n\n"
    skill = Skill.parse(raw)
    assert skill.text == "intro\n\nmore\n\n# Title\n\n## Sub\n\ntext\n"
    assert skill.sections[1].title == "Title"


def test_heading_whose_title_ends_in_hashes_survives_round_trip() -> None:
    skill = Skill.parse("# C # #\n\nx\n")
    assert skill.sections[0].title == "C #"
    assert Skill.parse(skill.text).sections[0].title == "C #"


def test_empty_heading_and_empty_document() -> None:
    assert Skill.parse("").text == ""
    assert Skill.parse("\n \n\t\n").text == ""
    assert Skill.empty() == Skill.parse("")
    assert Skill.empty().sections == ()
    skill = Skill.parse("##\n\nbody\n")
    assert skill.sections[0] == Section("section", "", 2, "body")
    assert skill.text == "##\n\nbody\n"


def test_equality_and_hash_follow_text() -> None:
    a = Skill.parse("# A\n\nx\n")
    b = Skill.parse("# A\r\n\r\n\r\nx   \r\n")
    assert a == b and hash(a) == hash(b)
    assert a != Skill.parse("# A\n\ny\n")
    assert a != "# A\n\nx\n"
    assert len({a, b}) == 1


def test_skill_is_immutable() -> None:
    skill = Skill.parse(DOC)
    with pytest.raises(AttributeError):
        skill.text = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        skill.sections[0].body = "x"  # type: ignore[misc]


def test_n_tokens_is_a_quarter_of_the_characters_rounded_up() -> None:
    assert Skill.empty().n_tokens() == 0
    assert Skill.parse("abc").n_tokens() == 1  # "abc\n" is 4 characters
    assert Skill.parse("abcd").n_tokens() == 2
    long = Skill.parse("word " * 400)
    assert 450 <= long.n_tokens() <= 550


def test_outline_lists_every_section() -> None:
    outline = Skill.parse(DOC).outline()
    assert outline.splitlines()[2].startswith("- answer-format: ## Answer format (~")
    assert len(outline.splitlines()) == 4


def test_pickle_round_trip() -> None:
    import pickle

    skill = Skill.parse(DOC)
    assert pickle.loads(pickle.dumps(skill)) == skill
