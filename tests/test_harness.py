"""The harness seam: chat and agent harnesses, the registry, binding a task to a harness."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from train_fakes import AddTask

from skillfit.harness import (
    AgentHarness,
    ChatHarness,
    Harness,
    HarnessedTask,
    HarnessError,
    bind_harness,
    get_harness,
    harness_name,
    harness_names,
    run_direct,
    run_item,
    uses_harness,
)
from skillfit.models.base import InfraError, Message, Reply, Usage
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.tasks import Item, Score, get_task
from skillfit.tasks.base import Environment, EnvironmentTask, Tool
from skillfit.train.rollout import rollout_one

FIX = Path(__file__).parent / "fixtures" / "paper"


def _bbh() -> Any:
    return get_task("bbh/boolean_expressions", n_train=2, n_val=1, n_test=1)


def answer_action(answer: str) -> dict[str, Any]:
    return {"action": {"tool": "answer", "args": {"answer": answer}}}


def test_registry_names_and_unknown_harness() -> None:
    assert {"agent", "chat"} <= set(harness_names())
    assert isinstance(get_harness("chat"), ChatHarness)
    assert isinstance(get_harness("agent"), AgentHarness)
    assert isinstance(get_harness("agent"), Harness)
    with pytest.raises(HarnessError) as err:
        get_harness("codx")
    message = str(err.value)
    assert "unknown harness 'codx'" in message and "agent, chat" in message
    assert "\n" not in message


def test_single_turn_tasks_give_environments() -> None:
    task = _bbh()
    assert isinstance(task, EnvironmentTask) and uses_harness(task)
    item = task.splits()["train"][0]
    env = task.environment(item)
    assert env.prompt == item.input and env.item_id == item.id and not env.tools
    assert "Answer:" in env.instructions and env.task == "bbh/boolean_expressions"
    assert env.as_reply("True") == "Answer: True"


def test_chat_harness_returns_an_unscored_reply_and_run_item_scores_it() -> None:
    task = _bbh()
    item = task.splits()["train"][0]
    model = ScriptedModel(lambda r: f"Let me see.\nAnswer: {item.target}")
    raw = ChatHarness().run(model, "SKILL", task.environment(item), sample=1)
    assert raw.score is None and raw.answer.endswith(f"Answer: {item.target}")
    traj = run_item(task, "chat", model, "SKILL", item, sample=1)
    assert traj.ok and traj.score is not None and traj.score.hard == 1
    assert traj.answer == item.target and traj.score.formatted is True
    # the same call training, the gate and evaluation make
    assert rollout_one(task, model, "SKILL", item, 1).messages == traj.messages
    assert model.calls[-1].system.startswith("SKILL")


class _Truncating:
    name = "fake:truncating"

    def complete(self, messages: Sequence[Message], **kwargs: object) -> Reply:
        return Reply(text="Answer: (B) because", usage=Usage(10, 5), finish_reason="length")


def test_truncation_sentence_and_formatted_flag_survive_the_seam() -> None:
    def score(item: Item, reply: str) -> tuple[str, Score]:
        return "B", Score(0, 0.0, "Wrong.", formatted=True)

    item = Item("q", "?", "A")
    traj = run_direct(_Truncating(), "", item, instructions="", score=score, max_tokens=7)
    assert traj.score == Score(
        0, 0.0, "Wrong. The reply hit the 7-token limit and was cut off.", formatted=True
    )


def test_agent_harness_runs_a_tool_free_item_as_one_answer_action() -> None:
    task = _bbh()
    item = task.splits()["train"][0]
    model = ScriptedModel(lambda r: answer_action(str(item.target)))
    traj = run_item(task, "agent", model, "MY SKILL", item)
    assert traj.ok and traj.score is not None and traj.score.hard == 1
    assert traj.score.formatted is True  # the answer action is the answer format
    assert "Tool use" not in traj.score.feedback  # nothing to say about a single answer
    assert len(model.calls) == 1
    call = model.calls[0]
    assert call.system.startswith("MY SKILL") and "## Tools" in call.system
    assert "answer" in json.dumps(call.response_format)
    assert call.last_user.startswith(item.input)
    assert [c["tool"] for c in traj.tool_calls] == ["answer"]
    assert traj.usage.prompt_tokens > 0 and traj.usage.completion_tokens > 0


def test_agent_answer_with_its_own_answer_line_is_scored_the_same() -> None:
    task = _bbh()
    item = task.splits()["train"][0]
    model = ScriptedModel(lambda r: answer_action(f"Step by step...\nAnswer: {item.target}"))
    traj = run_item(task, "agent", model, "", item)
    assert traj.score is not None and traj.score.hard == 1 and traj.answer == item.target


def test_agent_that_never_answers_is_told_so() -> None:
    task = _bbh()
    item = task.splits()["train"][0]
    model = ScriptedModel(lambda r: {"action": {"tool": "search", "args": {}}})
    traj = AgentHarness(max_steps=2).run(model, "", task.environment(item))
    assert traj.answer == "" and len(model.calls) == 2
    assert any("used all 2 steps" in n for n in traj.notes)
    assert any("failed" in n for n in traj.notes)


def test_agent_infra_error_is_unscored() -> None:
    def down(request: Request) -> str:
        raise InfraError("server gone")

    task = _bbh()
    traj = run_item(task, "agent", ScriptedModel(down), "", task.splits()["val"][0])
    assert not traj.ok and traj.score is None and "server gone" in (traj.error or "")


def test_agent_offers_the_environment_tools() -> None:
    seen: list[dict[str, Any]] = []
    tool = Tool(
        "lookup",
        "look a word up",
        {"properties": {"word": {"type": "string"}}, "required": ["word"]},
        lambda args: (seen.append(args), "it means 4")[1],
    )
    env = Environment(item_id="x", prompt="What is four?", tools=(tool,), needs_tools=True)
    replies = iter([{"action": {"tool": "lookup", "args": {"word": "four"}}}, answer_action("4")])
    traj = AgentHarness().run(ScriptedModel(lambda r: next(replies)), "S", env)
    assert seen == [{"word": "four"}] and traj.answer == "4"
    assert traj.notes == ["Tool use (2 steps): lookup, answer."]
    with pytest.raises(HarnessError, match="needs its tools"):
        ChatHarness().run(ScriptedModel(lambda r: "x"), "S", env)


def test_bind_harness_routes_rollout_and_keeps_the_task_surface() -> None:
    task = _bbh()
    bound = bind_harness(task, "agent")
    assert isinstance(bound, HarnessedTask) and harness_name(bound) == "agent"
    assert bound.name == task.name and bound.splits() == task.splits()
    assert bound.split_manifest() == task.split_manifest()  # type: ignore[attr-defined]
    assert bound.initial_skill == task.initial_skill
    item = task.splits()["test"][0]
    model = ScriptedModel(lambda r: answer_action(str(item.target)))
    traj = bound.rollout(model, "", item)
    assert traj.score is not None and traj.score.hard == 1
    assert model.calls[0].response_format is not None
    rebound = bind_harness(bound, "chat")  # rebinding replaces, never stacks
    assert isinstance(rebound, HarnessedTask) and rebound.task is task
    assert harness_name(task) == "chat" and harness_name(bind_harness(task, None)) == "chat"


def test_tasks_with_their_own_loop_run_only_under_the_default() -> None:
    own = AddTask()
    assert not uses_harness(own)
    assert bind_harness(own, "chat") is own
    with pytest.raises(HarnessError, match="runs its own loop"):
        bind_harness(own, "agent")
    with pytest.raises(HarnessError, match="unknown harness"):
        bind_harness(own, "nope")


def test_officeqa_needs_the_agent_harness() -> None:
    task = get_task("officeqa", split_dir=str(FIX / "officeqa" / "split"), max_steps=3)
    with pytest.raises(HarnessError) as err:
        bind_harness(task, "chat")
    assert "--harness agent" in str(err.value) and "list_files" in str(err.value)
    bound = bind_harness(task, "agent")
    item = task.splits()["train"][0]
    env = task.environment(item)  # type: ignore[attr-defined]
    assert env.needs_tools and {t.name for t in env.tools} == {"list_files", "read_file", "grep"}
    assert env.files and all(Path(p).is_file() for p in env.files.values())
    model = ScriptedModel(lambda r: answer_action(str(item.target)))
    traj = bound.rollout(model, "", item)
    assert traj.score is not None and traj.score.hard == 1
    assert rollout_one(task, model, "", item, 0).score == traj.score  # its default harness is agent


def test_docvqa_keeps_its_own_loop() -> None:
    from skillfit.tasks.paper.docvqa import DocVQATask

    assert DocVQATask.uses_harness is False


def _right_answer(item: Item) -> str:
    """An answer the task scores as right."""
    target = item.target
    if isinstance(target, dict):  # livemath: {"label": ...}
        return str(target["label"])
    if isinstance(target, list):  # searchqa: any of several
        return str(target[0])
    return str(target)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("bbh/web_of_lies", {"n_train": 2, "n_val": 1, "n_test": 1}),
        ("gsm8k", {"n_train": 2, "n_val": 1, "n_test": 1}),
        ("reasoning_gym/leg_counting", {"n_train": 2, "n_val": 1, "n_test": 1}),
        ("searchqa", {"split_dir": str(FIX / "searchqa" / "split")}),
        ("livemathematicianbench", {"split_dir": str(FIX / "livemath" / "split")}),
    ],
)
def test_single_turn_tasks_run_under_chat_and_agent(name: str, options: dict[str, Any]) -> None:
    task = get_task(name, **options)
    item = task.splits()["test"][0]
    answer = _right_answer(item)
    for harness in ("chat", "agent"):
        model = ScriptedModel(
            lambda r: answer_action(answer) if r.response_format else f"Answer: {answer}"
        )
        traj = bind_harness(task, harness).rollout(model, "SKILL", item)
        assert traj.ok and traj.score is not None, (harness, traj)
        assert traj.score.hard == 1, (harness, traj.score)
        assert (model.calls[0].response_format is not None) == (harness == "agent")
        assert model.calls[0].system.startswith("SKILL")
