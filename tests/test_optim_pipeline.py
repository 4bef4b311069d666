"""The edit pipeline's stages, each alone, and the chain."""

from __future__ import annotations

from skillfit.optim import (
    EditBatch,
    address,
    fit,
    guard_stage,
    merge_stage,
    resolve,
    run_pipeline,
    select_stage,
)
from skillfit.skill import Edit, Skill

SKILL = Skill.parse("# Guide\n\n## Method\n\nAdd carefully.\n")


def add(text: str) -> Edit:
    return Edit(op="add", content=text)


def batch(*edits: tuple[int, Edit], **kw: object) -> EditBatch:
    return EditBatch(skill=SKILL, pooled=list(edits), **kw)  # type: ignore[arg-type]


def test_address_gives_a_heading_led_replace_its_section() -> None:
    b = address(batch((0, Edit(op="replace", content="## Method\n\nAdd the digits in columns."))))
    assert b.pooled[0][1].section == SKILL.section_ids[-1]


def test_guard_refuses_item_text_and_keeps_the_rest() -> None:
    b = guard_stage(
        batch(
            (0, add("## Check\n\nWhat is 12 plus 30? Answer 42.")),
            (0, add("## Carry\n\nCarry the ten to the next column.")),
            needles=("What is 12 plus 30?",),
        )
    )
    assert [e.content for _, e in b.kept] == ["## Carry\n\nCarry the ten to the next column."]
    assert len(b.rejected) == 1


def test_merge_ranks_by_how_many_minibatches_proposed_an_edit() -> None:
    one, two = add("## Carry\n\nCarry the ten."), add("## Units\n\nWrite the units.")
    b = merge_stage(
        EditBatch(skill=SKILL, pooled=[], kept=[(0, two), (1, one), (2, one)], failures={})
    )
    assert b.ranked[0].edit.content == one.content and len(b.ranked) == 2


def test_select_takes_the_budget_and_fit_applies() -> None:
    b = run_pipeline(
        batch(
            (0, add("## Carry\n\nCarry the ten to the next column.")),
            (1, add("## Units\n\nWrite the units after the number.")),
            budget=1,
        )
    )
    assert len(b.selected) == 1 and len(b.over_budget) == 1
    assert b.candidate is not None and "Carry the ten" in b.candidate.text
    assert len(b.applied) == 1


def test_fit_drops_the_lowest_ranked_to_fit() -> None:
    big = add("## Long\n\n" + "word " * 400)
    b = run_pipeline(
        batch((0, add("## Carry\n\nCarry the ten.")), (1, big), budget=2, max_tokens=60)
    )
    assert b.candidate is not None and b.candidate.n_tokens() <= 60
    assert [c.edit.content for c in b.too_big] == [big.content] or big.content in [
        r.edit.content for r in b.rejected
    ]


def test_a_chain_without_the_guard() -> None:
    stages = (address, merge_stage, resolve, select_stage, fit)
    b = run_pipeline(
        EditBatch(skill=SKILL, pooled=[], kept=[(0, add("## X\n\nWhat is 12 plus 30?"))], budget=1),
        stages,
    )
    assert b.candidate is not None and "12 plus 30" in b.candidate.text
