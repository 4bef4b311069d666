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
from skillfit.optim.examples import TrainExamples, scorer_accepts
from skillfit.optim.guard import check_edit, item_words, leak_needles
from skillfit.optim.knowledge import answer_vocabulary
from skillfit.optim.marked import example_block, examples_section, parse_examples
from skillfit.optim.optimizer import OptimizerSettings
from skillfit.skill import Edit, Skill
from skillfit.tasks import get_task
from skillfit.tasks.base import Item, Score, Trajectory
from skillfit.train.reflect import reflect

TEAMS = {
    "BILL": "my invoice shows a charge twice",
    "TECH": "the app crashes when I open it",
    "SHIP": "my parcel has not arrived",
    "ACCT": "I cannot reset my password",
    "RTRN": "I want to send the shoes back",
    "SALE": "I would like a quote for new seats",
}
ONE_OFF = "4172"  # the answer of one training ticket, no team code


def ticket_rows() -> list[dict[str, str]]:
    rows = []
    for split, n in (("train", 3), ("validation", 1), ("test", 1)):
        for k in range(n):
            for code, text in TEAMS.items():
                rows.append(
                    {
                        "id": f"{split[:3]}-{code.lower()}-{k}",
                        "ticket": f"Ticket from customer {split[:3]}{k}: {text}.",
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


@pytest.fixture
def tickets(tmp_path: Path) -> Any:
    path = tmp_path / "tickets.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ticket_rows()), encoding="utf-8")
    return get_task("file", path=str(path), input="ticket", target="team", id="id", split="split")


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
    and topic); crashes and invoices it gets right anyway, so there are rollouts to learn from."""
    ticket = request.last_user
    code = next((c for c, t in TEAMS.items() if t in ticket), None)
    if code is None:
        return "Answer: Please contact customer support"
    knows = "## Examples" in request.system or f"{code} handles" in request.system
    if knows or code in ("BILL", "TECH"):
        return f"The ticket is about {TEAMS[code].split()[-1]}.\nAnswer: {code}"
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


def _first_candidate(request: Request) -> dict[str, Any]:
    """The example pass's reply: the first candidate it was shown, with a line of working."""
    shown = request.last_user.split("# Questions the model answered right", 1)[1]
    item = shown.split("[", 1)[1].split("]", 1)[0]
    return {"item": item, "working": ["The ticket is about a charge."], "replaces": None}


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
    optimizer = _optimizer({"You choose one solved question": _first_candidate}, seen)
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
    assert (
        f"Question: {item.input}\nReply:\nThe ticket is about a charge.\nAnswer: {item.target}"
        in best
    )
    splits = tickets.splits()
    items = [*splits["train"], *splits["val"], *splits["test"]]
    assert audit_run(root, items=items, train=splits["train"]) == []
    assert run_examples(root, train=splits["train"]) == [item.id]
    # The run audited itself at its end the same way (audit.json).
    written = json.loads((root / "audit.json").read_text(encoding="utf-8"))
    assert written["problems"] == [] and written["deliberate_examples"] == [item.id]
    # The pass saw only training items the target got right, each with its known answer;
    # the rules call saw no item.
    asked = [r for r in seen if "You choose one solved question" in r.system]
    assert asked and all(
        f"[{i.id}]" not in asked[0].last_user for i in [*splits["val"], *splits["test"]]
    )
    rules = [r for r in seen if "You write rules" in r.system]
    assert rules and all(item.input not in r.last_user for r in rules)


def test_an_example_of_a_validation_item_is_refused_by_the_guard(
    tmp_path: Path, tickets: Any
) -> None:
    val = tickets.splits()["val"][0]
    leak = examples_section([_example(val, working="Read what the ticket is about.")])
    edits = {"analysis": "x", "edits": [{"op": "add", "content": leak, "rationale": "x"}]}
    optimizer = _optimizer({"": edits})
    root = _train(
        tmp_path, tickets, optimizer, "optimizer.examples=train", "optimizer.reflection=direct"
    )
    merged = json.loads((root / "steps" / "step_0001" / "merged.json").read_text())
    reasons = [r["reason"] for r in merged["guard_rejected"]]
    assert any("must be a training item" in r for r in reasons), reasons
    assert "example" not in (root / "best_skill.md").read_text(encoding="utf-8")


def test_the_example_pass_asks_for_a_swap_once_three_are_held(tickets: Any) -> None:
    train = tickets.splits()["train"]
    held = [i for i in train if i.target in ("SHIP", "ACCT", "RTRN")][:3]
    skill = Skill.parse(
        "# Routing\n\nRoute.\n\n"
        + examples_section([_example(i, working="Read the ticket.") for i in held])
    )
    right = [i for i in train if i.target == "BILL"][:1]
    wrong = [i for i in train if i.target == "SALE"][:2]
    examples = [
        (i, Trajectory(i.id, [], answer=f"Answer: {i.target}", score=Score(1, 1.0))) for i in right
    ] + [(i, Trajectory(i.id, [], answer="Answer: no", score=Score(0, 0.0))) for i in wrong]

    def swap(request: Request) -> dict[str, Any]:
        assert "(it is full)" in request.last_user and "Read the ticket." not in request.last_user
        return {"item": right[0].id, "working": ["A charge: billing."], "replaces": held[0].id}

    (proposal,) = reflect(
        _optimizer({"You choose one solved question": swap}),
        skill,
        examples,
        minibatch_size=4,
        max_edits=2,
        buffer=[],
        meta_skill="",
        settings=OptimizerSettings(procedure=False, examples="train"),
        examples_check=_check(tickets),
    )
    (edit,) = [e for e in proposal.edits if "example" in (e.content or "")]
    assert edit.op == "replace" and edit.anchor and held[0].id in edit.anchor
    assert _guard(tickets, edit, skill) is None
    after = [e.item_id for e in parse_examples(skill.apply([edit]).skill.text)]
    assert after == [right[0].id, held[1].id, held[2].id]


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
