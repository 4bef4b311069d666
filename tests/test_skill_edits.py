"""Edits: add / delete / replace by section id and by anchor, rejections and conflicts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from skillfit.skill import Edit, EditOutcome, Section, Skill

DOC = """\
Use this skill for boolean expressions.

# Boolean expressions

Evaluate step by step.
Answer with True or False.

## Rules

- not binds tighter than and.
- and binds tighter than or.

## Examples

- not True -> False
"""


@pytest.fixture
def skill() -> Skill:
    return Skill.parse(DOC)


def one(skill: Skill, edit: Edit) -> EditOutcome:
    result = skill.apply([edit])
    assert len(result.outcomes) == 1
    return result.outcomes[0]


def applied(skill: Skill, *edits: Edit) -> Skill:
    result = skill.apply(edits)
    assert not result.rejected, [o.reason for o in result.rejected]
    return result.skill


# -- add -----------------------------------------------------------------------------


def test_add_after_section_appends_paragraph_to_that_section(skill: Skill) -> None:
    new = applied(skill, Edit(op="add", section="rules", content="- xor is not an operator."))
    assert new.section("rules").body.endswith(
        "- and binds tighter than or.\n\n- xor is not an operator."
    )
    assert new.section_ids == skill.section_ids
    assert new.section("examples") == skill.section("examples")


def test_add_new_section_after_section(skill: Skill) -> None:
    new = applied(skill, Edit(op="add", section="rules", content="## Pitfalls\n\nDouble negation."))
    assert new.section_ids == ("preamble", "boolean-expressions", "rules", "pitfalls", "examples")
    assert new.section("pitfalls").body == "Double negation."
    assert new.section("rules") == skill.section("rules")


def test_add_at_end_when_no_section_or_anchor(skill: Skill) -> None:
    new = applied(skill, Edit(op="add", content="## Checks\nRe-read the expression."))
    assert new.section_ids[-1] == "checks"
    assert new.text.endswith("## Checks\n\nRe-read the expression.\n")


def test_add_to_empty_skill() -> None:
    new = applied(Skill.empty(), Edit(op="add", content="Be brief."))
    assert new.text == "Be brief.\n"
    assert new.section_ids == ("preamble",)


def test_add_after_anchor_goes_on_the_next_line(skill: Skill) -> None:
    new = applied(skill, Edit(op="add", anchor="step by step", content="Write each step."))
    assert "Evaluate step by step.\nWrite each step.\nAnswer with True or False." in new.text


def test_add_after_anchor_ending_with_newline(skill: Skill) -> None:
    new = applied(skill, Edit(op="add", anchor="step by step.\n", content="Write each step."))
    assert "Evaluate step by step.\nWrite each step.\nAnswer" in new.text


def test_add_with_duplicate_heading_gets_unique_id(skill: Skill) -> None:
    new = applied(skill, Edit(op="add", content="## Rules\n\n- parentheses first."))
    assert new.section_ids == skill.section_ids + ("rules-2",)
    assert new.section("rules") == skill.section("rules")
    assert new.section("rules-2").body == "- parentheses first."


def test_add_after_missing_preamble_writes_at_the_top() -> None:
    skill = Skill.parse("# A\n\nx\n")
    new = applied(skill, Edit(op="add", section="preamble", content="Always answer briefly."))
    assert new.text == "Always answer briefly.\n\n# A\n\nx\n"


# -- delete --------------------------------------------------------------------------


def test_delete_section_removes_heading_and_body_only(skill: Skill) -> None:
    new = applied(skill, Edit(op="delete", section="rules"))
    assert new.section_ids == ("preamble", "boolean-expressions", "examples")
    assert "binds tighter" not in new.text
    assert new.text == Skill.parse(new.text).text


def test_delete_last_and_first_sections(skill: Skill) -> None:
    new = applied(
        skill, Edit(op="delete", section="examples"), Edit(op="delete", section="preamble")
    )
    assert new.section_ids == ("boolean-expressions", "rules")
    assert new.text.startswith("# Boolean expressions\n")
    assert new.text.endswith("- and binds tighter than or.\n")


def test_delete_by_anchor(skill: Skill) -> None:
    new = applied(skill, Edit(op="delete", anchor="- and binds tighter than or.\n"))
    assert new.section("rules").body == "- not binds tighter than and."


def test_delete_anchor_inside_a_line(skill: Skill) -> None:
    new = applied(skill, Edit(op="delete", anchor=" step by step"))
    assert "Evaluate.\n" in new.text


def test_delete_empty_preamble_is_rejected() -> None:
    out = one(Skill.parse("# A\n"), Edit(op="delete", section="preamble"))
    assert not out.applied and "nothing to delete" in out.reason


# -- replace -------------------------------------------------------------------------


def test_replace_section_body_keeps_heading(skill: Skill) -> None:
    new = applied(skill, Edit(op="replace", section="rules", content="- Parentheses first.\n"))
    assert new.section("rules").title == "Rules"
    assert new.section("rules").body == "- Parentheses first."
    assert new.section("examples") == skill.section("examples")


def test_replace_section_with_heading_replaces_heading(skill: Skill) -> None:
    new = applied(
        skill, Edit(op="replace", section="rules", content="## Precedence\n\nnot > and > or")
    )
    assert new.section_ids == ("preamble", "boolean-expressions", "precedence", "examples")
    assert "## Rules" not in new.text


def test_replace_section_with_empty_body() -> None:
    skill = Skill.parse("# A\n\n# B\n\nx\n")
    new = applied(skill, Edit(op="replace", section="a", content="filled"))
    assert new.text == "# A\n\nfilled\n\n# B\n\nx\n"


def test_replace_preamble(skill: Skill) -> None:
    new = applied(skill, Edit(op="replace", section="preamble", content="New intro."))
    assert new.sections[0].body == "New intro."


def test_replace_by_anchor_within_a_line(skill: Skill) -> None:
    new = applied(
        skill, Edit(op="replace", anchor="True or False", content="exactly True or False\n")
    )
    assert "Answer with exactly True or False.\n" in new.text


def test_replace_anchor_tolerates_whitespace_differences(skill: Skill) -> None:
    new = applied(
        skill, Edit(op="replace", anchor="Evaluate  step by\nstep.", content="Evaluate carefully.")
    )
    assert "Evaluate carefully.\nAnswer" in new.text


def test_anchor_scoped_to_section() -> None:
    skill = Skill.parse("# A\n\nBe brief.\n\n# B\n\nBe brief.\n")
    out = one(skill, Edit(op="replace", anchor="Be brief.", content="Be terse."))
    assert not out.applied and "matches 2 times" in out.reason
    new = applied(skill, Edit(op="replace", section="b", anchor="Be brief.", content="Be terse."))
    assert new.text == "# A\n\nBe brief.\n\n# B\n\nBe terse.\n"


# -- rejections ----------------------------------------------------------------------


def test_missing_anchor_is_rejected_not_appended(skill: Skill) -> None:
    result = skill.apply([Edit(op="add", anchor="no such text", content="x")])
    assert result.skill == skill
    assert not result.outcomes[0].applied
    assert "not found" in result.outcomes[0].reason


def test_ambiguous_anchor_is_rejected_with_count(skill: Skill) -> None:
    out = one(skill, Edit(op="delete", anchor="binds tighter than"))
    assert not out.applied
    assert "ambiguous" in out.reason and "2 times" in out.reason


def test_overlapping_occurrences_count_as_ambiguous() -> None:
    out = one(Skill.parse("aaa\n"), Edit(op="delete", anchor="aa"))
    assert not out.applied and "2 times" in out.reason


def test_anchor_missing_in_given_section(skill: Skill) -> None:
    out = one(skill, Edit(op="delete", section="examples", anchor="step by step"))
    assert not out.applied and "not found in section 'examples'" in out.reason


def test_unknown_section_names_nearest_ids(skill: Skill) -> None:
    out = one(skill, Edit(op="replace", section="rule", content="x"))
    assert not out.applied
    assert out.reason.startswith("unknown section 'rule'; nearest ids: 'rules'")


def test_unknown_section_far_from_everything_lists_ids(skill: Skill) -> None:
    out = one(skill, Edit(op="delete", section="zzzzzzzz"))
    assert not out.applied and "'examples'" in out.reason


def test_section_given_as_title_resolves_to_its_id(skill: Skill) -> None:
    new = applied(skill, Edit(op="delete", section="## Rules"))
    assert "rules" not in new.section_ids


@pytest.mark.parametrize("op", ["add", "replace"])
@pytest.mark.parametrize("content", ["", "  \n\t"])
def test_empty_content_is_rejected(skill: Skill, op: str, content: str) -> None:
    out = one(skill, Edit(op=op, section="rules", content=content))  # type: ignore[arg-type]
    assert not out.applied and "non-empty content" in out.reason


@pytest.mark.parametrize("op", ["delete", "replace"])
def test_delete_and_replace_need_a_target(skill: Skill, op: str) -> None:
    out = one(skill, Edit(op=op, content="x"))  # type: ignore[arg-type]
    assert not out.applied and "section id or an anchor" in out.reason


def test_no_op_edit_is_rejected(skill: Skill) -> None:
    out = one(skill, Edit(op="replace", anchor="True or False", content="True or False"))
    assert not out.applied and "changes nothing" in out.reason


# -- conflicts and order ---------------------------------------------------------------


def test_same_section_twice_conflicts(skill: Skill) -> None:
    result = skill.apply(
        [
            Edit(op="replace", section="rules", content="- one"),
            Edit(op="add", section="rules", content="- two"),
        ]
    )
    assert [o.applied for o in result.outcomes] == [True, False]
    assert result.outcomes[1].reason.startswith("conflict with edit #1")
    assert result.skill.section("rules").body == "- one"


def test_overlapping_anchors_conflict(skill: Skill) -> None:
    result = skill.apply(
        [
            Edit(op="delete", section="examples"),
            Edit(op="replace", anchor="Evaluate step", content="Think"),
            Edit(op="replace", anchor="step by step", content="carefully"),
        ]
    )
    assert [o.applied for o in result.outcomes] == [True, True, False]
    assert result.outcomes[2].reason.startswith("conflict with edit #2")


def test_anchor_inside_section_being_replaced_conflicts(skill: Skill) -> None:
    result = skill.apply(
        [
            Edit(op="replace", section="rules", content="- new"),
            Edit(op="delete", anchor="- not binds tighter than and."),
        ]
    )
    assert result.outcomes[1].reason.startswith("conflict with edit #1")


def test_add_after_anchor_in_replaced_section_conflicts(skill: Skill) -> None:
    # The anchor's line is the last of 'rules', so the insertion point is outside the
    # replaced body, but the text the add relies on is being replaced.
    result = skill.apply(
        [
            Edit(op="replace", section="rules", content="- new"),
            Edit(op="add", anchor="tighter than or.", content="- more"),
        ]
    )
    assert [o.applied for o in result.outcomes] == [True, False]
    assert result.outcomes[1].reason == "conflict with edit #1 (overlapping text)"


def test_same_anchor_twice_conflicts(skill: Skill) -> None:
    result = skill.apply(
        [
            Edit(op="add", anchor="step by step", content="One."),
            Edit(op="add", anchor="step by step", content="Two."),
        ]
    )
    assert [o.applied for o in result.outcomes] == [True, False]


def test_add_after_anchor_and_replace_later_in_same_line_compose(skill: Skill) -> None:
    new = applied(
        skill,
        Edit(op="add", anchor="Answer with", content="Never explain."),
        Edit(op="replace", anchor="True or False", content="yes or no"),
    )
    assert "Answer with yes or no.\nNever explain.\n" in new.text


def test_add_duplicate_heading_before_existing_one_takes_the_plain_id(skill: Skill) -> None:
    # Ids follow document order (they are a function of the text alone).
    new = applied(skill, Edit(op="add", section="preamble", content="## Rules\n\nfirst"))
    assert new.section_ids == ("preamble", "rules", "boolean-expressions", "rules-2", "examples")
    assert new.section("rules").body == "first"
    assert new.section("rules-2") == Section("rules-2", "Rules", 2, skill.section("rules").body)


def test_rejected_edit_does_not_block_later_edits(skill: Skill) -> None:
    result = skill.apply(
        [
            Edit(op="replace", section="rules", content=""),
            Edit(op="replace", section="rules", content="- fine"),
        ]
    )
    assert [o.applied for o in result.outcomes] == [False, True]


def test_edits_are_resolved_against_the_original(skill: Skill) -> None:
    # The second edit refers to 'examples', which stays addressable even though
    # the first edit adds text before it; an add after the last edit's section still lands.
    new = applied(
        skill,
        Edit(op="add", section="boolean-expressions", content="## Notes\n\nnote"),
        Edit(op="replace", section="examples", content="- True and False -> False"),
        Edit(op="add", anchor="Answer with True", content="Never explain."),
    )
    assert new.section_ids == ("preamble", "boolean-expressions", "notes", "rules", "examples")
    assert new.section("boolean-expressions").body.endswith("Never explain.")
    assert new.section("examples").body == "- True and False -> False"


def test_several_adds_at_end_keep_their_order(skill: Skill) -> None:
    new = applied(
        skill, Edit(op="add", content="## One\n\n1"), Edit(op="add", content="## Two\n\n2")
    )
    assert new.section_ids[-2:] == ("one", "two")


def test_adds_at_one_point_around_a_replace_keep_order(skill: Skill) -> None:
    # add after 'rules' inserts where 'examples' begins; an anchor edit at the start of
    # 'examples' must not be swallowed or reordered.
    new = applied(
        skill,
        Edit(op="add", section="rules", content="after rules"),
        Edit(op="replace", anchor="## Examples", content="## Samples"),
    )
    assert "- and binds tighter than or.\n\nafter rules\n\n## Samples\n" in new.text


def test_outcomes_follow_input_order_and_original_is_unchanged(skill: Skill) -> None:
    edits = [
        Edit(op="delete", section="nope"),
        Edit(op="add", content="tail"),
        Edit(op="delete", anchor="nope"),
    ]
    result = skill.apply(edits)
    assert [o.edit for o in result.outcomes] == edits
    assert [o.edit for o in result.applied] == [edits[1]]
    assert [o.edit for o in result.rejected] == [edits[0], edits[2]]
    assert skill == Skill.parse(DOC)
    assert result.skill != skill


# -- the Edit model --------------------------------------------------------------------


def test_edit_normalizes_llm_output() -> None:
    edit = Edit.model_validate(
        {"op": " Insert ", "section": "  ", "anchor": "", "content": "x", "extra": 1}
    )
    assert edit == Edit(op="add", content="x")
    assert Edit(op="REMOVE", section="a").op == "delete"
    assert Edit(op="rewrite", section="a", content="b").op == "replace"
    with pytest.raises(ValidationError):
        Edit(op="frobnicate")  # type: ignore[arg-type]


def test_edit_json_round_trip() -> None:
    edit = Edit(op="replace", anchor="a\nb", content="c", rationale="why")
    assert Edit.model_validate_json(edit.model_dump_json()) == edit
    out = EditOutcome(edit=edit, applied=False, reason="r")
    assert EditOutcome.model_validate(out.model_dump()) == out


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (Edit(op="add", content="## New\nline"), 'add at end: "## New line"'),
        (Edit(op="add", section="rules", content="x"), "add after section 'rules': \"x\""),
        (Edit(op="delete", section="rules"), "delete section 'rules'"),
        (Edit(op="delete", anchor="foo  bar"), 'delete anchor "foo bar"'),
        (
            Edit(op="replace", section="s", anchor="a", content="b"),
            'replace anchor "a" in section \'s\': "b"',
        ),
    ],
)
def test_describe(edit: Edit, expected: str) -> None:
    assert edit.describe() == expected


def test_describe_is_one_bounded_line() -> None:
    text = Edit(op="replace", anchor="x" * 500, content="line\n" * 100).describe()
    assert "\n" not in text and len(text) < 120
