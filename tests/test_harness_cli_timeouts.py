"""Agent-CLI runs stopped at the wall-clock limit, as a user meets them: scored 0, marked and
counted as timed out in eval's and train's summaries, their tokens reported as what the CLI
had said before it was stopped (never as a plain 0), and a hint naming `target.cli_timeout`.

A stub CLI prints part of a session (as a real CLI streams it), then blocks forever. The limit
counts from the moment the stub has printed it (the harness's `communicate` is held until
then), so a slow machine cannot make the stub miss its lines; nothing asserts on time."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness_fakes import TASK, close_loopback_servers, loopback_target
from waits import wait_for

from skillfit.harness import bind_harness, cli_agent, registry
from skillfit.harness.claude_code import ClaudeCodeHarness
from skillfit.harness.codex import CodexHarness
from skillfit.models import Ledger
from skillfit.models.stack import wrap
from skillfit.tasks import get_task

SKILL = "# Boolean\n\n## Answer format\nReply with exactly one line: `Answer: True`.\n"
LIMIT = 2.0  # seconds: the stubs never finish, however long the limit

# Claude Code's stream-json up to the kill: two API calls (the first message streamed as two
# events of one id, carrying its usage twice), a tool's result, no result event.
CLAUDE_PARTIAL = [
    {"type": "system", "subtype": "init", "tools": ["Read"], "skills": []},
    {
        "type": "assistant",
        "message": {
            "id": "msg_1",
            "content": [{"type": "text", "text": "Let me look."}],
            "usage": {"input_tokens": 1200, "cache_read_input_tokens": 300, "output_tokens": 2},
        },
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_1",
            "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"p": "x"}}],
            "usage": {"input_tokens": 1200, "cache_read_input_tokens": 300, "output_tokens": 9},
        },
    },
    {
        "type": "user",
        "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_2",
            "content": [{"type": "text", "text": "Still thinking"}],
            "usage": {"input_tokens": 1500, "output_tokens": 4},
        },
    },
]
CLAUDE_PROMPT, CLAUDE_COMPLETION, CLAUDE_CACHED = 1200 + 300 + 1500, 9 + 4, 300
# Codex reports usage only when a turn completes: a run killed mid-turn reported none.
CODEX_PARTIAL = [
    {"type": "thread.started", "thread_id": "t"},
    {"type": "turn.started"},
    {
        "type": "item.completed",
        "item": {
            "type": "command_execution",
            "command": "ls",
            "aggregated_output": "notes.txt",
            "exit_code": 0,
            "status": "completed",
        },
    },
]


def stalling_cli(tmp_path: Path, name: str, version: str, events: list[dict[str, Any]]) -> Path:
    """An executable that answers --version; for a run it prints `events` as JSON lines, then
    marks <tmp_path>/printed/<pid> and blocks forever (a model still working)."""
    printed = tmp_path / "printed"
    printed.mkdir(parents=True, exist_ok=True)
    folder = tmp_path / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    lines = "".join(json.dumps(e) + "\n" for e in events)
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import os, sys, threading
            if sys.argv[1:] == ["--version"]:
                print({version!r}); sys.exit(0)
            sys.stdout.write({lines!r}); sys.stdout.flush()
            open(os.path.join({str(printed)!r}, str(os.getpid())), "w").close()
            threading.Event().wait()
            """
        ),
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for var in ("SKILLFIT_CODEX_BIN", "SKILLFIT_CLAUDE_BIN", "SKILLFIT_AGENT_CLI_ANY_VERSION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SKILLFIT_AGENT_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.delenv("SKILLFIT_LOCAL_CTX", raising=False)
    cli_agent._checked.clear()
    cli_agent._endpoint_checks.clear()
    printed = tmp_path / "printed"

    class Popen(subprocess.Popen):  # type: ignore[type-arg]
        def communicate(self, input: Any = None, timeout: float | None = None) -> Any:
            if timeout is not None and timeout != cli_agent.VERSION_TIMEOUT:
                # The run's limit counts once the stub has printed its part of the session.
                wait_for((printed / str(self.pid)).exists, "the stub to print its session")
            return super().communicate(input, timeout)

    monkeypatch.setattr(cli_agent.subprocess, "Popen", Popen)
    yield
    close_loopback_servers()
    cli_agent._endpoint_checks.clear()


CLIS = {
    "claude-code": (ClaudeCodeHarness, "claude", "2.1.197 (Claude Code)", CLAUDE_PARTIAL),
    "codex": (CodexHarness, "codex", "codex-cli 0.171.0", CODEX_PARTIAL),
}


@pytest.mark.parametrize("harness", sorted(CLIS))
def test_a_timed_out_run_is_marked_and_keeps_the_usage_it_reported(
    tmp_path: Path, harness: str
) -> None:
    cls, cli, version, events = CLIS[harness]
    stub = stalling_cli(tmp_path, cli, version, events)
    task = get_task(TASK)
    item = task.splits()["test"][0]
    ledger = Ledger()
    target = wrap(loopback_target(), role="target", ledger=ledger)
    traj = bind_harness(task, cls(executable=str(stub), timeout=LIMIT)).rollout(target, SKILL, item)
    assert traj.ok and traj.score is not None and traj.score.hard == 0
    assert traj.timed_out and not traj.usage_complete
    assert "wall-clock limit" in traj.score.feedback
    assert traj.tool_calls  # what the agent did before the limit is kept
    stats = ledger.snapshot()["target"]
    assert (stats["calls"], stats["timed_out"]) == (1, 1)
    if harness == "claude-code":
        got = (traj.usage.prompt_tokens, traj.usage.completion_tokens, traj.usage.cached_tokens)
        assert got == (CLAUDE_PROMPT, CLAUDE_COMPLETION, CLAUDE_CACHED)
        assert stats["prompt_tokens"] == CLAUDE_PROMPT
    else:
        assert traj.usage.total_tokens == 0  # unknown, and marked so


def eval_args(tmp_path: Path, harness: str, *extra: str) -> list[str]:
    skill = tmp_path / "skill.md"
    skill.write_text(SKILL)
    return [
        "eval",
        "--skill",
        str(skill),
        "--task",
        TASK,
        "--harness",
        harness,
        "--set",
        "cache.enabled=false",
        "--set",
        "task.options={n_test: 2}",
        "--set",
        f"target.cli_timeout={LIMIT:g}",
        *extra,
    ]


@pytest.fixture
def cli_runner(monkeypatch: pytest.MonkeyPatch) -> Any:
    from typer.testing import CliRunner

    import skillfit.app.build

    def get_model(spec: str, **kw: Any) -> Any:
        return wrap(loopback_target(), **kw)

    monkeypatch.setattr(skillfit.app.build, "get_model", get_model)
    return CliRunner()  # stdout and stderr apart


def test_eval_counts_timed_out_items_reports_the_known_tokens_and_names_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_runner: Any
) -> None:
    from skillfit.cli import app

    stub = stalling_cli(tmp_path, "claude", "2.1.197 (Claude Code)", CLAUDE_PARTIAL)
    monkeypatch.setenv("SKILLFIT_CLAUDE_BIN", str(stub))
    plain = cli_runner.invoke(app, eval_args(tmp_path, "claude-code"))
    assert plain.exit_code == 0, plain.output
    assert "accuracy 0.000" in plain.stdout and "2 timed out (scored 0)" in plain.stdout
    total = 2 * (CLAUDE_PROMPT + CLAUDE_COMPLETION)
    assert f"at least {total:,} tokens" in plain.stdout
    assert "2 runs stopped at the time limit" in plain.stdout
    assert "2 of 2 rollouts hit the agent CLI's wall-clock limit (2 s)" in plain.stderr
    assert "--set target.cli_timeout=4" in plain.stderr

    as_json = cli_runner.invoke(app, eval_args(tmp_path, "claude-code", "--json"))
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert (data["timed_out"], data["scored"], data["n_errors"]) == (2, 2, 0)
    assert data["tokens"]["total"] == total and data["tokens"]["incomplete"] == 2
    assert "target.cli_timeout" in as_json.stderr


def test_eval_says_the_tokens_are_unknown_when_the_cli_reported_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_runner: Any
) -> None:
    from skillfit.cli import app

    stub = stalling_cli(tmp_path, "codex", "codex-cli 0.171.0", CODEX_PARTIAL)
    monkeypatch.setenv("SKILLFIT_CODEX_BIN", str(stub))
    result = cli_runner.invoke(app, eval_args(tmp_path, "codex"))
    assert result.exit_code == 0, result.output
    assert "2 timed out (scored 0)" in result.stdout
    assert "tokens unknown (2 runs stopped at the time limit reported no usage)" in result.stdout
    assert " 0 tokens" not in result.stdout
    assert "target.cli_timeout" in result.stderr


def test_training_counts_timed_out_rollouts_and_says_how_to_raise_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_runner: Any
) -> None:
    from train_fakes import Optimizer

    import skillfit.app.build
    from skillfit.cli import app

    stub = stalling_cli(tmp_path, "codex", "codex-cli 0.171.0", CODEX_PARTIAL)
    monkeypatch.setitem(
        registry._REGISTRY, "codex", lambda: CodexHarness(executable=str(stub), timeout=3600)
    )
    optimizer = Optimizer().model

    def get_model(spec: str, **kw: Any) -> Any:
        return wrap(loopback_target() if kw["role"] == "target" else optimizer, **kw)

    monkeypatch.setattr(skillfit.app.build, "get_model", get_model)
    out = tmp_path / "run"
    args = [
        "train",
        "--config",
        str(write_config(tmp_path)),
        "--out",
        str(out),
        "--harness",
        "codex",
        "--no-check",
        "--quiet",
        "--set",
        f"target.cli_timeout={LIMIT:g}",  # over the harness's own (3600 s)
    ]
    result = cli_runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    # 2 train rollouts, and the test arms (no skill, and the initial skill = the best one).
    assert summary["timed_out"] >= 4 and summary["tokens"]["target"]["timed_out"] >= 4
    assert summary["test"]["none"]["timed_out"] == 1 and summary["test"]["best"]["timed_out"] == 1
    row = json.loads((out / "steps" / "step_0001" / "rollouts.jsonl").read_text().splitlines()[0])
    assert row["timed_out"] is True and row["usage_complete"] is False and row["ok"]
    assert f"{summary['timed_out']} rollouts hit the agent CLI's wall-clock limit" in result.stderr
    assert "--set target.cli_timeout=4" in result.stderr


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            task:
              name: {TASK}
              options: {{n_train: 2, n_val: 1, n_test: 1, seed: 0}}
            target: {{model: local:qwen2.5-coder-0.5b}}
            optimizer: {{model: scripted:optimizer, temperature: 0.0}}
            train: {{epochs: 1, batch_size: 2, minibatch_size: 2, concurrency: 2}}
            slow_update: {{enabled: false}}
            meta_skill: {{enabled: false}}
            cache: {{enabled: false}}
            gate: {{kind: strict_mean}}
            """
        ),
        encoding="utf-8",
    )
    return path


def test_the_timed_out_count_survives_a_resume_and_a_remote_worker(tmp_path: Path) -> None:
    """The count lives with the call in the run's journal (a resumed run reads it back) and in
    the events a Ray worker sends the driver (an event of an older worker has no flag)."""
    from skillfit.models.base import Reply, Usage
    from skillfit.train.remote import CallLog, ItemCalls, replay_events

    path = tmp_path / "calls.jsonl"
    ledger = Ledger()
    ledger.attach(path)
    ledger.record("target", "m", Reply("", Usage(7, 1)), 2.0, key="k", timed_out=True)
    ledger.record("target", "m", Reply("", Usage(5, 2)), 0.1, key="k2")
    ledger.close()
    again = Ledger()
    again.attach(path)
    assert (again.snapshot()["target"]["calls"], again.snapshot()["target"]["timed_out"]) == (2, 1)
    again.close()

    calls = ItemCalls()
    log = CallLog(lambda: calls)
    log.record("target", "m", Reply("", Usage(7, 1)), 2.0, key="k", timed_out=True)
    log.record("target", "m", Reply("", Usage(5, 2)), 0.1, key="k2")
    driver = Ledger()
    replay_events(driver, [*calls.events, ("call", "target", "m", Usage(1, 1), 0.1, "k3")])
    stats = driver.snapshot()["target"]
    assert (stats["calls"], stats["timed_out"], stats["prompt_tokens"]) == (3, 1, 13)


FIX = Path(__file__).parent / "fixtures" / "agent_cli"


@pytest.mark.parametrize("name", ["embedded-0.5b", "files", "none", "skill"])
def test_a_recorded_claude_session_cut_before_its_result_keeps_its_prompt_tokens(
    name: str,
) -> None:
    """On the recorded Claude Code sessions (the embedded 0.5B, the stub server), the usage the
    messages streamed gives every prompt token of the result event, and at most its output."""
    from skillfit.harness import claude_code as cc
    from skillfit.tasks.base import Environment

    lines = (FIX / f"claude-code-{name}.jsonl").read_text().splitlines()
    whole = cc.parse_output("\n".join(lines)).usage
    cut = "\n".join(line for line in lines if '"type":"result"' not in line.replace(" ", ""))
    assert cc.parse_output(cut).result is None
    run = cli_agent.CliRun([], cut, "", -9, LIMIT, timed_out=True)
    env = Environment(item_id="x", prompt="Q")
    traj = cc.to_trajectory(run, "Q", env, sample=0, seconds=LIMIT)
    assert traj.timed_out and not traj.usage_complete and traj.error is None
    assert traj.usage.prompt_tokens == whole.prompt_tokens > 0
    assert traj.usage.cached_tokens == whole.cached_tokens
    assert traj.usage.completion_tokens <= whole.completion_tokens
