"""The real Codex CLI and Claude Code, driven by the harnesses, against a scripted loopback
model server (tests/agent_cli_stub.py): the skill installed in the workspace and invoked by name
reaches the model's request, the task's files are there for the CLI's own tools, the answer is
scored and the tokens counted. No model runs; skipped when a CLI is not installed at its pinned
version (.ci/run installs them when npm can)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agent_cli_stub import stub_server

from skillfit.harness import HarnessError, bind_harness
from skillfit.harness.claude_code import ClaudeCodeHarness
from skillfit.harness.codex import CodexHarness
from skillfit.models.accounting import Ledger
from skillfit.tasks import get_task
from skillfit.tasks.base import Environment

MARKER = "Evaluate `not` first, then `and`, then `or`."
SKILL = (
    f"# Boolean expressions\n\n## Method\n{MARKER}\n\n## Answer format\nAnswer: True or False.\n"
)
PATHS = {CodexHarness: "/v1/responses", ClaudeCodeHarness: "/v1/messages"}


class Loopback:
    name = "local:qwen2.5-coder-0.5b"

    def __init__(self, url: str) -> None:
        self.base_url = url

    def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("never called")


def _harness(cls: type) -> Any:
    harness = cls(timeout=120)
    try:
        harness.check()
    except HarnessError as exc:
        pytest.skip(str(exc))
    return harness


def _sent(requests: list[dict[str, Any]], path: str) -> str:
    return "\n".join(json.dumps(r["body"]) for r in requests if r["path"].startswith(path))


@pytest.mark.parametrize("cls", [CodexHarness, ClaudeCodeHarness])
def test_the_invoked_skill_reaches_the_model(cls: type) -> None:
    harness = _harness(cls)
    task = get_task("bbh/boolean_expressions")
    item = task.splits()["test"][0]
    bound = bind_harness(task, harness)
    with stub_server() as (url, requests):
        none = bound.rollout(Loopback(url), "", item)  # type: ignore[arg-type]
        without = _sent(requests, PATHS[cls])
        requests.clear()
        with_skill = bound.rollout(Loopback(url), SKILL, item)  # type: ignore[arg-type]
        sent = _sent(requests, PATHS[cls])
    assert none.error is None and with_skill.error is None, (none.error, with_skill.error)
    assert json.dumps(MARKER)[1:-1] in sent and json.dumps(MARKER)[1:-1] not in without
    assert "bbh-boolean-expressions" in sent
    assert with_skill.score is not None and with_skill.score.hard == int(item.target == "True")
    # The scripted model works the method through only when the skill's text reached it.
    assert with_skill.messages[-1]["content"].startswith("not True = False")
    assert none.messages[-1]["content"] == "It is True.\nAnswer: True"
    assert with_skill.usage.prompt_tokens > 1000 and with_skill.usage.completion_tokens > 0


@pytest.mark.parametrize(("cls", "tool"), [(CodexHarness, "shell"), (ClaudeCodeHarness, "Read")])
def test_the_cli_reads_the_tasks_files_with_its_own_tools(
    cls: type, tool: str, tmp_path: Path
) -> None:
    harness = _harness(cls)
    (tmp_path / "notes.txt").write_text("The meeting room code is 4417.\n")
    env = Environment(
        item_id="f1",
        prompt="What is the meeting room code written in notes.txt? Read the file.",
        instructions="End your reply with a final line of the form `Answer: <your answer>`.",
        task="files",
        files={"notes.txt": str(tmp_path / "notes.txt")},
    )
    with stub_server() as (url, _):
        traj = harness.run(Loopback(url), "", env)
    assert traj.error is None, traj.error
    assert [c["tool"] for c in traj.tool_calls] == [tool]
    call = traj.tool_calls[0]
    if call["ok"]:  # Codex's sandbox needs user namespaces; its failure is still recorded
        assert "4417" in call["result"]
    assert traj.answer.endswith("Answer: 4417")
    assert any(n.startswith("Tool use (1 steps)") for n in traj.notes)


@pytest.mark.parametrize("cls", [CodexHarness, ClaudeCodeHarness])
def test_cli_runs_are_counted_in_the_runs_ledger(cls: type, tmp_path: Path) -> None:
    """The CLI calls the model itself, so the harness books each run as one call of the
    target's role: calls.jsonl and the token totals include agent-CLI work."""
    harness = _harness(cls)
    task = get_task("bbh/boolean_expressions")
    item = task.splits()["test"][0]
    ledger = Ledger()
    ledger.attach(tmp_path / "calls.jsonl")
    with stub_server() as (url, _):
        target = Loopback(url)
        target.ledger, target.role = ledger, "target"  # type: ignore[attr-defined]
        traj = bind_harness(task, harness).rollout(target, SKILL, item)  # type: ignore[arg-type]
    assert traj.error is None, traj.error
    stats = ledger.snapshot()["target"]
    assert stats["calls"] == 1 and stats["prompt_tokens"] == traj.usage.prompt_tokens > 1000
    assert stats["completion_tokens"] == traj.usage.completion_tokens > 0
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 1
