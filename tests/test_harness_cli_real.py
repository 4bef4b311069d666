"""Codex CLI and Claude Code for real, on the embedded 0.5B model on loopback: each answers a
tool-free bundled item with the skill installed and invoked, and the task scores the answer;
the skill changes the answer. They run wherever the CLIs are installed at their pinned versions
(`npm install -g @openai/codex@0.171.0 @anthropic-ai/claude-code@2.1.197`; .ci/run installs
them when npm can), are skipped otherwise, and SKILLFIT_AGENT_CLI_REAL=0 turns them off.

Measured on two cores: 152 s for the three (Codex's first call reads its 5,243-token prompt,
87 s; Claude Code with no tools, 1,532 tokens, 19 s); later runs reuse the server's
prompt-prefix cache."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from skillfit.harness import HarnessError, bind_harness
from skillfit.harness.claude_code import ClaudeCodeHarness
from skillfit.harness.cli_agent import LOCAL_CONTEXT
from skillfit.harness.codex import CodexHarness
from skillfit.models import ChatModel, WeightsError
from skillfit.models.local.provider import LocalChatModel, resolve_local
from skillfit.models.local.server import LocalServer
from skillfit.models.stack import wrap
from skillfit.tasks import get_task

os.environ.setdefault("SKILLFIT_LOCAL_MAX_PREDICT", "1024")

TIMEOUT = 420.0
# A skill whose effect is plain to see: the answer line in capitals.
SKILL = (
    "# Boolean expressions\n\n"
    "## Method\nEvaluate `not` first, then `and`, then `or`.\n\n"
    "## Answer format\n"
    "Write the final line in capital letters: `ANSWER: TRUE` or `ANSWER: FALSE`.\n"
)


@pytest.fixture(scope="module")
def local_model() -> Iterator[ChatModel]:
    """The embedded 0.5B on a server of its own, with skillfit's default context as a user
    has it (no SKILLFIT_LOCAL_CTX): the harness must give the slots the CLI's context before
    its first run starts the server. (The session's shared server may have been started by
    another test already.)"""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SKILLFIT_LOCAL_CTX", raising=False)
        try:
            server = LocalServer(resolve_local("qwen2.5-coder-0.5b"))
        except WeightsError as exc:
            pytest.skip(f"embedded model not installed: {exc}")
    model = LocalChatModel("local:qwen2.5-coder-0.5b", server)
    yield wrap(model, role="test")
    assert not server.started or server.options.ctx_per_slot >= LOCAL_CONTEXT
    server.close()


def _harness(cls: type, **kw: object) -> CodexHarness | ClaudeCodeHarness:
    if os.environ.get("SKILLFIT_AGENT_CLI_REAL") == "0":
        # Minutes of CPU on the embedded model; tests/test_harness_cli_stub.py runs the CLIs
        # without it.
        pytest.skip("SKILLFIT_AGENT_CLI_REAL=0: the agent CLIs on the embedded model are off")
    harness = cls(timeout=TIMEOUT, **kw)
    try:
        harness.check()
    except HarnessError as exc:
        pytest.skip(str(exc))
    return harness


def _item() -> tuple[object, object]:
    task = get_task("bbh/boolean_expressions")
    return task, task.splits()["test"][0]


@pytest.mark.real_model
@pytest.mark.parametrize(("cls", "mark"), [(CodexHarness, "$"), (ClaudeCodeHarness, "/")])
def test_cli_answers_a_bundled_item_with_the_skill_invoked(
    local_model: ChatModel, cls: type, mark: str
) -> None:
    harness = _harness(cls)
    task, item = _item()
    traj = bind_harness(task, harness).rollout(local_model, SKILL, item)  # type: ignore[arg-type]
    assert traj.error is None, traj.error
    assert traj.score is not None  # scored by the task
    assert traj.messages[0]["content"].startswith(f"{mark}bbh-boolean-expressions ")
    assert traj.usage.prompt_tokens > 1000 and traj.usage.completion_tokens > 0
    assert traj.answer  # what the scorer found in the reply


@pytest.mark.real_model
def test_the_skill_changes_the_answer(local_model: ChatModel) -> None:
    """Claude Code (the shorter prompt) on one item without and with the invoked skill: the
    installed skill reaches the model and its reply changes."""
    harness = _harness(ClaudeCodeHarness)
    task, item = _item()
    bound = bind_harness(task, harness)  # type: ignore[arg-type]
    none = bound.rollout(local_model, "", item)  # type: ignore[attr-defined]
    with_skill = bound.rollout(local_model, SKILL, item)  # type: ignore[attr-defined]
    assert none.error is None and with_skill.error is None, (none.error, with_skill.error)
    assert none.score is not None and with_skill.score is not None
    replies = [t.messages[-1]["content"] for t in (none, with_skill)]
    print("no skill:", repr(replies[0]), none.score, "\nskill:", repr(replies[1]), with_skill.score)
    assert replies[0] != replies[1], replies
    assert with_skill.usage.prompt_tokens > none.usage.prompt_tokens  # the skill's body was sent
