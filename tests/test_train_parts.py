"""The loop's small pieces: minibatches, schema, optimizer retries, guard, merge, prompts."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError
from train_fakes import AddTask, target_model

from skillfit.models.base import InfraError
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.optim.guard import guard
from skillfit.optim.merge import merge, resolve_conflicts, select
from skillfit.optim.needles import leak_needles
from skillfit.optim.optimizer import ask, edits_schema
from skillfit.optim.pipeline import EditBatch, fit
from skillfit.optim.prompting import PROMPT_NAMES, load_prompt, render_skill
from skillfit.skill import Edit, Skill
from skillfit.tasks.base import Item, Score, Trajectory
from skillfit.train.evaluation import compare, evaluate_skill
from skillfit.train.reflect import make_minibatches, reflection_messages

SKILL = Skill.parse(
    "Intro line.\n\n# Answer format\n\nEnd with `Answer: X`.\n\n# Method\n\nThink.\n"
)


def traj(item_id: str, hard: int | None) -> tuple[Item, Trajectory]:
    item = Item(item_id, f"question {item_id}", "t")
    if hard is None:
        return item, Trajectory(item_id, [], error="timeout")
    return item, Trajectory(item_id, [], answer="a", score=Score(hard, float(hard)))


def test_minibatches_are_built_around_failures_with_a_few_successes() -> None:
    examples = [traj(f"f{i}", 0) for i in range(6)] + [traj(f"s{i}", 1) for i in range(3)]
    examples.append(traj("err", None))
    batches = make_minibatches(examples, 4)
    ids = [[it.id for it, _ in b] for b in batches]
    assert ids == [["f0", "f1", "f2", "s0"], ["f3", "f4", "f5", "s1"]]
    assert all("err" not in b for b in ids)
    assert make_minibatches([traj("s", 1), traj("e", None)], 4) == []


def test_schema_limits_sections_and_edit_count() -> None:
    schema = edits_schema(SKILL.section_ids, 2)
    ok = {"analysis": "a", "edits": [{"op": "replace", "section": "method", "content": "x"}]}
    assert schema.model_validate(ok).edits[0].section == "method"
    with pytest.raises(ValidationError):
        schema.model_validate({"analysis": "a", "edits": [{"op": "add", "section": "nope"}]})
    with pytest.raises(ValidationError):
        schema.model_validate({"analysis": "a", "edits": [{"op": "add"}] * 3})
    text = json.dumps(schema.model_json_schema())
    assert "answer-format" in text and len(text) < 1500  # small enough for a small model


def test_skill_is_shown_with_section_markers() -> None:
    shown = render_skill(SKILL)
    assert shown.startswith("[preamble]\nIntro line.")
    assert "[answer-format]\n# Answer format\nEnd with" in shown
    assert render_skill(Skill.parse("")) == "(the guide is empty)"


def test_prompts_are_package_data_without_template_placeholders() -> None:
    for name in PROMPT_NAMES:
        text = load_prompt(name)
        assert 200 < len(text) < 2500
        assert not re.search(r"\{[a-z_]+\}", text), name  # nothing a model could parrot as-is
        assert "JSON" in text


def test_reflection_prompt_carries_buffer_meta_and_budget() -> None:
    from skillfit.train.state import BufferEntry

    entry = BufferEntry(step=1, edit={"op": "add", "content": "Be terse."}, delta=-0.25)
    msgs = reflection_messages(
        SKILL, [traj("f0", 0)], max_edits=5, buffer=[entry], meta_skill="- format rules help"
    )
    assert msgs[0]["content"] == load_prompt("reflect")
    user = msgs[1]["content"]
    assert "Be terse." in user and "-0.25" in user
    assert "- format rules help" in user
    assert "at most 3 different edits" in user  # a reply holds at most 3, whatever the budget
    assert "question f0" in user and '- answered "a", expected "t"' in user


def test_ask_retries_warmer_and_keeps_every_raw_reply() -> None:
    replies = iter(["not json", '```json\n{"analysis": "a", "edits": []}\n```'])
    model = ScriptedModel(lambda r: next(replies))

    class Loose:  # a provider that does not validate: the raw text is parsed leniently
        name = "loose"

        def complete(self, messages, **kw):  # type: ignore[no-untyped-def]
            kw["response_format"] = None
            return model.complete(messages, **kw)

    schema = edits_schema(SKILL.section_ids, 2)
    answer = ask(
        Loose(),
        [{"role": "user", "content": "x"}],
        schema,
        max_tokens=50,
        temperature=0.0,
        retries=2,
    )
    assert answer.ok and len(answer.attempts) == 2
    assert answer.attempts[0].raw == "not json" and answer.attempts[0].error
    assert answer.attempts[1].temperature > 0

    def broken(request: Request) -> str:
        raise InfraError("down")

    failed = ask(
        ScriptedModel(broken),
        [{"role": "user", "content": "x"}],
        schema,
        max_tokens=50,
        temperature=0.0,
        retries=1,
    )
    assert not failed.ok and [a.error for a in failed.attempts] == ["InfraError: down"] * 2


def test_guard_reasons() -> None:
    items = [Item("i1", "Is not ( True ) and ( False ) true or false?", "False")]
    needles = leak_needles(items)
    cases = {
        "empty content": Edit(op="add", content="  \n"),
        "quotes a training": Edit(op="add", content="Note: not ( True ) and ( False ) is False."),
        "repeats the optimizer prompt": Edit(
            op="add", content="Write each edit as an instruction to the model, one to five lines."
        ),
        "copies the listing": Edit(
            op="add",
            content="## Question 2 (wrong)\nFeedback: Wrong. Expected: 'No'. Given: 'Ann lies.'",
        ),
        "already in the skill": Edit(op="add", content="End with `Answer: X`."),
        "would grow the skill": Edit(op="add", content="word " * 400),
        None: Edit(op="replace", section="method", content="Evaluate inner brackets first."),
    }
    proposals = list(enumerate(cases.values()))
    kept, rejected = guard(proposals, SKILL, needles=needles, max_tokens=200)
    assert [e.content for _, e in kept] == ["Evaluate inner brackets first."]
    reasons = [r.reason for r in rejected]
    for expected, reason in zip([k for k in cases if k], reasons, strict=True):
        assert reason.startswith(expected) or expected in reason


def test_merge_groups_near_duplicates_and_ranks_by_support() -> None:
    a1 = Edit(op="replace", section="method", content="Evaluate the inner brackets first.")
    a2 = Edit(op="replace", section="method", content="Evaluate the inner brackets first!")
    b = Edit(op="add", content="## Negation\nApply `not` before `and`.")
    c = Edit(op="replace", section="method", content="Something else entirely, longer text.")
    ranked = merge([(0, b), (1, a1), (2, a2), (2, c)], {0: 1, 1: 3, 2: 2})
    assert [r.edit for r in ranked] == [a1, c, b]  # support, then failures covered
    assert ranked[0].sources == [1, 2] and ranked[0].coverage == 5
    kept, conflicts = resolve_conflicts(ranked)
    assert [k.edit for k in kept] == [a1, b] and [x.edit for x in conflicts] == [c]
    top, rest = select(kept, 1)
    assert [t.edit for t in top] == [a1] and [r.edit for r in rest] == [b]


def test_fit_drops_the_lowest_ranked_to_fit() -> None:
    ranked = merge(
        [
            (0, Edit(op="add", content="## A\nshort")),
            (0, Edit(op="add", content="## B\n" + "w " * 300)),
        ],
        {0: 1},
    )
    limit = SKILL.n_tokens() + 20
    batch = fit(EditBatch(SKILL, [], selected=ranked, max_tokens=limit))
    skill, dropped = batch.candidate, batch.too_big
    assert skill is not None and "## A" in skill.text and "## B" not in skill.text
    assert len(dropped) == 1 and skill.n_tokens() <= limit


def test_evaluation_counts_samples_and_excludes_infra_errors() -> None:
    task = AddTask(n_test=3)
    items = task.splits()["test"]

    def target(request: Request) -> str:
        if "2001" in request.last_user:
            raise InfraError("down")
        return "no"

    none, _ = evaluate_skill(task, ScriptedModel(target), "", items, samples=2, name="none")
    assert (none.scored, none.n_errors, none.accuracy) == (4, 2, 0.0)
    assert none.ci_low == 0.0 and 0 < none.ci_high < 1
    from train_fakes import MAGIC

    best, _ = evaluate_skill(task, target_model(), MAGIC, items, samples=2, name="best")
    assert best.accuracy == 1.0 and best.correct == 6
    diff = compare(best, none)
    assert diff["n"] == 2 and diff["mean_diff"] == 1.0


def test_task_template_text_is_not_a_leak_but_item_text_is() -> None:
    from skillfit.skill import mentions_any

    items = [
        Item("a", "Evaluate the boolean expression below.\nnot ( True ) and ( False ) is", "False"),
        Item("b", "Evaluate the boolean expression below.\nTrue or not False and True is", "True"),
    ]
    needles = leak_needles(items)
    assert mentions_any("Evaluate the boolean expression below.", needles) is None
    assert mentions_any("Example: True or not False and True is True", needles)


def test_a_reply_that_only_copies_the_prompt_is_asked_again() -> None:
    from skillfit.optim.optimizer import parroted
    from skillfit.optim.prompting import boilerplate_needles

    copied = next(n for n in boilerplate_needles() if "general advice" in n)

    def optimizer(request: Request) -> object:
        content = copied if request.sample == 0 else "Evaluate `not` before `and`."
        return {"analysis": "a", "edits": [{"op": "add", "content": content}]}

    schema = edits_schema(SKILL.section_ids, 2)
    answer = ask(
        ScriptedModel(optimizer),
        [{"role": "user", "content": "x"}],
        schema,
        max_tokens=50,
        temperature=0.0,
        retries=2,
        check=parroted,
    )
    assert answer.ok and len(answer.attempts) == 2
    assert answer.attempts[0].error == "every edit copies the optimizer prompt"
    assert answer.parsed.edits[0].content == "Evaluate `not` before `and`."


def test_a_replace_naming_its_section_by_heading_is_addressed_to_it() -> None:
    from skillfit.optim.merge import address_by_heading

    edit = Edit(op="replace", content="## Method\nWork inside out.")
    assert address_by_heading(edit, SKILL.section_ids).section == "method"
    unknown = Edit(op="replace", content="## Other\nx")
    assert address_by_heading(unknown, SKILL.section_ids) == unknown
    add = Edit(op="add", content="## Method\nx")
    assert address_by_heading(add, SKILL.section_ids) == add


def test_reflection_names_the_feedback_shared_by_failures() -> None:
    from skillfit.tasks.base import Score, Trajectory
    from skillfit.train.reflect import common_feedback, reflection_messages

    def failure(i: int, feedback: str) -> tuple[Item, Trajectory]:
        item = Item(f"i{i}", f"question {i}", "Yes")
        return item, Trajectory(f"i{i}", [], answer="Ann lies.", score=Score(0, 0.0, feedback))

    batch = [
        failure(1, "Wrong. Expected: 'Yes'. Given: 'Ann lies.'. The answer should be yes or no."),
        failure(2, "Wrong. Expected: 'No'. Given: 'Bo lies.'. The answer should be yes or no."),
        failure(3, "Wrong. The reply was cut off."),
    ]
    assert common_feedback(batch) == ["- (2 tasks) The answer should be yes or no."]
    user = reflection_messages(Skill.parse(""), batch, max_edits=2, buffer=[], meta_skill="")[1]
    assert "(2 tasks) The answer should be yes or no." in user["content"]
