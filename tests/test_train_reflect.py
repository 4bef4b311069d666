"""The `diagnose` reflection: kinds of mistakes first, then rules written with no item in view."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from train_fakes import MAGIC, AddTask, Optimizer, config, edit, run, target_model

from skillfit.models.scripted import Request, ScriptedModel
from skillfit.optim.needles import leak_needles
from skillfit.optim.vocabulary import item_words
from skillfit.skill import Skill
from skillfit.tasks.base import Item, Score, Trajectory
from skillfit.train.reflect import (
    Diagnosis,
    Findings,
    OptimizerSettings,
    item_numbers,
    particular_words,
    question_names,
    reflect,
    usable_steps,
)


def _examples(n_wrong: int, n_right: int = 1) -> list[tuple[Item, Trajectory]]:
    out = []
    for i in range(n_wrong + n_right):
        item = Item(
            id=f"i{i}", input=f"Sam has {i + 3} red marbles and {i + 7} blue ones.", target="9"
        )
        right = i >= n_wrong
        score = Score(hard=int(right), soft=float(right), feedback="Wrong." if not right else "")
        out.append((item, Trajectory(item_id=item.id, messages=[], answer="5", score=score)))
    return out


def test_rules_are_asked_for_without_any_item_in_view() -> None:
    seen: list[Request] = []

    def optimizer(request: Request) -> Any:
        seen.append(request)
        if "You check the work of an AI model" in request.system:
            return {
                "task": "counting objects of one colour",
                "mistakes": ["counted every colour", "counted every colour", "stopped early"],
                "contrast": "the right answers listed each object before adding",
            }
        return {
            "analysis": "x",
            "rules": [
                {
                    "fixes": "x",
                    "title": "Count",
                    "rule": "List each object, then add.",
                    "replaces": None,
                }
            ],
        }

    examples = _examples(n_wrong=4)
    (proposal,) = reflect(
        ScriptedModel(optimizer),
        Skill.parse(""),
        examples,
        minibatch_size=3,
        max_edits=2,
        buffer=[],
        meta_skill="",
        settings=OptimizerSettings(procedure=False),
    )
    diagnose_calls = [r for r in seen if "You check the work" in r.system]
    rules_calls = [r for r in seen if "You write rules" in r.system]
    assert len(diagnose_calls) == 2 and len(rules_calls) == 1  # two minibatches, one rules call
    assert "red marbles" in diagnose_calls[0].last_user
    rules_prompt = rules_calls[0].last_user
    assert not any(it.input in rules_prompt or "marbles" in rules_prompt for it, _ in examples)
    assert "counted every colour (4 times)" in rules_prompt  # pooled over both minibatches
    assert "listed each object before adding" in rules_prompt
    assert [e.content for e in proposal.edits] == ["## Count\nList each object, then add."]
    assert proposal.n_failures == 4 and len(proposal.diagnoses) == 2


def test_a_diagnosis_quoting_an_item_never_reaches_the_rules_call() -> None:
    examples = _examples(n_wrong=2)
    needles = leak_needles([it for it, _ in examples])
    seen: list[str] = []

    def optimizer(request: Request) -> Any:
        if "You write rules" in request.system:
            seen.append(request.last_user)
        if "You check the work of an AI model" in request.system:
            return {
                "task": "counting",
                "mistakes": ["Sam has 3 red marbles and 7 blue ones", "added the wrong colour"],
                "contrast": "",
            }
        return {"analysis": "x", "rules": []}

    (proposal,) = _reflect_once(
        ScriptedModel(optimizer), Skill.parse(""), examples=examples, max_edits=1, needles=needles
    )
    assert len(seen) == 1
    assert "marbles" not in seen[0] and "added the wrong colour" in seen[0]
    assert proposal.diagnoses[-1]["dropped_for_quoting_an_item"]


def test_no_usable_diagnosis_asks_for_no_rules() -> None:
    calls: list[str] = []

    def optimizer(request: Request) -> Any:
        calls.append(request.system)
        return "not json at all"

    (proposal,) = reflect(
        ScriptedModel(optimizer),
        Skill.parse(""),
        _examples(n_wrong=2),
        minibatch_size=8,
        max_edits=1,
        buffer=[],
        meta_skill="",
        settings=OptimizerSettings(retries=0),
    )
    assert not proposal.ok and proposal.edits == []
    assert not any("You write rules" in s for s in calls)


def test_a_run_in_diagnose_mode_learns_and_records_the_diagnoses(tmp_path: Path) -> None:
    opt = Optimizer([{"analysis": "missing method", "edits": [edit()]}])
    result = run(config(tmp_path), AddTask(), target_model(), opt.model)
    assert MAGIC in result.best_skill
    import json

    proposals = json.loads((tmp_path / "run/steps/step_0001/proposals.json").read_text())
    assert proposals[0]["diagnoses"][0]["optimizer"]["parsed"]["mistakes"] == ["gave no sum"]


def test_diagnoses_copying_the_prompt_or_the_guide_are_dropped() -> None:
    from skillfit.optim.prompting import load_prompt
    from skillfit.train.reflect import Diagnosis, Findings

    guide = "## Approach\nRead the question carefully and reason in a few short steps."
    findings = Findings()
    findings.add(
        Diagnosis(
            task="Read the question carefully and reason in a few short steps",
            mistakes=["used cups where grams were asked", "stopped after the first clue"],
            contrast="",
        ),
        needles=[],
        echo=f"{load_prompt('diagnose')}\n{guide}",
    )
    assert findings.task == ""
    assert list(findings.mistakes) == ["stopped after the first clue"]


def test_diagnoses_retelling_shown_items_or_their_answers_are_dropped() -> None:
    from skillfit.train.reflect import Diagnosis, Findings

    # A GSM8K diagnosis, as the 1.5B wrote it: its rules asked for "the total cost, not the
    # total number of servings", one question's particulars.
    findings = Findings()
    findings.add(
        Diagnosis(
            task="In the first three tasks, the AI model misread what was asked",
            mistakes=["misread what was asked", "skipped the second question's units"],
            contrast="The correct answer should be the total cost, not the number of servings.",
        ),
        needles=[],
    )
    assert findings.task == ""
    assert list(findings.mistakes) == ["misread what was asked"]
    assert findings.contrasts == []
    findings.add(
        Diagnosis(
            task="word problems asking for one number",
            mistakes=["answered a different question than the one asked"],
            contrast="The right answers wrote each quantity before computing.",
        ),
        needles=[],
    )
    assert findings.task == "word problems asking for one number"
    assert findings.contrasts == ["The right answers wrote each quantity before computing"]


def test_the_diagnosis_prompt_lists_answers_and_shared_feedback() -> None:
    from skillfit.train.reflect import diagnosis_messages

    batch = _examples(n_wrong=2)
    user = diagnosis_messages(Skill.parse(""), batch)[1]["content"]
    assert '# In short\n- answered "5", expected "9"' in user


def _procedure_optimizer(seen: list[Request], steps: list[str]) -> Any:
    def optimizer(request: Request) -> Any:
        seen.append(request)
        if "You check the work of an AI model" in request.system:
            return {
                "task": "counting objects of one colour",
                "mistakes": ["counted every colour", "stopped early"],
                "contrast": "the right answers listed each object before adding",
            }
        if "You design the working steps" in request.system:
            return {"steps": steps}
        return {
            "analysis": "x",
            "rules": [
                {
                    "fixes": "x",
                    "title": "Colour",
                    "rule": "Name the colour asked.",
                    "replaces": None,
                }
            ],
        }

    return optimizer


def _reflect_once(
    optimizer: ScriptedModel,
    skill: Skill,
    *,
    n_wrong: int = 3,
    examples: list[tuple[Item, Trajectory]] | None = None,
    max_edits: int = 2,
    procedure: bool = True,
    example: bool = False,
    knowledge: bool = False,
    **guard: Any,
) -> Any:
    """One `diagnose` reflection over `examples` (default: `n_wrong` failures and one success)
    in one minibatch; `guard` passes reflect's needles or words."""
    return reflect(
        optimizer,
        skill,
        examples if examples is not None else _examples(n_wrong=n_wrong),
        minibatch_size=4,
        max_edits=max_edits,
        buffer=[],
        meta_skill="",
        settings=OptimizerSettings(procedure=procedure, example=example, knowledge=knowledge),
        **guard,
    )


def test_a_skill_without_a_procedure_gets_one_as_its_first_edit() -> None:
    seen: list[Request] = []
    steps = ["Write each object of the colour asked, one per line.", "Write how many you listed."]
    (proposal,) = _reflect_once(
        ScriptedModel(_procedure_optimizer(seen, steps)),
        Skill.parse("## Colour\nCount only one colour."),
        n_wrong=3,
    )
    first = proposal.edits[0].content or ""
    assert first.startswith("## Working steps\nBefore the answer line, write `Steps:`")
    assert "1. Write each object of the colour asked, one per line." in first
    assert "2. Write how many you listed." in first
    assert first.endswith("Only after the last step, write the answer line.")
    assert [e.content for e in proposal.edits[1:]] == ["## Colour\nName the colour asked."]
    procedure_call = next(r for r in seen if "You design the working steps" in r.system)
    shown = procedure_call.last_user
    assert "counted every colour" in shown
    # Two questions for the task's shape, never an answer, reply or feedback.
    assert shown.count("red marbles") == 2 and "Question 2:" in shown
    assert "Expected" not in shown and "Wrong." not in shown and "answer: 5" not in shown.lower()


def test_steps_naming_a_shown_questions_particulars_are_refused() -> None:
    items = [
        Item(id=f"q{i}", input=f"Does {a} tell the truth? {b} lies.", target="No")
        for i, (a, b) in enumerate(
            [("Fidel", "Osvaldo"), ("Jaymie", "Kandi")] + [(f"P{i}", f"Q{i}") for i in range(40)]
        )
    ]
    examples = [
        (it, Trajectory(item_id=it.id, messages=[], answer="Yes", score=Score(hard=0, soft=0.0)))
        for it in items[:4]
    ]
    steps = [
        "Write whether Fidel and Osvaldo tell the truth.",
        "Write each person and whether they lie.",
        "Write what the last person does.",
    ]
    (proposal,) = _reflect_once(
        ScriptedModel(_procedure_optimizer([], steps)),
        Skill.parse(""),
        examples=examples,
        words=item_words(items),
    )
    first = proposal.edits[0].content or ""
    assert "Fidel" not in first and "1. Write each person and whether they lie." in first
    refused = str([r.get("refused_steps") for r in proposal.diagnoses])
    assert "names an item's particulars" in refused


def test_no_second_procedure_once_the_skill_has_one_and_copied_steps_are_refused() -> None:
    with_procedure = Skill.parse(
        "## Working steps\nBefore the answer line, write `Steps:` and then:\n1. List.\n2. Add."
    )
    seen: list[Request] = []
    _reflect_once(
        ScriptedModel(_procedure_optimizer(seen, ["List them.", "Add them."])),
        with_procedure,
        n_wrong=3,
    )
    assert not any("You design the working steps" in r.system for r in seen)

    copied = ["Write each ingredient amount the recipe lists, with its unit.", "Write the total."]
    (proposal,) = _reflect_once(
        ScriptedModel(_procedure_optimizer([], copied)), Skill.parse(""), n_wrong=3
    )
    assert all("Working steps" not in (e.content or "") for e in proposal.edits)
    # Asked again (1 + retries samples), every reply copied: no procedure, and the record says why.
    assert any("copies the prompt" in str(r.get("procedure")) for r in proposal.diagnoses)
    assert proposal.invalid == []  # refused steps are not edits: nothing for the buffer


def test_a_procedure_copying_the_prompts_example_is_asked_for_again() -> None:
    """A small optimizer sometimes hands back the prompt's own example; another sample is asked
    for, and its steps are used."""
    example = [
        "Write each ingredient amount the recipe lists, with its unit.",
        "Write the factor between the servings asked for and the servings the recipe makes.",
        "Write each amount times that factor.",
    ]
    own = ["Write each number of the expression.", "Write each result, innermost first."]
    seen: list[Request] = []

    def optimizer(request: Request) -> Any:
        if "You design the working steps" in request.system:
            seen.append(request)
            return {"steps": example if request.sample == 0 else own}
        return _procedure_optimizer([], own)(request)

    (proposal,) = _reflect_once(ScriptedModel(optimizer), Skill.parse(""), n_wrong=3)
    assert len(seen) == 2 and seen[1].sample == 1
    first = proposal.edits[0].content or ""
    assert "1. Write each number of the expression." in first and "recipe" not in first


def test_a_rule_copying_the_rules_prompts_example_is_refused() -> None:
    def optimizer(request: Request) -> Any:
        if "You check the work of an AI model" in request.system:
            return {"task": "sums", "mistakes": ["added wrongly"], "contrast": ""}
        example = (
            "Before the answer line, write each quantity converted to the unit the question "
            "asks for, one per line."
        )
        return {
            "analysis": "x",
            "rules": [
                {"fixes": "x", "title": "Convert first", "rule": example, "replaces": None},
                {"fixes": "x", "title": "Carry", "rule": "Write each carry.", "replaces": None},
            ],
        }

    (proposal,) = _reflect_once(
        ScriptedModel(optimizer), Skill.parse(""), n_wrong=2, max_edits=3, procedure=False
    )
    assert [e.content for e in proposal.edits] == ["## Carry\nWrite each carry."]
    assert any("copies the prompt's example" in str(bad) for bad in proposal.invalid)


def test_steps_of_reviewing_answers_are_not_the_targets_steps() -> None:
    steps = ["Write the mistakes made in the wrong answers.", "Write each count.", "Write the sum."]
    (proposal,) = _reflect_once(
        ScriptedModel(_procedure_optimizer([], steps)), Skill.parse(""), n_wrong=3
    )
    first = proposal.edits[0].content or ""
    assert "mistakes" not in first
    assert "1. Write each count." in first and "2. Write the sum." in first
    # The engine turns every invalid entry into a rejected edit: each must hold one.
    assert all("edit" in bad for bad in proposal.invalid)


def test_steps_of_grading_the_answer_are_refused() -> None:
    steps, refused = usable_steps(
        [
            "Write the gold label of the question.",
            "Write whether the grader would accept the answer.",
            "Write each option, then the one the statements support.",
        ]
    )
    assert steps == ["Write each option, then the one the statements support."]
    assert [r["reason"] for r in refused] == ["a step of reviewing answers"] * 2


def test_the_questions_shown_do_not_depend_on_the_hash_seed() -> None:
    """Equal-length questions are chosen by text, not by a set's order (which changes with
    PYTHONHASHSEED), so a rerun sends the same prompt and replays from the cache."""
    code = (
        "from skillfit.tasks.base import Item, Trajectory\n"
        "from skillfit.train.reflect import shape_questions\n"
        "items = [Item(f'i{n}', f'Question {n:02d} here', '1') for n in range(30)]\n"
        "print(shape_questions([(it, Trajectory(item_id=it.id, messages=[])) for it in items]))"
    )
    shown = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert shown == {"['Question 00 here', 'Question 01 here']\n"}


def test_a_step_naming_someone_from_a_shown_question_is_refused() -> None:
    questions = [
        "Question: Osvaldo lies. Gwenn says Osvaldo lies. Does Gwenn tell the truth?",
        "Janet has 3 apples and buys 2 more. How many apples does Janet have?",
    ]
    steps, refused = usable_steps(
        [
            "Write each person and whether they lie.",
            "Write whether Gwenn tells the truth.",
            "Write what Janet buys.",
            "Write the answer to the Question.",
            "Write the expression inside the parentheses for question 1.",
            "Write the resulting values: 7 * 8 = 56, 1 + 3 = 4.",
            "Write each sum inside the parentheses, innermost first.",
        ],
        names=question_names(questions),
    )
    assert steps == [
        "Write each person and whether they lie.",
        "Write the answer to the Question.",
        "Write each sum inside the parentheses, innermost first.",
    ]
    assert [r["step"] for r in refused] == [
        "Write whether Gwenn tells the truth.",
        "Write what Janet buys.",
        "Write the expression inside the parentheses for question 1.",
        "Write the resulting values: 7 * 8 = 56, 1 + 3 = 4.",
    ]


def _example_optimizer(seen: list[Request], examples: list[dict[str, Any]]) -> Any:
    """The procedure optimizer, answering the example pass with `examples` in turn (the last
    one again once they run out); `seen` gets the example pass's requests."""
    steps = ["Write each object of the colour asked, one per line.", "Write how many you listed."]
    base = _procedure_optimizer([], steps)
    calls = iter(examples)
    last: list[dict[str, Any]] = []

    def optimizer(request: Request) -> Any:
        if "You write one worked example" in request.system:
            seen.append(request)
            last[:] = [next(calls, last[0] if last else examples[-1])]
            return last[0]
        return base(request)

    return optimizer


def test_the_example_pass_adds_a_made_up_worked_example_after_the_procedure() -> None:
    seen: list[Request] = []
    made_up = {
        "question": "Lee has 2 green pens and 5 yellow pens. How many yellow pens?",
        "working": ["Yellow pens: 5"],
        "answer": "5",
    }
    (proposal,) = _reflect_once(
        ScriptedModel(_example_optimizer(seen, [made_up])),
        Skill.parse(""),
        example=True,
        max_edits=3,
    )
    contents = [e.content or "" for e in proposal.edits]
    assert contents[0].startswith("## Working steps")
    assert contents[1] == (
        "## Worked example\nQuestion: Lee has 2 green pens and 5 yellow pens. How many yellow "
        "pens?\nReply:\nYellow pens: 5\nAnswer: 5\n\nReply in the same way: your working, "
        "one line per step, then the answer line."
    )
    assert contents[2] == "## Colour\nName the colour asked."
    # The example call sees the diagnoses, two questions' shape and the proposed steps, never
    # an answer, reply or feedback.
    shown = seen[-1].last_user
    assert "counted every colour" in shown and shown.count("red marbles") == 2
    assert "1. Write each object of the colour asked" in shown
    assert "Expected" not in shown and "Wrong." not in shown


def test_an_example_quoting_a_question_or_naming_its_people_is_asked_for_again() -> None:
    batch = [
        (Item(id=it.id, input=f"Count for Sam: {it.input}", target=it.target), tr)
        for it, tr in _examples(n_wrong=3)
    ]
    copied = {"question": batch[0][0].input, "working": ["Red: 3"], "answer": "3"}
    named = {"question": "Today Sam has 4 pens. How many pens?", "working": ["4"], "answer": "4"}
    fresh = {"question": "Kim has 4 pens. How many pens?", "working": ["Pens: 4"], "answer": "4"}
    seen: list[Request] = []
    (proposal,) = _reflect_once(
        ScriptedModel(_example_optimizer(seen, [copied, named, fresh])),
        Skill.parse(""),
        examples=batch,
        example=True,
        max_edits=3,
        needles=leak_needles(it for it, _ in batch),
    )
    assert len(seen) == 3
    assert "Question: Kim has 4 pens." in (proposal.edits[1].content or "")
    record = next(r for r in proposal.diagnoses if "example" in r)
    errors = [a["error"] for a in record["example"]["attempts"]]
    assert errors[:2] == ["quotes an item", "names an item's particulars"]


def test_no_example_pass_unless_asked_or_once_the_skill_has_one() -> None:
    made_up = {"question": "Kim has 4 pens. How many pens?", "working": ["4"], "answer": "4"}
    seen: list[Request] = []
    _reflect_once(ScriptedModel(_example_optimizer(seen, [made_up])), Skill.parse(""))
    assert seen == []
    skill = Skill.parse(
        "## Worked example\nQuestion: q\nReply:\nx\nAnswer: 1\n\n"
        "Reply in the same way: your working, one line per step, then the answer line."
    )
    _reflect_once(ScriptedModel(_example_optimizer(seen, [made_up])), skill, example=True)
    assert seen == []


def _word_problems() -> list[Item]:
    nouns = ["park", "ingredient", "bottle", "ticket", "garden", "marble", "candle", "stamp"]
    return [
        Item(id=f"w{i}", input=f"A {n} costs {i + 12} dollars. How much do 2,400 of them cost?")
        for i, n in enumerate(nouns * 3)
    ][:20]


def test_diagnoses_holding_a_shown_items_numbers_are_dropped_plain_words_are_not() -> None:
    items = _word_problems()
    findings = Findings()
    findings.add(
        Diagnosis(
            task="word problems about prices",
            mistakes=[
                "skipped the multiplication of 2,400 and 12",
                "added while it had to multiply, without listing the prices",
            ],
        ),
        needles=(),
        particular=item_numbers([items[0].input, items[1].input]),
        words=item_words(items),
    )
    assert list(findings.mistakes) == ["added while it had to multiply, without listing the prices"]
    assert findings.dropped == ["skipped the multiplication of 2,400 and 12"]


def test_a_step_naming_a_shown_questions_thing_is_refused() -> None:
    items = _word_problems()
    shown = particular_words([items[0].input], item_words(items))
    steps, refused = usable_steps(
        ["Write the area of the park.", "Write each price times how many are bought."],
        particular=shown,
    )
    assert steps == ["Write each price times how many are bought."]
    assert refused == [
        {"step": "Write the area of the park.", "reason": "names an item's particulars"}
    ]


def test_steps_fixed_on_a_shown_question_are_asked_for_again_without_the_questions() -> None:
    items = _word_problems()
    batch = [
        (it, Trajectory(item_id=it.id, messages=[], answer="1", score=Score(hard=0, soft=0.0)))
        for it in items[:4]
    ]
    shown: list[bool] = []

    def optimizer(request: Request) -> Any:
        if "You design the working steps" in request.system:
            with_questions = "for their shape only" in request.last_user
            # The last try sees neither the questions nor the prompt's recipe example.
            assert with_questions == ("scaling recipes" in request.system)
            shown.append(with_questions)
            if with_questions:
                return {"steps": ["Write the price of the park.", "Write the park's area."]}
            return {"steps": ["Write each price given.", "Write each product with its result."]}
        return _procedure_optimizer([], [])(request)

    (proposal,) = _reflect_once(
        ScriptedModel(optimizer), Skill.parse(""), examples=batch, words=item_words(items)
    )
    # Every sample with the questions in view (1 + retries) named the park; then one without.
    assert shown == [True, True, True, False]
    first = proposal.edits[0].content or ""
    assert "1. Write each price given." in first and "park" not in first
    record = next(r for r in proposal.diagnoses if "procedure" in r)
    assert len(record["procedure"]["attempts"]) == 4


def _sales(i: int, when: str) -> Item:
    return Item(id=f"s{i}", input=f"A shop sells {i + 30} cups of tea in the {when}.", target="9")


def test_a_step_naming_a_particular_of_a_diagnosed_but_unshown_item_is_refused() -> None:
    # The two shortest questions are shown for the task's shape; the longer one, about the
    # evening, only reached the optimizer through its diagnosis.
    shown = [_sales(i, "day") for i in range(2)]
    unshown = Item(
        id="s9",
        input="A shop sells 55 cups of tea in the morning and 55 in the evening.",
        target="9",
    )
    pool = [*shown, unshown, *(_sales(i, "week") for i in range(10, 40))]
    examples = [
        (it, Trajectory(item_id=it.id, messages=[], answer="7", score=Score(hard=0, soft=0.0)))
        for it in [*shown, unshown]
    ]
    steps = [
        "Write each quantity the question gives, one per line.",
        "Write the earnings for the evening.",
        "Write the total the question asks for.",
    ]
    (proposal,) = _reflect_once(
        ScriptedModel(_procedure_optimizer([], steps)),
        Skill.parse(""),
        examples=examples,
        words=item_words(pool),
    )
    first = proposal.edits[0].content or ""
    assert "evening" not in first and "2. Write the total the question asks for." in first
    assert "names an item's particulars" in str(
        [r.get("refused_steps") for r in proposal.diagnoses]
    )

    # Every sample names the evening: the one general step left still makes a procedure.
    (proposal,) = _reflect_once(
        ScriptedModel(_procedure_optimizer([], steps[:2])),
        Skill.parse(""),
        examples=examples,
        words=item_words(pool),
    )
    first = proposal.edits[0].content or ""
    assert "1. Write each quantity the question gives, one per line." in first
    assert "evening" not in first and "2." not in first


def test_diagnoses_holding_a_number_of_the_answers_shown_are_dropped() -> None:
    item = Item(id="m0", input="Ann sells 55 cups in the morning and 55 at night.", target="275")
    wrong = Trajectory(
        item_id="m0", messages=[], answer="110 cups, so 110", score=Score(hard=0, soft=0.0)
    )

    def optimizer(request: Request) -> Any:
        if "You check the work of an AI model" in request.system:
            return {
                "task": "word problems about sales",
                "mistakes": ["the result of 110 was not used", "expected 275 but gave less"],
                "contrast": "",
            }
        return {"analysis": "x", "rules": []}

    (proposal,) = _reflect_once(
        ScriptedModel(optimizer),
        Skill.parse(""),
        examples=[(item, wrong)],
        procedure=False,
    )
    assert proposal.diagnoses[-1]["dropped_for_quoting_an_item"] == [
        "the result of 110 was not used",
        "expected 275 but gave less",
    ]


def _knowing_optimizer(seen: list[Request], facts: list[str]) -> Any:
    steps = ["Write each object of the colour asked, one per line.", "Write how many you listed."]
    procedure = _procedure_optimizer(seen, steps)

    def optimizer(request: Request) -> Any:
        if "what a solver must know" in request.system:
            seen.append(request)
            return {"facts": facts}
        return procedure(request)

    return optimizer


def test_the_knowledge_pass_states_the_facts_after_the_procedure() -> None:
    seen: list[Request] = []
    facts = [
        "Objects of one colour are counted apart from the others.",
        "A bag of 10 blue marbles holds ten.",
        "The model should read the answer again.",
    ]
    (proposal,) = _reflect_once(
        ScriptedModel(_knowing_optimizer(seen, facts)),
        Skill.parse("## Colour\nCount only one colour."),
        max_edits=3,
        knowledge=True,
        words=item_words([it for it, _ in _examples(n_wrong=3)]),
    )
    contents = [e.content or "" for e in proposal.edits]
    assert contents[0].startswith("## Working steps")
    assert contents[1] == (
        "## What to know\n- Objects of one colour are counted apart from the others."
    )
    record = next(r for r in proposal.diagnoses if "knowledge" in r)
    assert len(record["refused_facts"]) == 2  # a number of a diagnosed item; one about the model
    shown = next(r for r in seen if "what a solver must know" in r.system).last_user
    assert "counted every colour" in shown and "Expected" not in shown


def test_no_knowledge_pass_once_the_skill_states_facts_or_when_off() -> None:
    seen: list[Request] = []
    facts = ["Objects of one colour are counted apart from the others."]
    with_facts = Skill.parse("## What to know\n- Colours are counted apart.")
    _reflect_once(ScriptedModel(_knowing_optimizer(seen, facts)), with_facts, knowledge=True)
    _reflect_once(ScriptedModel(_knowing_optimizer(seen, facts)), Skill.parse(""))
    assert seen and not any("what a solver must know" in r.system for r in seen)


def test_steps_pointing_at_a_shown_question_or_extending_the_prompts_example_are_refused() -> None:
    steps, refused = usable_steps(
        [
            "Write the expression inside the parentheses in the first question.",
            "Write each amount times that factor for the first question.",
            "Write each amount times that factor, one per line.",
            "Write the innermost parentheses and their result.",
        ]
    )
    assert steps == ["Write the innermost parentheses and their result."]
    assert [r["reason"] for r in refused] == [
        "names an item's particulars",
        "copies the prompt or repeats a step",
        "copies the prompt or repeats a step",
    ]


def test_a_procedure_working_a_made_up_example_off_the_task_is_not_proposed() -> None:
    # The 1.5B optimizer's steps on bbh/web_of_lies, asked from the diagnoses alone.
    people = ["Osvaldo", "Gwenn", "Michael", "Elanor", "Sal", "Ka"]
    items = [
        Item(
            id=f"w{i}",
            input=f"Question: {people[i % 6]} lies. {people[(i + 1) % 6]} says {people[i % 6]} "
            f"lies. Does {people[(i + 1) % 6]} tell the truth?",
            target="Yes" if i % 2 else "No",
        )
        for i in range(30)
    ]
    examples = [
        (it, Trajectory(item_id=it.id, messages=[], answer="No", score=Score(hard=0, soft=0.0)))
        for it in items[:4]
    ]
    france = [
        'Write the question: "What is the capital of France?"',
        'Write the answer: "Paris"',
        'Write the final answer: "Yes, Paris is the capital of France"',
    ]
    (proposal,) = _reflect_once(
        ScriptedModel(_procedure_optimizer([], france)),
        Skill.parse(""),
        examples=examples,
        words=item_words(items),
    )
    assert all("Working steps" not in (e.content or "") for e in proposal.edits)
    assert "quotes text foreign to the task" in str(proposal.diagnoses)

    steps, refused = usable_steps(
        [
            *france,
            'Write each claim as "X says Y lies", one per line.',
            'Write "Yes" if the last person tells the truth, else "No".',
        ],
        words=item_words(items),
    )
    assert steps == [
        'Write the answer: "Paris"',  # one word: too little to judge by itself
        'Write each claim as "X says Y lies", one per line.',
        'Write "Yes" if the last person tells the truth, else "No".',
    ]
    assert [r["reason"] for r in refused] == ["quotes text foreign to the task"] * 2
