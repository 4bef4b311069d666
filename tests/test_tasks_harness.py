"""The direct-chat harness: prompt order, scoring, usage, and infra errors kept apart."""

from collections.abc import Sequence

from skillfit.harness import build_messages, run_direct
from skillfit.models.base import InfraError, Message, Reply, Usage
from skillfit.models.scripted import ScriptedModel
from skillfit.tasks import Item, Score, get_task
from skillfit.train.rollout import rollout_one


def _exact(item: Item, reply: str) -> tuple[str, Score]:
    answer = reply.rsplit("Answer:", 1)[-1].strip()
    ok = answer == item.target
    return answer, Score(int(ok), float(ok), "ok" if ok else "wrong")


ITEM = Item(id="q1", input="What is 2+2?", target="4")


def test_messages_put_skill_first_then_instructions_then_item() -> None:
    messages = build_messages("SKILL TEXT", "INSTRUCTIONS", "ITEM")
    assert messages == [
        {"role": "system", "content": "SKILL TEXT\n\nINSTRUCTIONS"},
        {"role": "user", "content": "ITEM"},
    ]
    assert build_messages("", "", "ITEM") == [{"role": "user", "content": "ITEM"}]
    assert build_messages("", "INSTR", "x")[0]["content"] == "INSTR"


def test_rollout_records_answer_score_usage_and_reply() -> None:
    model = ScriptedModel(lambda r: "thinking...\nAnswer: 4")
    traj = run_direct(model, "my skill", ITEM, instructions="Be brief.", score=_exact, sample=2)
    assert traj.ok and traj.error is None
    assert traj.answer == "4" and traj.score == Score(1, 1.0, "ok")
    assert traj.usage.completion_tokens > 0 and traj.usage.prompt_tokens > 0
    assert traj.messages[-1] == {"role": "assistant", "content": "thinking...\nAnswer: 4"}
    assert traj.sample == 2 and traj.seconds >= 0
    assert model.calls[0].sample == 2
    assert model.calls[0].system.startswith("my skill")


def test_wrong_answer_is_a_scored_failure_not_an_error() -> None:
    traj = run_direct(ScriptedModel(lambda r: "Answer: 5"), "", ITEM, instructions="", score=_exact)
    assert traj.ok and traj.score is not None and traj.score.hard == 0 and traj.error is None


def test_infra_error_is_recorded_apart_and_unscored() -> None:
    def boom(request: object) -> str:
        raise InfraError("server gone after 3 retries")

    traj = run_direct(ScriptedModel(boom), "skill", ITEM, instructions="", score=_exact)
    assert not traj.ok
    assert traj.score is None
    assert traj.error is not None and "server gone" in traj.error
    assert traj.messages[0]["content"] == "skill"  # the prompt is kept for inspection


class _TruncatingModel:
    name = "fake:truncating"

    def complete(self, messages: Sequence[Message], **kwargs: object) -> Reply:
        return Reply(text="Let me count: 1, 2, 3", usage=Usage(10, 5), finish_reason="length")


def test_truncated_reply_is_named_in_feedback() -> None:
    traj = run_direct(_TruncatingModel(), "", ITEM, instructions="", score=_exact, max_tokens=5)
    assert traj.score is not None and traj.score.hard == 0
    assert "5-token limit" in traj.score.feedback
    assert traj.usage == Usage(10, 5)


def test_task_rollout_uses_the_harness_with_its_instructions() -> None:
    task = get_task("bbh/boolean_expressions", n_train=2, n_val=1, n_test=1)
    item = task.splits()["train"][0]
    model = ScriptedModel(lambda r: f"Answer: {item.target}")
    traj = rollout_one(task, model, "SKILL", item, 0)
    assert traj.score is not None and traj.score.hard == 1
    system = model.calls[0].system
    assert system.startswith("SKILL") and "Answer:" in system
    assert model.calls[0].last_user == item.input
