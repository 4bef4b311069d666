"""Worked examples of training items (`optimizer.examples: train`) and the task's answer
vocabulary in the knowledge section, on a file task whose answers are six team codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from train_fakes import config, run

from skillfit.app.audit import audit_run, audit_text, deliberate_examples, run_examples
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.optim.examples import (
    WORKING_CHARS,
    TrainExamples,
    Working,
    propose_example,
    reply_working,
    scorer_accepts,
    solved_candidates,
    tried_items,
)
from skillfit.optim.guard import check_edit, drop_overlaps
from skillfit.optim.knowledge import answer_vocabulary
from skillfit.optim.marked import (
    example_block,
    examples_section,
    item_question,
    parse_examples,
    skill_examples,
)
from skillfit.optim.merge import merge
from skillfit.optim.needles import leak_needles
from skillfit.optim.prompting import render_edit
from skillfit.optim.vocabulary import item_words
from skillfit.skill import Edit, Skill
from skillfit.tasks import get_task
from skillfit.tasks.base import Item, Score, Trajectory

TEAMS = {
    "BILL": "my invoice shows a charge twice",
    "TECH": "the app crashes when I open it",
    "SHIP": "my parcel has not arrived",
    "ACCT": "I cannot reset my password",
    "RTRN": "I want to send the shoes back",
    "SALE": "I would like a quote for new seats",
}
FIXTURES = Path(__file__).parent / "fixtures" / "examples"
ONE_OFF = "4172"  # the answer of one training ticket, no team code


def ticket_rows(prefix: str = "") -> list[dict[str, str]]:
    rows = []
    for split, n in (("train", 3), ("validation", 1), ("test", 1)):
        for k in range(n):
            for code, text in TEAMS.items():
                rows.append(
                    {
                        "id": f"{split[:3]}-{code.lower()}-{k}",
                        "ticket": f"{prefix}Ticket from customer {split[:3]}{k}: {text}.",
                        "team": code,
                        "split": split,
                    }
                )
    rows.append(
        {
            "id": "tra-count",
            "ticket": "Ticket from customer z: how many licences did we buy last year?",
            "team": ONE_OFF,
            "split": "train",
        }
    )
    return rows


def _ticket_task(tmp_path: Path, prefix: str = "") -> Any:
    path = tmp_path / "tickets.jsonl"
    rows = ticket_rows(prefix)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return get_task("file", path=str(path), input="ticket", target="team", id="id", split="split")


@pytest.fixture
def tickets(tmp_path: Path) -> Any:
    return _ticket_task(tmp_path)


@pytest.fixture
def labelled(tmp_path: Path) -> Any:
    """The same tickets, each input beginning with `Question:` as BIG-Bench Hard's do."""
    return _ticket_task(tmp_path, prefix="Question: ")


def _check(task: Any) -> TrainExamples:
    splits = task.splits()
    needles = leak_needles([*splits["train"], *splits["val"]])
    return TrainExamples(splits["train"], scorer_accepts(task.score), needles=needles)


def _example(
    item: Item, answer: str | None = None, working: str = "Invoices go to billing."
) -> str:
    return example_block(item.id, item.input, [working], answer or str(item.target))


def _guard(task: Any, edit: Edit, skill: Skill, *, examples: bool = True) -> str | None:
    splits = task.splits()
    items = [*splits["train"], *splits["val"]]
    return check_edit(
        edit,
        skill,
        needles=leak_needles(items),
        max_tokens=2000,
        words=item_words(items),
        examples=_check(task) if examples else None,
    )


def test_a_training_item_solved_with_its_gold_answer_passes_the_guard_marked(tickets: Any) -> None:
    bill = next(i for i in tickets.splits()["train"] if i.target == "BILL")
    edit = Edit(op="add", content=examples_section([_example(bill)]))
    assert _guard(tickets, edit, Skill.parse("# Routing\n\nRoute each ticket.\n")) is None
    skill = Skill.parse("# Routing\n\nRoute each ticket.\n").apply([edit]).skill
    assert f"<!-- example: {bill.id} -->" in skill.section("examples").body
    # Without the run's example check, the same text is item text like any other.
    assert "quotes" in str(_guard(tickets, edit, Skill.parse("# R\n\nx\n"), examples=False))


def test_examples_of_validation_items_wrong_answers_or_copied_feedback_are_refused(
    tickets: Any,
) -> None:
    splits = tickets.splits()
    bill = next(i for i in splits["train"] if i.target == "BILL")
    val = splits["val"][0]
    skill = Skill.parse("# Routing\n\nRoute each ticket.\n")
    cases = {
        "must be a training item": _example(val),
        "gold answer": _example(bill, answer="TECH"),
        "feedback": _example(bill, working="Expected: 'BILL'. Given: 'TECH'."),
        "quotes another item": _example(bill, working=f"Like {splits['train'][1].input}"),
    }
    for reason, block in cases.items():
        problem = _guard(tickets, Edit(op="add", content=examples_section([block])), skill)
        assert problem and reason in problem, (reason, problem)
    # Item text outside a marked example is still a leak, beside a deliberate example too.
    leaked = examples_section([_example(bill)]) + f"\n\nAlso: {splits['val'][2].input}"
    assert "quotes" in str(_guard(tickets, Edit(op="add", content=leaked), skill))


def test_the_scorer_must_accept_the_example(tickets: Any) -> None:
    bill = next(i for i in tickets.splits()["train"] if i.target == "BILL")
    strict = TrainExamples(tickets.splits()["train"], lambda item, reply: False)
    (example,) = parse_examples(_example(bill))
    assert "scorer does not accept" in str(strict.example_problem(example))


def test_more_than_three_examples_are_refused_and_a_swap_is_not(tickets: Any) -> None:
    train = tickets.splits()["train"]
    blocks = [_example(item, working="Read what the ticket is about.") for item in train[:4]]
    skill = Skill.parse("# Routing\n\nRoute.\n\n" + examples_section(blocks[:3]) + "\n")
    fourth = Edit(op="add", section="examples", content=blocks[3])
    assert "more than 3 examples" in str(_guard(tickets, fourth, skill))
    swap = Edit(op="replace", section="examples", anchor=blocks[0], content=blocks[3])
    assert _guard(tickets, swap, skill) is None
    again = Edit(op="replace", section="examples", anchor=blocks[0], content=blocks[1])
    assert "twice" in str(_guard(tickets, again, skill))


def test_the_audit_names_deliberate_examples_and_refuses_the_rest(tickets: Any) -> None:
    splits = tickets.splits()
    items = [*splits["train"], *splits["val"], *splits["test"]]
    bill = next(i for i in splits["train"] if i.target == "BILL")
    text = "# Routing\n\nRoute each ticket.\n\n" + examples_section([_example(bill)])
    assert audit_text(text, items=items, train=splits["train"]) == []
    assert deliberate_examples(text, splits["train"]) == ([bill.id], [])
    assert any("quotes a task item" in p for p in audit_text(text, items=items))
    wrong = text + "\n\n" + _example(splits["val"][0])
    problems = audit_text(wrong, items=items, train=splits["train"])
    assert any("not a training item" in p for p in problems)
    assert any("quotes a task item" in p for p in problems)  # its text is read as a leak


# ---- training on the scripted models -------------------------------------------------------


def _target(request: Request) -> str:
    """Routes a ticket right once the skill holds worked examples (or states its team's code
    and topic); crashes and invoices it gets right anyway, with a line of working before the
    answer line, so there are rollouts to learn from."""
    ticket = request.last_user
    code = next((c for c, t in TEAMS.items() if t in ticket), None)
    if code is None:
        return "Answer: Please contact customer support"
    knows = "## Examples" in request.system or f"{code} handles" in request.system
    if knows or code in ("BILL", "TECH"):
        return f"The customer writes: {TEAMS[code]}.\n\nThat is for {code}.\nAnswer: {code}"
    return "Answer: Please contact customer support"


def _optimizer(replies: dict[str, Any], seen: list[Request] | None = None) -> ScriptedModel:
    def reply(request: Request) -> Any:
        if seen is not None:
            seen.append(request)
        if "You check the work of an AI model" in request.system:
            return {
                "task": "routing support tickets to a team",
                "mistakes": ["replied to the customer instead of naming a team"],
                "contrast": "the right answers named one team",
            }
        for key, value in replies.items():
            if key in request.system:
                return value(request) if callable(value) else value
        return {"analysis": "x", "rules": []}

    return ScriptedModel(reply, name="scripted:optimizer")


STEPS = {"steps": ["Write what the customer writes.", "Write the team for it."]}


def _train(tmp_path: Path, task: Any, optimizer: ScriptedModel, *overrides: str) -> Path:
    cfg = config(
        tmp_path,
        "optimizer.procedure=false",
        "train.batch_size=6",
        "train.minibatch_size=6",
        "train.max_steps=2",
        *overrides,
    )
    run(cfg, task, ScriptedModel(_target, name="scripted:target"), optimizer)
    return tmp_path / "run"


def test_an_example_from_a_correct_training_rollout_is_adopted_and_audited_as_deliberate(
    tmp_path: Path, tickets: Any
) -> None:
    seen: list[Request] = []
    optimizer = _optimizer({}, seen)
    root = _train(
        tmp_path,
        tickets,
        optimizer,
        "optimizer.examples=train",
        "train.batch_size=19",
        "train.minibatch_size=19",
        "train.max_steps=1",
    )
    best = (root / "best_skill.md").read_text(encoding="utf-8")
    (example,) = parse_examples(best)
    train = {i.id: i for i in tickets.splits()["train"]}
    item = train[example.item_id]
    assert item.target in ("BILL", "TECH")  # a rollout the target got right
    assert "## Examples\n\nQuestions of this task, solved." in best
    # The working is the target's own reply before its answer line; the answer line the gold one.
    assert (
        f"Question: {item.input}\nReply:\nThe customer writes: {TEAMS[item.target]}.\n"
        f"That is for {item.target}.\nAnswer: {item.target}"
    ) in best
    splits = tickets.splits()
    items = [*splits["train"], *splits["val"], *splits["test"]]
    assert audit_run(root, items=items, train=splits["train"]) == []
    assert run_examples(root, train=splits["train"]) == [item.id]
    # The run audited itself at its end the same way (audit.json).
    written = json.loads((root / "audit.json").read_text(encoding="utf-8"))
    assert written["problems"] == [] and written["deliberate_examples"] == [item.id]
    # No optimizer call wrote it, and the rules call saw no item.
    assert not any("solved question" in r.system for r in seen)
    rules = [r for r in seen if "You write rules" in r.system]
    assert rules and all(item.input not in r.last_user for r in rules)
    proposals = json.loads((root / "steps" / "step_0001" / "proposals.json").read_text())
    (record,) = [d["train_example"] for d in proposals[0]["diagnoses"] if "train_example" in d]
    assert record["chosen"]["item"] == item.id and record["chosen"]["cut"] is False
    # Correct rollouts only: the wrong ones ("Answer: Please contact ...") are never candidates.
    assert all(train[p["item"]].target in ("BILL", "TECH") for p in record["passed_over"])


def test_an_example_reaches_the_candidate_beside_the_procedure_of_the_same_step(
    tmp_path: Path, labelled: Any
) -> None:
    optimizer = _optimizer({"You design the working steps": STEPS})
    root = _train(
        tmp_path,
        labelled,
        optimizer,
        "optimizer.examples=train",
        "optimizer.procedure=true",
        "train.batch_size=19",
        "train.minibatch_size=19",
        "train.max_steps=1",
    )
    step = root / "steps" / "step_0001"
    merged = json.loads((step / "merged.json").read_text())
    assert [r["reason"] for r in merged["guard_rejected"]] == []
    candidate = (step / "candidate_skill.md").read_text(encoding="utf-8")
    assert "## Working steps" in candidate and "## Examples" in candidate
    (example,) = parse_examples(candidate)
    item = next(i for i in labelled.splits()["train"] if i.id == example.item_id)
    assert item.input.startswith("Question: ")  # the input's own label, written once
    assert "Question: Question:" not in candidate
    assert f"{item.input}\nReply:\nThe customer writes:" in candidate
    assert example.question == item_question(item.input)
    assert _check(labelled).example_problem(example) is None


def _rollout(item: Item, reply: str, hard: int = 1, sample: int = 0) -> tuple[Item, Trajectory]:
    messages = [{"role": "user", "content": item.input}, {"role": "assistant", "content": reply}]
    return item, Trajectory(
        item.id, messages, answer=reply, score=Score(hard, float(hard)), sample=sample
    )


def test_the_working_is_the_replys_lines_before_its_answer_cut_at_a_whole_line() -> None:
    long = [
        f"Line {n}: " + "the customer asks about a charge on the invoice " * 5 for n in range(4)
    ]
    working = reply_working("\n".join([*long, "**Answer:** BILL", "Some words after."]))
    assert isinstance(working, Working) and working.cut
    assert list(working.lines) == [" ".join(line.split()) for line in long[: len(working.lines)]]
    assert 0 < sum(len(line) + 1 for line in working.lines) <= WORKING_CHARS + 1
    whole = reply_working("First.\n\n  Second,   spaced.\nAnswer: BILL")
    assert whole == Working(("First.", "Second, spaced."), cut=False)
    assert (
        reply_working("Answer: BILL\nbecause it is a charge") == "no working before the answer line"
    )
    assert reply_working("It is BILL.") == "no answer line"
    assert "longer than" in str(reply_working("x" * (WORKING_CHARS + 1) + "\nAnswer: BILL"))


def test_the_pass_takes_a_correct_training_reply_and_never_a_wrong_or_a_refused_one(
    tickets: Any,
) -> None:
    splits = tickets.splits()
    train = splits["train"]
    bill, tech, ship, sale = (
        next(i for i in train if i.target == c) for c in ("BILL", "TECH", "SHIP", "SALE")
    )
    check = _check(tickets)
    skill = Skill.parse("# Routing\n\nRoute.\n")
    long = "\n".join(
        f"Point {n}: the customer writes about the parcel and its route." * 3 for n in range(6)
    )
    rollouts = [
        _rollout(sale, "The customer wants seats, so sales.\nAnswer: SALE", hard=0),  # wrong
        _rollout(splits["val"][0], "A val item.\nAnswer: BILL"),  # not a training item
        _rollout(tech, "Answer: TECH"),  # no working
        _rollout(bill, "Expected: 'BILL'. Given: 'TECH'.\nAnswer: BILL"),  # copies feedback
        _rollout(ship, f"{long}\nAnswer: SHIP"),  # working cut
        _rollout(tech, "A crash: the app's team.\nAnswer: TECH", sample=1),
    ]
    proposal = propose_example(skill, rollouts, check)
    assert proposal is not None and proposal.edit is not None
    (example,) = parse_examples(proposal.edit.content)
    # The whole working beats the cut one; the wrong reply and the val item are no candidates.
    assert (example.item_id, example.working) == (tech.id, ("A crash: the app's team.",))
    why = {(p["item"], p["why"]) for p in proposal.record["passed_over"]}
    assert (tech.id, "no working before the answer line") in why
    assert any(i == bill.id and "feedback" in w for i, w in why)
    assert {i for i, _ in why} | {ship.id, tech.id} == {bill.id, ship.id, tech.id}
    assert proposal.record["candidates"] == 2
    # With only the long reply, its working is cut at a whole line.
    only = propose_example(skill, rollouts[:5], check)
    assert only is not None and only.edit is not None
    (cut,) = parse_examples(only.edit.content)
    assert only.record["chosen"]["cut"] is True
    assert all(line in long.split("\n") for line in cut.working) and cut.working
    # Wrong replies alone give no example.
    wrong = propose_example(skill, [_rollout(bill, "It is billing.\nAnswer: BILL", hard=0)], check)
    assert wrong is not None and wrong.edit is None and wrong.record["chosen"] is None


def test_a_full_section_is_kept_and_a_turned_down_item_goes_last(tickets: Any) -> None:
    train = tickets.splits()["train"]
    held = [i for i in train if i.target in ("SHIP", "ACCT", "RTRN")][:3]
    full = Skill.parse(
        "# Routing\n\nRoute.\n\n"
        + examples_section([_example(i, working="Read the ticket.") for i in held])
    )
    bill = next(i for i in train if i.target == "BILL")
    tech = next(i for i in train if i.target == "TECH")
    rollouts = [_rollout(bill, "A charge.\nAnswer: BILL"), _rollout(tech, "The app.\nAnswer: TECH")]
    assert propose_example(full, rollouts, _check(tickets)) is None
    two = Skill.parse("# Routing\n\nRoute.\n\n" + examples_section([_example(held[0])]))
    first = propose_example(two, rollouts, _check(tickets))
    assert first is not None and first.edit is not None
    # The shorter block first (it costs its length in every rollout).
    assert first.edit.section == "examples" and f"example: {tech.id} " in first.edit.content
    # Once the gate has turned an example of that item down, the other goes first.
    tried = tried_items([first.edit.model_dump()])
    again = propose_example(two, rollouts, _check(tickets), tried=tried)
    assert again is not None and again.edit is not None
    assert f"example: {bill.id} " in again.edit.content


def test_the_merge_keeps_an_example_whose_working_follows_the_procedure(tickets: Any) -> None:
    bill = next(i for i in tickets.splits()["train"] if i.target == "BILL")
    steps = [
        "Write what the customer writes about the ticket in a few words.",
        "Write the team that handles tickets like it.",
    ]
    procedure = Edit(
        op="add",
        content="## Working steps\n" + "\n".join(f"{n}. {s}" for n, s in enumerate(steps, 1)),
    )
    example = Edit(
        op="add", content=examples_section([example_block(bill.id, bill.input, steps, "BILL")])
    )
    ranked, repeats = drop_overlaps(merge([(0, procedure), (0, example)], {0: 1}))
    assert repeats == [] and [c.edit for c in ranked] == [procedure, example]
    # Rules repeating each other are still dropped.
    again = Edit(op="add", content="## Steps again\n" + steps[0])
    _, repeats = drop_overlaps(merge([(0, procedure), (0, again)], {0: 1}))
    assert [r.reason for r in repeats] == ["repeats a higher-ranked edit"]


def test_an_example_written_with_the_label_twice_still_parses_and_passes(labelled: Any) -> None:
    bill = next(i for i in labelled.splits()["train"] if i.target == "BILL")
    new = example_block(bill.id, bill.input, ["A charge: billing."], "BILL")
    assert new.count("Question:") == 1
    # A skill written before the label was written once: `Question: Question: ...`.
    old = new.replace("Question: ", "Question: Question: ", 1)
    skill = "# Routing\n\nRoute.\n\n" + examples_section([old]) + "\n"
    ((parsed,), (fresh,)) = parse_examples(skill), parse_examples(new)
    assert parsed.question == fresh.question == item_question(bill.input)
    assert (parsed.working, parsed.answer) == (fresh.working, fresh.answer)
    assert _check(labelled).example_problem(parsed) is None
    assert deliberate_examples(skill, labelled.splits()["train"]) == ([bill.id], [])
    # Round trip: written again, the example reads the same.
    (back,) = parse_examples(
        example_block(parsed.item_id, parsed.question, parsed.working, parsed.answer)
    )
    assert back.question == parsed.question and back.working == parsed.working


def test_a_skill_a_run_wrote_before_the_fix_still_parses_and_passes() -> None:
    """A web_of_lies run's adopted skill (seed 1, v0002), with its example's question written
    `Question: Question: ...`: read back as the item's question, accepted by the guard's
    check and named deliberate by the audit; and a reply that copied its working (as the
    0.5B did in the next step) is passed over."""
    task = get_task("bbh/web_of_lies", n_train=32, n_val=40, n_test=60, seed=0)
    train = task.splits()["train"]
    text = (FIXTURES / "web_of_lies_old_format.md").read_text(encoding="utf-8")
    assert "Question: Question:" in text
    (example,) = skill_examples(Skill.parse(text))
    item = next(i for i in train if i.id == example.item_id)
    assert example.question == item_question(item.input) and example.answer == "Yes"
    check = TrainExamples(train, scorer_accepts(task.score))
    assert check.example_problem(example) is None
    assert deliberate_examples(text, train) == ([item.id], [])
    other = next(i for i in train if i.target == "Yes" and i.id != item.id)
    copy = "\n".join([*example.working[:-1], "5. Determine the logical flow.", "Answer: Yes"])
    found, passed = solved_candidates([_rollout(other, copy)], check, [example])
    assert found == [] and passed[0]["why"] == "its working copies a held example's"


def test_a_tried_example_shows_to_the_optimizer_as_its_marker_only(tickets: Any) -> None:
    bill = next(i for i in tickets.splits()["train"] if i.target == "BILL")
    edit = {"op": "add", "content": examples_section([_example(bill)])}
    shown = render_edit(edit, limit=1000)
    assert f"<!-- example: {bill.id} --> (a solved question)" in shown
    assert bill.input not in shown and "Invoices go to billing." not in shown


def test_the_team_codes_may_be_stated_and_a_one_off_answer_may_not(
    tmp_path: Path, tickets: Any
) -> None:
    assert answer_vocabulary(tickets.splits()["train"]).labels[:6] == tuple(TEAMS)
    seen: list[Request] = []
    facts = {
        "facts": [
            *(f"{code} handles tickets where {text}" for code, text in TEAMS.items()),
        ][:3]
        + [f"Last year's licence count was {ONE_OFF}"]
    }
    optimizer = _optimizer({"what a solver must know": facts}, seen)
    root = _train(
        tmp_path,
        tickets,
        optimizer,
        "optimizer.knowledge=true",
        "train.batch_size=19",
        "train.minibatch_size=19",
        "train.max_steps=1",
    )
    # The knowledge pass is shown the task's answer labels (never an item's answer).
    asked = next(r for r in seen if "what a solver must know" in r.system).last_user
    assert "# The answers this task takes" in asked and "BILL, TECH, SHIP" in asked
    assert ONE_OFF not in asked
    best = (root / "best_skill.md").read_text(encoding="utf-8")
    assert (
        "## What to know\n\n- BILL handles tickets where my invoice shows a charge twice." in best
    )
    assert ONE_OFF not in best
    proposals = json.loads((root / "steps" / "step_0001" / "proposals.json").read_text())
    refused = [f for d in proposals[0]["diagnoses"] if "knowledge" in d for f in d["refused_facts"]]
    assert [f["step"] for f in refused] == [f"Last year's licence count was {ONE_OFF}"]


def test_the_optimizer_sees_a_held_example_as_its_marker_only(tickets: Any) -> None:
    from skillfit.optim.prompting import render_skill

    bill = next(i for i in tickets.splits()["train"] if i.target == "BILL")
    skill = Skill.parse("# Routing\n\nRoute.\n\n" + examples_section([_example(bill)]))
    shown = render_skill(skill)
    assert f"<!-- example: {bill.id} --> (a solved question)" in shown
    assert bill.input not in shown and "Invoices go to billing." not in shown


def test_a_task_with_no_scorer_of_replies_cannot_take_examples(tmp_path: Path) -> None:
    from train_fakes import AddTask, Optimizer, target_model

    from skillfit.core.errors import TrainError

    with pytest.raises(TrainError, match="optimizer.examples: train needs a task scored"):
        run(
            config(tmp_path, "optimizer.examples=train"),
            AddTask(),
            target_model(),
            Optimizer().model,
        )
