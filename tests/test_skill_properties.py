"""Property tests: normalization is idempotent and edits never corrupt the document."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from skillfit.skill import Edit, Skill, slugify

# Lines built from the pieces that matter to the parser: headings, fences, blanks, text.
_line = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "```",
            "~~~",
            "````",
            "``` py",
            "# Title",
            "## Rules",
            "### Rules",
            "#",
            "# #",
            "## a # #",
            "   # indented",
            "    # code",
            "\t# tab",
            "text",
            "- item",
            "Answer with True or False.",
            "trailing   ",
            "\r",
            "#hashtag",
            "---",
            "...",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
)
_doc = st.lists(_line, max_size=25).map("\n".join)


@settings(max_examples=400, deadline=None, database=None)
@given(_doc)
def test_normalization_is_idempotent(raw: str) -> None:
    skill = Skill.parse(raw)
    again = Skill.parse(skill.text)
    assert again.text == skill.text
    assert again.sections == skill.sections
    assert "\n".join(s.text for s in skill.sections) == skill.text
    assert skill.text == "" or (skill.text.endswith("\n") and not skill.text.endswith("\n\n"))
    assert len(set(skill.section_ids)) == len(skill.section_ids)


_edit = st.builds(
    Edit,
    op=st.sampled_from(["add", "delete", "replace"]),
    section=st.one_of(st.none(), st.sampled_from(["preamble", "title", "rules", "rules-2", "x"])),
    anchor=st.one_of(st.none(), st.sampled_from(["text", "item", "True", "- item\ntext"])),
    content=st.one_of(st.just(""), _doc),
)


@settings(max_examples=300, deadline=None, database=None)
@given(_doc, st.lists(_edit, max_size=5))
def test_apply_returns_canonical_skill_and_one_outcome_per_edit(
    raw: str, edits: list[Edit]
) -> None:
    skill = Skill.parse(raw)
    result = skill.apply(edits)
    assert [o.edit for o in result.outcomes] == edits
    assert Skill.parse(result.skill.text).text == result.skill.text
    assert len(result.applied) + len(result.rejected) == len(edits)
    if not result.applied:
        assert result.skill == skill
    for o in result.rejected:
        assert o.reason


_title = st.text(alphabet="abcdefgh ", min_size=1, max_size=8).filter(lambda t: t.strip())
_plain = st.lists(st.sampled_from(["text", "- item", "", "```\n# in code\n\n```"]), max_size=6)


@settings(max_examples=200, deadline=None, database=None)
@given(
    # Unique titles: with repeated titles, ids are numbered in document order, so deleting
    # the first "a" renames "a-2" to "a" (ids are a function of the text alone).
    st.lists(
        st.tuples(_title, _plain.map("\n".join)),
        min_size=1,
        max_size=6,
        unique_by=lambda p: slugify(p[0]),
    ),
    st.data(),
)
def test_section_edits_touch_only_their_section(
    parts: list[tuple[str, str]], data: st.DataObject
) -> None:
    raw = "\n".join(f"## {title}\n{body}" for title, body in parts)
    skill = Skill.parse(raw)
    target = data.draw(st.sampled_from(skill.section_ids))
    op = data.draw(st.sampled_from(["replace", "add", "delete"]))
    result = skill.apply([Edit(op=op, section=target, content="Fresh rule.")])
    assert result.applied, result.outcomes
    new = result.skill
    expected_ids = tuple(i for i in skill.section_ids if not (op == "delete" and i == target))
    assert new.section_ids == expected_ids
    for section in skill.sections:
        if section.id != target:
            assert new.section(section.id) == section
    if op != "delete":
        assert new.section(target).body.endswith("Fresh rule.")
