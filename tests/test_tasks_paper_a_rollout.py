"""Paper benchmarks: rollouts with scripted models (single turn, vision, the OfficeQA tool loop)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from skillfit.models.base import InfraError, Message, Reply, Usage
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.tasks.paper.docvqa import VisionUnsupportedError
from skillfit.tasks.registry import get_task
from skillfit.train.rollout import rollout_one

FIX = Path(__file__).parent / "fixtures" / "paper"
SKILL = "# My skill\n\nAlways double-check."


def test_searchqa_rollout_puts_skill_first_and_scores() -> None:
    task = get_task("searchqa", split_dir=str(FIX / "searchqa" / "split"))
    item = task.splits()["train"][0]
    model = ScriptedModel(lambda r: "Reasoning...\nAnswer: Euclid")
    traj = rollout_one(task, model, SKILL, item, 2)
    assert traj.ok and traj.answer == "Euclid" and traj.score is not None
    assert traj.score.hard == 1 and traj.sample == 2
    system = model.calls[0].system
    assert system.startswith(SKILL) and "search results" in system
    assert model.calls[0].last_user == item.input
    assert traj.usage.prompt_tokens > 0


def test_infra_error_is_recorded_not_scored() -> None:
    task = get_task("livemathematicianbench", split_dir=str(FIX / "livemath" / "split"))

    def down(_: Request) -> str:
        raise InfraError("server gone")

    traj = rollout_one(task, ScriptedModel(down), SKILL, task.splits()["val"][0], 0)
    assert not traj.ok and traj.score is None
    assert traj.error is not None and "server gone" in traj.error


def test_livemath_rollout_scores_the_shuffled_letter() -> None:
    task = get_task("livemathematicianbench", split_dir=str(FIX / "livemath" / "split"), seed=3)
    item = task.splits()["test"][0]
    right = item.target["label"]
    traj = rollout_one(task, ScriptedModel(lambda r: f"Answer: {right}"), "", item, 0)
    assert traj.score is not None and traj.score.hard == 1
    wrong = next(label for label in item.meta["choices"] if label != right)
    traj = rollout_one(task, ScriptedModel(lambda r: f"Answer: {wrong}"), "", item, 0)
    assert traj.score is not None and traj.score.hard == 0


# --------------------------------------------------------------------------- DocVQA (vision)


class FakeVisionModel:
    """Accepts OpenAI-style content parts, like a vision provider would."""

    supports_images = True

    def __init__(self, answer: str, name: str = "openai:fake-vision") -> None:
        self.answer = answer
        self._name = name
        self.sent: list[list[Message]] = []

    @property
    def name(self) -> str:
        return self._name

    def complete(self, messages: Sequence[Message], **_: Any) -> Reply:
        self.sent.append(list(messages))
        return Reply(text=f"Answer: {self.answer}", usage=Usage(100, 5))


def _docvqa_task(tmp_path: Path, **options: Any) -> Any:
    root = tmp_path / "dv"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(root / "images" / "p.png")
    for split, qid in (("train", "1"), ("val", "2"), ("test", "3")):
        (root / split).mkdir()
        row = {"id": qid, "question": "Total?", "answers": ["$40"], "image_path": "images/p.png"}
        (root / split / "items.json").write_text(json.dumps([row]))
    return get_task("docvqa", split_dir=str(root), **options)


def test_docvqa_sends_the_page_as_an_image_part(tmp_path: Path) -> None:
    task = _docvqa_task(tmp_path)
    item = task.splits()["train"][0]
    model = FakeVisionModel("$40")
    traj = task.rollout(model, SKILL, item)
    assert traj.score is not None and (traj.score.hard, traj.score.soft) == (1, 1.0)
    system, user = model.sent[0]
    assert system["content"].startswith(SKILL)
    parts: Any = user["content"]
    assert parts[0] == {"type": "text", "text": item.input}
    assert parts[1]["type"] == "image_url"
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    # the recorded conversation is plain text: no base64 payload in rollouts.jsonl
    assert all(isinstance(m["content"], str) for m in traj.messages)
    assert "[image: p.png]" in traj.messages[1]["content"]
    assert "base64" not in json.dumps(traj.messages)


def test_docvqa_uses_anthropic_image_blocks_for_anthropic_models(tmp_path: Path) -> None:
    task = _docvqa_task(tmp_path)
    model = FakeVisionModel("$40", name="anthropic:claude-x")
    traj = task.rollout(model, "", task.splits()["test"][0])
    assert traj.ok
    block: Any = model.sent[0][1]["content"][1]
    assert block["type"] == "image"
    assert block["source"]["type"] == "base64" and block["source"]["media_type"] == "image/png"


def test_docvqa_refuses_a_text_only_target_clearly(tmp_path: Path) -> None:
    task = _docvqa_task(tmp_path)
    item = task.splits()["train"][0]
    text_model = ScriptedModel(lambda r: "Answer: $40", name="local:qwen2.5-coder-0.5b")
    with pytest.raises(VisionUnsupportedError, match=r"local:qwen2\.5-coder-0\.5b.*vision"):
        task.rollout(text_model, SKILL, item)
    assert text_model.calls == []


def test_docvqa_vision_option_overrides_the_guess(tmp_path: Path) -> None:
    model = FakeVisionModel("$40")
    model.supports_images = False  # type: ignore[misc]
    task = _docvqa_task(tmp_path, vision=True)
    traj = task.rollout(model, "", task.splits()["val"][0])
    assert traj.ok
    blocked = _docvqa_task(tmp_path / "b", vision=False)
    with pytest.raises(VisionUnsupportedError):
        blocked.rollout(FakeVisionModel("$40"), "", blocked.splits()["val"][0])


# --------------------------------------------------------------------------- OfficeQA tool loop


def _scripted_agent(actions: list[dict[str, Any]]) -> ScriptedModel:
    """Replies with the n-th action on the n-th call."""

    def fn(request: Request) -> dict[str, Any]:
        step = sum(1 for m in request.messages if m["role"] == "assistant")
        return {"action": actions[min(step, len(actions) - 1)]}

    return ScriptedModel(fn, name="scripted:agent")


def test_officeqa_tool_loop_conversation() -> None:
    task = get_task("officeqa", split_dir=str(FIX / "officeqa" / "split"))
    item = task.splits()["train"][0]  # total receipts 1943 -> 22,282
    model = _scripted_agent(
        [
            {"tool": "list_files", "args": {}},
            {"tool": "grep", "args": {"pattern": "total receipts", "path": ""}},
            {
                "tool": "read_file",
                "args": {"path": "treasury_bulletin_1944_01.txt", "offset": 6, "limit": 3},
            },
            {"tool": "answer", "args": {"answer": "22,282 million"}},
        ]
    )
    traj = rollout_one(task, model, SKILL, item, 0)
    assert traj.ok and traj.score is not None
    assert traj.answer == "22,282 million" and traj.score.hard == 1
    assert [c["tool"] for c in traj.tool_calls] == ["list_files", "grep", "read_file", "answer"]
    assert all(c["ok"] for c in traj.tool_calls)
    listing, grep, read = (c["result"] for c in traj.tool_calls[:3])
    assert "treasury_bulletin_1944_01.txt (12 lines)" in listing
    assert "treasury_bulletin_1944_01.txt:7: Total receipts ........ 22,282" in grep
    assert read.splitlines()[0] == "6| Fiscal year 1943" and len(read.splitlines()) == 3
    # usage summed over the four turns
    assert len(model.calls) == 4
    assert traj.usage.prompt_tokens == sum(
        len("".join(m["content"] for m in c.messages)) // 4 for c in model.calls
    )
    # the conversation: system, user, then assistant/user pairs ending with the answer
    roles = [m["role"] for m in traj.messages]
    assert roles == ["system", "user"] + ["assistant", "user"] * 3 + ["assistant"]
    assert (
        traj.messages[0]["content"].startswith(SKILL) and "## Tools" in traj.messages[0]["content"]
    )
    assert "Result of grep" in traj.messages[5]["content"]
    # every request was schema-constrained
    assert all(isinstance(c.response_format, dict) for c in model.calls)


@pytest.mark.parametrize(
    "path",
    ["../../../../../../etc/passwd", "/etc/passwd", "../UID0002/treasury_bulletin_1950_02.txt"],
)
def test_officeqa_tools_cannot_leave_the_item_folder(path: str) -> None:
    task = get_task("officeqa", split_dir=str(FIX / "officeqa" / "split"))
    item = task.splits()["train"][0]
    model = _scripted_agent(
        [
            {"tool": "read_file", "args": {"path": path, "offset": 1, "limit": 5}},
            {"tool": "grep", "args": {"pattern": "root", "path": path}},
            {"tool": "answer", "args": {"answer": "0"}},
        ]
    )
    traj = rollout_one(task, model, "", item, 0)
    read, grep = traj.tool_calls[:2]
    assert not read["ok"] and not grep["ok"]
    assert "outside the document folder" in read["result"] or "no file" in read["result"]
    assert "root:" not in read["result"] + grep["result"]
    assert traj.ok and traj.score is not None and traj.score.hard == 0


def test_officeqa_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password 1234\n")
    split = tmp_path / "split"
    for s, uid in (("train", "A"), ("val", "B"), ("test", "C")):
        (split / s).mkdir(parents=True)
        docs = split / "docs" / uid
        docs.mkdir(parents=True)
        (docs / "doc.txt").write_text("nothing here\n")
        (docs / "link.txt").symlink_to(secret)
        row = {"id": uid, "question": "q", "ground_truth": "1", "source_files": ["doc.txt"]}
        (split / s / "items.json").write_text(json.dumps([row]))
    task = get_task("officeqa", split_dir=str(split))
    model = _scripted_agent(
        [
            {"tool": "list_files", "args": {}},
            {"tool": "read_file", "args": {"path": "link.txt", "offset": 1, "limit": 5}},
            {"tool": "grep", "args": {"pattern": "password", "path": ""}},
            {"tool": "answer", "args": {"answer": "1"}},
        ]
    )
    traj = rollout_one(task, model, "", task.splits()["train"][0], 0)
    listing, read, grep = traj.tool_calls[:3]
    assert "link.txt" not in listing["result"]
    assert not read["ok"] and "outside" in read["result"]
    assert "password" not in grep["result"].replace("'password'", "")


def test_officeqa_step_limit_forces_an_answer_only_schema() -> None:
    task = get_task("officeqa", split_dir=str(FIX / "officeqa" / "split"), max_steps=3)
    item = task.splits()["test"][0]
    model = _scripted_agent([{"tool": "list_files", "args": {}}])  # never answers
    traj = rollout_one(task, model, "", item, 0)
    assert len(model.calls) == 3 and len(traj.tool_calls) == 3
    last = model.calls[-1]
    assert isinstance(last.response_format, dict)
    assert json.dumps(last.response_format).count('"enum"') == 1  # only "answer" allowed
    assert "last step" in last.last_user
    assert traj.ok and traj.score is not None and traj.score.hard == 0
    assert "used all 3 steps without giving an answer" in traj.score.feedback
    assert "Tool use (3 steps): list_files, list_files, list_files." in traj.score.feedback


def test_officeqa_infra_error_mid_run_keeps_the_calls_so_far() -> None:
    task = get_task("officeqa", split_dir=str(FIX / "officeqa" / "split"))

    def fn(request: Request) -> dict[str, Any]:
        if any(m["role"] == "assistant" for m in request.messages):
            raise InfraError("timeout after 3 retries")
        return {"action": {"tool": "list_files", "args": {}}}

    traj = rollout_one(task, ScriptedModel(fn), "", task.splits()["val"][0], 0)
    assert not traj.ok and traj.score is None
    assert traj.error is not None and "timeout" in traj.error
    assert [c["tool"] for c in traj.tool_calls] == ["list_files"]
    assert traj.usage.completion_tokens > 0


def test_officeqa_wrongly_typed_arguments_come_back_as_errors() -> None:
    task = get_task("officeqa", split_dir=str(FIX / "officeqa" / "split"))
    model = _scripted_agent(
        [
            {"tool": "grep", "args": {"pattern": "Total", "path": 3}},
            {"tool": "read_file", "args": {"path": "treasury_bulletin_1944_01.txt", "offset": "x"}},
            {"tool": "read_file", "args": {"path": "treasury_bulletin_1944_01.txt", "offset": 999}},
            {"tool": "grep", "args": {"pattern": "", "path": ""}},
            {"tool": "answer", "args": {"answer": "22282"}},
        ]
    )
    traj = rollout_one(task, model, "", task.splits()["train"][0], 0)
    assert [c["ok"] for c in traj.tool_calls] == [False, False, False, False, True]
    results = [c["result"] for c in traj.tool_calls[:4]]
    assert "path must be a file name" in results[0]
    assert "offset must be an integer" in results[1]
    assert "past the end (12 lines)" in results[2]
    assert "pattern must be a non-empty string" in results[3]
    assert traj.score is not None and traj.score.hard == 1
    assert "4 failed (step 1 grep: Error: path must be a file name" in traj.score.feedback
