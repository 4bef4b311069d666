"""The agent-CLI harnesses (`codex`, `claude-code`) without a model: workspace layout, command
lines, configuration, the missing-CLI and version errors, and parsing of RECORDED transcripts
of both CLIs run against the embedded 0.5B model (tests/fixtures/agent_cli/, made by its
record.py). A stub executable stands in for each CLI: it records its argv, environment and
workspace, then prints a recorded transcript."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from harness_fakes import close_loopback_servers, loopback_target
from waits import HANG_S, wait_for

from skillfit.harness import (
    HarnessError,
    bind_harness,
    cli_agent,
    cli_record,
    get_harness,
    harness_names,
)
from skillfit.harness import claude_code as cc
from skillfit.harness import codex as cx
from skillfit.harness.claude_code import ClaudeCodeHarness
from skillfit.harness.codex import CodexHarness
from skillfit.optim.prompting import render_actions, render_example
from skillfit.skill.skilldir import SkillDir, load_skill_dir
from skillfit.tasks import get_task
from skillfit.tasks.base import Environment, Item, Score, Trajectory

FIX = Path(__file__).parent / "fixtures" / "agent_cli"
SKILL = "# Boolean\n\n## Answer format\nReply with exactly one line: `Answer: True`.\n"


def LocalTarget() -> Any:  # noqa: N802 -- stands where a class was
    """The embedded model as the harness meets it: reading its base_url starts its loopback
    server, which keeps the context it started with (tests/harness_fakes.py)."""
    return loopback_target()


def stub_cli(tmp_path: Path, name: str, version: str, transcript: Path | None) -> Path:
    """An executable named `name` that prints `version` for --version; otherwise it records
    argv, environment and the workspace's files in calls.jsonl and prints `transcript`."""
    folder = tmp_path / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "calls.jsonl"
    script = folder / name
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, os, sys
            if sys.argv[1:] == ["--version"]:
                print({version!r}); sys.exit(0)
            files = sorted(
                os.path.relpath(os.path.join(d, f), os.getcwd())
                for d, _, fs in os.walk(os.getcwd()) for f in fs
            )
            skills = {{
                f: open(f, encoding="utf-8").read() for f in files if f.endswith("SKILL.md")
            }}
            config = {{}}
            for var in ("CODEX_HOME", "CLAUDE_CONFIG_DIR"):
                path = os.path.join(os.environ.get(var, "/nonexistent"), "config.toml")
                if os.path.exists(path):
                    config[var] = open(path, encoding="utf-8").read()
            with open({str(log)!r}, "a", encoding="utf-8") as f:
                f.write(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ),
                    "cwd": os.getcwd(), "files": files, "skills": skills,
                    "config": config}}) + "\\n")
            transcript = {str(transcript) if transcript else ""!r}
            if transcript:
                sys.stdout.write(open(transcript, encoding="utf-8").read())
            """
        ),
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def bbh_env() -> tuple[Item, Environment, Any]:
    task = get_task("bbh/boolean_expressions")
    item = task.splits()["test"][0]
    return item, task.environment(item), task


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for var in ("SKILLFIT_CODEX_BIN", "SKILLFIT_CLAUDE_BIN", "SKILLFIT_AGENT_CLI_ANY_VERSION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SKILLFIT_AGENT_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.delenv("SKILLFIT_LOCAL_CTX", raising=False)
    cli_agent._checked.clear()
    cli_agent._endpoint_checks.clear()
    yield
    close_loopback_servers()
    cli_agent._endpoint_checks.clear()  # a dead port's verdict must not meet a later server


# --- registration, the missing CLI, the pinned version --------------------------------------


def test_both_harnesses_are_registered() -> None:
    assert {"codex", "claude-code"} <= set(harness_names())


@pytest.mark.parametrize(
    ("name", "package"),
    [("codex", "@openai/codex@0.171.0"), ("claude-code", "@anthropic-ai/claude-code@2.1.197")],
)
def test_missing_cli_names_its_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, package: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(HarnessError) as info:
        get_harness(name)
    message = str(info.value)
    assert f"npm install -g {package}" in message
    assert "not found" in message
    # A run fails at the start (binding), before any model is built.
    with pytest.raises(HarnessError, match="npm install -g"):
        bind_harness(get_task("bbh/boolean_expressions"), name)


def test_cli_path_from_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stub = stub_cli(tmp_path, "my-codex", "codex-cli 0.171.0", None)
    monkeypatch.setenv("SKILLFIT_CODEX_BIN", str(stub))
    assert CodexHarness(check=True).check() == str(stub)
    monkeypatch.setenv("SKILLFIT_CODEX_BIN", str(tmp_path / "nowhere"))
    cli_agent._checked.clear()
    with pytest.raises(HarnessError, match="SKILLFIT_CODEX_BIN"):
        CodexHarness().check()


def test_version_is_checked_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stub = stub_cli(tmp_path, "claude", "2.0.1 (Claude Code)", None)
    with pytest.raises(HarnessError, match=r"2\.0\.1.*pinned to 2\.1\.197"):
        ClaudeCodeHarness(executable=str(stub), check=True)
    monkeypatch.setenv("SKILLFIT_AGENT_CLI_ANY_VERSION", "1")
    assert ClaudeCodeHarness(executable=str(stub)).check() == str(stub)


def test_bypass_is_never_possible() -> None:
    argv = cc.command("claude", "hi", model="m", tools=["Skill"])
    assert "bypassPermissions" not in argv and "--dangerously-skip-permissions" not in argv
    assert argv[argv.index("--permission-mode") + 1] == "dontAsk"
    with pytest.raises(ValueError):
        ClaudeCodeHarness(extra_tools=["bypassPermissions"])
    argv = cx.command("codex", "hi", work="/w", sandbox="read-only")
    assert not any("bypass" in a or "dangerously" in a for a in argv)
    with pytest.raises(ValueError):
        CodexHarness(sandbox="danger-full-access")


# --- command lines and configuration ---------------------------------------------------------


def test_codex_command_line_and_config() -> None:
    argv = cx.command("/bin/codex", "$my-skill Q", work="/w/work", sandbox="read-only")
    assert argv == [
        "/bin/codex",
        "exec",
        "--json",
        "--strict-config",
        "--ephemeral",
        "--skip-git-repo-check",
        "--sandbox",
        "read-only",
        "--cd",
        "/w/work",
        "$my-skill Q",
    ]
    local = cli_agent.Endpoint("local", "http://127.0.0.1:4000", "qwen2.5-coder-0.5b")
    cfg = tomllib.loads(cx.config_toml(local, timeout=90))
    assert cfg["model"] == "qwen2.5-coder-0.5b" and cfg["model_provider"] == "skillfit"
    provider = cfg["model_providers"]["skillfit"]
    assert provider["base_url"] == "http://127.0.0.1:4000/v1"
    assert provider["wire_api"] == "responses" and "env_key" not in provider
    assert provider["stream_idle_timeout_ms"] == 90_000
    assert cfg["check_for_update_on_startup"] is False and cfg["web_search"] == "disabled"
    assert cfg["analytics"]["enabled"] is False and cfg["feedback"]["enabled"] is False
    assert cfg["otel"]["exporter"] == "none"
    assert cfg["skills"]["bundled"]["enabled"] is False and cfg["agents"]["enabled"] is False
    assert not any(cfg["features"].values())
    real = cli_agent.Endpoint("openai", "https://api.openai.com", "gpt-5.4-mini", "OPENAI_API_KEY")
    provider = tomllib.loads(cx.config_toml(real, timeout=60))["model_providers"]["skillfit"]
    assert provider["base_url"] == "https://api.openai.com/v1"
    assert provider["env_key"] == "OPENAI_API_KEY"


def test_claude_command_line_and_environment() -> None:
    argv = cc.command("/bin/claude", "/my-skill Q", model="qwen", tools=["Skill"])
    assert argv == [
        "/bin/claude",
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "dontAsk",
        "--tools",
        "Skill",
        "--allowedTools",
        "Skill",
        "--no-session-persistence",
        "--model",
        "qwen",
        "/my-skill Q",
    ]
    local = cli_agent.Endpoint("local", "http://127.0.0.1:4000", "qwen")
    env = cc.cli_variables(local, "/cfg", 120)
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4000"
    assert env["ANTHROPIC_API_KEY"] == "local" and env["CLAUDE_CONFIG_DIR"] == "/cfg"
    assert env["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0"
    assert env["API_TIMEOUT_MS"] == env["CLAUDE_STREAM_IDLE_TIMEOUT_MS"] == "120000"
    for var in ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_AUTOUPDATER"):
        assert env[var] == "1"
    real = cli_agent.Endpoint("anthropic", "https://api.anthropic.com", "claude-x", "X_KEY")
    assert "ANTHROPIC_API_KEY" not in cc.cli_variables(real, "/cfg", 60)  # from the env only


def test_tools_depend_on_the_environment() -> None:
    _, env, _ = bbh_env()
    assert cc.tools_for(env) == ["Skill"]
    # An invoked skill (or none at all) needs no Skill tool: no tools for a tool-free item.
    assert cc.tools_for(env, skill_tool=False) == []
    with_files = Environment(item_id="f", prompt="p", files={"a.txt": "/x"})
    assert cc.tools_for(with_files) == ["Read", "Glob", "Grep", "Skill"]
    assert cc.tools_for(with_files, skill_tool=False) == ["Read", "Glob", "Grep"]


def test_prompts_invoke_the_skill_by_name() -> None:
    _, env, _ = bbh_env()
    bundle = cli_agent.skill_bundle(SKILL, env, None)
    assert bundle is not None and bundle.name == "bbh-boolean-expressions"
    text = f"{env.instructions}\n\n{env.prompt}"
    assert cx.prompt_for(env, bundle, invoke=True) == f"$bbh-boolean-expressions {text}"
    assert cc.prompt_for(env, bundle, invoke=True) == f"/bbh-boolean-expressions {text}"
    assert cx.prompt_for(env, bundle, invoke=False) == text
    assert cx.prompt_for(env, None, invoke=True) == text
    assert cli_agent.skill_bundle("  \n", env, None) is None


def test_endpoints() -> None:
    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    local = LocalTarget()
    ep = cli_agent.endpoint_for(local, wire="openai")
    assert (ep.provider, ep.base_url, ep.model) == (
        "local",
        local.base_url,
        "qwen2.5-coder-0.5b",
    )
    assert ep.base_url.startswith("http://127.0.0.1:")
    ep = cli_agent.endpoint_for(Named("openai:gpt-5.4-mini"), wire="openai")  # type: ignore[arg-type]
    assert (ep.base_url, ep.model, ep.key_var) == (
        "https://api.openai.com",
        "gpt-5.4-mini",
        "OPENAI_API_KEY",
    )
    ep = cli_agent.endpoint_for(
        Named("openai:qwen@http://10.0.0.5:8000/v1"),  # type: ignore[arg-type]
        wire="openai",
    )
    assert ep.base_url == "http://10.0.0.5:8000"
    ep = cli_agent.endpoint_for(Named("anthropic:claude-x"), wire="anthropic")  # type: ignore[arg-type]
    assert (ep.base_url, ep.key_var) == ("https://api.anthropic.com", "ANTHROPIC_API_KEY")
    with pytest.raises(HarnessError, match="anthropic:<model>"):
        cli_agent.endpoint_for(Named("openai:gpt-5.4-mini"), wire="anthropic")  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="openai:<model>"):
        cli_agent.endpoint_for(Named("scripted:echo"), wire="openai")  # type: ignore[arg-type]


def test_local_server_gets_enough_context() -> None:
    """Reading an embedded target's base_url starts its server: the context must be raised
    first, with no SKILLFIT_LOCAL_CTX (the harnesses failed by default on local: models)."""
    from skillfit.models.local.server import LocalServer, ServerOptions

    target = LocalTarget()
    cli_agent.endpoint_for(target, wire="openai")
    assert target.server.started_ctx == cli_agent.LOCAL_CONTEXT
    assert target.server.options.slots == 2
    # Through the wrappers a run puts around the target, and for the Anthropic wire too.
    from skillfit.models.stack import wrap

    wrapped = wrap(LocalTarget(), role="target")
    cli_agent.endpoint_for(wrapped, wire="anthropic")
    assert wrapped.server.started_ctx == cli_agent.LOCAL_CONTEXT  # type: ignore[attr-defined]
    small = LocalServer(Path("/nonexistent.gguf"), ServerOptions(slots=1, ctx_per_slot=2048))
    small._server = object()  # started by something else first
    started = SimpleNamespace(name="local:x", server=small, base_url="http://127.0.0.1:1")
    with pytest.raises(HarnessError, match="SKILLFIT_LOCAL_CTX=16384"):
        cli_agent.endpoint_for(started, wire="openai")  # type: ignore[arg-type]


# --- workspace layout, through the stub CLI ---------------------------------------------------


@pytest.mark.parametrize(
    ("harness_cls", "cli", "version", "skills_dir"),
    [
        (CodexHarness, "codex", "codex-cli 0.171.0", ".agents/skills"),
        (ClaudeCodeHarness, "claude", "2.1.197 (Claude Code)", ".claude/skills"),
    ],
)
def test_workspace_layout(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    harness_cls: type,
    cli: str,
    version: str,
    skills_dir: str,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "must-not-leak")
    monkeypatch.setenv("SECRET_THING", "must-not-leak")
    data = tmp_path / "data"
    (data / "docs").mkdir(parents=True)
    (data / "docs" / "a.txt").write_text("alpha")
    (data / "notes.txt").write_text("beta")
    template = SkillDir("my-skill", "Use it for tests.", "old body", files={"ref/x.md": b"ref"})
    stub = stub_cli(tmp_path, cli, version, None)
    harness = harness_cls(executable=str(stub), skill_dir=template)
    env = Environment(
        item_id="i1",
        prompt="Which file says alpha?",
        instructions="Answer briefly.",
        task="files",
        files={"docs": str(data / "docs"), "notes.txt": str(data / "notes.txt")},
    )
    traj = harness.run(LocalTarget(), SKILL, env)
    (call,) = calls(tmp_path)
    assert call["files"] == [
        f"{skills_dir}/my-skill/SKILL.md",
        f"{skills_dir}/my-skill/ref/x.md",
        "docs/a.txt",
        "notes.txt",
    ]
    installed = call["skills"][f"{skills_dir}/my-skill/SKILL.md"]
    assert installed.startswith("---\nname: my-skill\ndescription: Use it for tests.\n---\n")
    assert "`Answer: True`" in installed and "old body" not in installed
    run_root = Path(call["cwd"]).parent
    assert Path(call["cwd"]).name == "work" and run_root.parent == tmp_path / "runs"
    assert call["env"]["HOME"] == str(run_root / "home")
    assert call["env"]["TMPDIR"] == str(run_root / "tmp")
    assert "must-not-leak" not in json.dumps(call["env"])  # no key reaches a local run
    assert not run_root.exists()  # removed after the run
    # No output at all: an infrastructure error, never a wrong answer.
    assert traj.error is not None and traj.score is None
    # No skill: nothing installed, nothing invoked.
    harness.run(LocalTarget(), "", env)
    second = calls(tmp_path)[1]
    assert not any(skills_dir in f for f in second["files"])
    assert "my-skill" not in second["argv"][-1]


def test_codex_writes_its_config_in_codex_home(tmp_path: Path) -> None:
    stub = stub_cli(tmp_path, "codex", "codex-cli 0.171.0", None)
    _, env, _ = bbh_env()
    CodexHarness(executable=str(stub)).run(LocalTarget(), SKILL, env)
    (call,) = calls(tmp_path)
    cfg = tomllib.loads(call["config"]["CODEX_HOME"])
    assert cfg["model_providers"]["skillfit"]["base_url"].startswith("http://127.0.0.1:")
    assert cfg["model_providers"]["skillfit"]["base_url"].endswith("/v1")
    assert call["argv"][-1].startswith("$bbh-boolean-expressions ")


def sleeping_cli(tmp_path: Path, name: str, version: str) -> Path:
    """An executable that answers --version, then for a run writes its pid and workspace to
    <tmp_path>/started/<pid> and sleeps: a CLI that never finishes (a looping model)."""
    started = tmp_path / "started"
    started.mkdir(parents=True, exist_ok=True)
    folder = tmp_path / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(
        f"#!{sys.executable}\nimport os, sys, time\n"
        f"if sys.argv[1:] == ['--version']:\n    print({version!r}); sys.exit(0)\n"
        f"path = os.path.join({str(started)!r}, str(os.getpid()))\n"
        "open(path + '.tmp', 'w').write(os.getcwd())\n"
        "os.replace(path + '.tmp', path)\n"
        f"time.sleep({2 * HANG_S})\n"
    )
    script.chmod(0o755)
    return script


CLIS = [
    (CodexHarness, "codex", "codex-cli 0.171.0"),
    (ClaudeCodeHarness, "claude", "2.1.197 (Claude Code)"),
]


@pytest.mark.parametrize(("harness_cls", "cli", "version"), CLIS)
def test_a_run_at_the_wall_clock_limit_is_a_failed_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, harness_cls: type, cli: str, version: str
) -> None:
    """A CLI still working at the limit (a small model looping) has failed the item: scored
    0 with feedback saying so, never excluded as an infrastructure error, and not cached."""
    from skillfit.models.cache import ResponseCache
    from skillfit.models.stack import wrap

    stub = sleeping_cli(tmp_path, cli, version)
    # Runs are counted as they start, not by the stub's file: a loaded machine may not even
    # get the stub to write it within the 1 s limit.
    runs: list[int] = []

    class Popen(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            super().__init__(args, *rest, **kwargs)
            if list(args)[1:] != ["--version"]:
                runs.append(self.pid)

    monkeypatch.setattr(cli_agent.subprocess, "Popen", Popen)
    item, _, task = bbh_env()
    target = wrap(LocalTarget(), cache=ResponseCache(tmp_path / "cache.sqlite"))  # type: ignore[arg-type]
    bound = bind_harness(task, harness_cls(executable=str(stub), timeout=1.0))
    traj = bound.rollout(target, SKILL, item)
    # Ended by the 1 s limit: the CLI itself would sleep far past the hang bound.
    assert traj.error is None and traj.ok and traj.seconds < HANG_S
    assert traj.score is not None and traj.score.hard == 0 and traj.score.soft == 0.0
    assert "wall-clock limit" in traj.score.feedback and traj.answer == ""
    bound.rollout(target, SKILL, item)
    assert len(runs) == 2  # run again, not replayed


def test_timed_out_runs_count_in_eval_transfer_and_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness_fakes import TASK
    from train_fakes import Optimizer, config, run

    from skillfit.harness import registry
    from skillfit.train.evaluation import evaluate_skill
    from skillfit.train.transfer import run_grid

    stub = sleeping_cli(tmp_path, "codex", "codex-cli 0.171.0")
    monkeypatch.setitem(
        registry._REGISTRY, "codex", lambda: CodexHarness(executable=str(stub), timeout=1.0)
    )
    task = get_task(TASK, n_train=3, n_val=2, n_test=2)
    items = task.splits()["test"]
    target = LocalTarget()
    result, _ = evaluate_skill(bind_harness(task, "codex"), target, SKILL, items, concurrency=2)
    assert (result.scored, result.correct, result.n_errors, result.accuracy) == (2, 0, 0, 0.0)
    (cell,) = run_grid(task, SKILL, items, ["local:x"], ["codex"], lambda spec: target)
    assert cell.none.result.scored == cell.skill.result.scored == 2
    assert cell.none.result.n_errors == cell.skill.result.n_errors == 0
    cfg = config(
        tmp_path,
        f"task.name={TASK}",
        "task.options={n_train: 3, n_val: 2, n_test: 2, seed: 0}",
        "target.harness=codex",
    )
    trained = run(cfg, task, target, Optimizer().model)
    assert not trained.summary.get("infra_errors")
    assert trained.test is not None and trained.test["none"]["accuracy"] == 0.0
    rows = (trained.run_dir / "steps" / "step_0001" / "rollouts.jsonl").read_text().splitlines()
    first = json.loads(rows[0])
    assert first["ok"] and first["score"]["hard"] == 0
    assert "wall-clock limit" in first["score"]["feedback"]


def test_a_real_endpoint_key_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Remote:
        name = "anthropic:claude-x"

    stub = stub_cli(tmp_path, "claude", "2.1.197 (Claude Code)", None)
    _, env, _ = bbh_env()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-value")
    asked: list[str] = []  # no request leaves the machine: the endpoint check is answered here
    monkeypatch.setattr(cli_agent, "endpoint_problem", lambda url, *a: asked.append(url))
    ClaudeCodeHarness(executable=str(stub)).run(Remote(), SKILL, env)  # type: ignore[arg-type]
    (call,) = calls(tmp_path)
    assert call["env"]["ANTHROPIC_API_KEY"] == "sk-test-value"
    assert call["env"]["ANTHROPIC_BASE_URL"] == "https://api.anthropic.com"
    assert call["argv"][call["argv"].index("--model") + 1] == "claude-x"
    assert "OPENAI_API_KEY" not in call["env"]
    assert asked == ["https://api.anthropic.com/v1/models"]


# --- parsing recorded transcripts ---------------------------------------------------------------


def recorded(name: str) -> tuple[str, dict[str, Any]]:
    return (FIX / f"{name}.jsonl").read_text("utf-8"), json.loads(
        (FIX / f"{name}.json").read_text("utf-8")
    )


@pytest.mark.parametrize("case", ["none", "skill", "files"])
def test_codex_recorded_transcripts(case: str) -> None:
    stdout, expected = recorded(f"codex-{case}")
    out = cx.parse_output(stdout, "PROMPT")
    assert out.answer == expected["answer"]
    usage = out.usage
    assert [usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens] == expected["usage"]
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert [c["tool"] for c in out.tool_calls] == expected["tool_calls"]
    assert out.errors == []  # the model-metadata warning every run prints is skipped
    assert out.messages[0] == {"role": "user", "content": "PROMPT"}
    assert out.messages[-1] == {"role": "assistant", "content": expected["answer"]}


@pytest.mark.parametrize("case", ["none", "skill", "files"])
def test_claude_recorded_transcripts(case: str) -> None:
    stdout, expected = recorded(f"claude-code-{case}")
    out = cc.parse_output(stdout, "PROMPT")
    assert out.answer == expected["answer"]
    usage = out.usage
    assert [usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens] == expected["usage"]
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert [c["tool"] for c in out.tool_calls] == expected["tool_calls"]
    assert not out.is_error and out.init is not None
    assert out.init["model"] == "qwen2.5-coder-0.5b"
    if expected["skill"]:
        assert "bbh-boolean-expressions" in out.skills


@pytest.mark.parametrize(
    ("harness_cls", "cli", "version", "prefix"),
    [
        (CodexHarness, "codex", "codex-cli 0.171.0", "codex"),
        (ClaudeCodeHarness, "claude", "2.1.197 (Claude Code)", "claude-code"),
    ],
)
def test_recorded_runs_score_through_the_task(
    tmp_path: Path, harness_cls: type, cli: str, version: str, prefix: str
) -> None:
    """The harness end to end over a replayed transcript: answer, usage, notes, the score."""
    item, env, task = bbh_env()
    _, expected = recorded(f"{prefix}-skill")
    stub = stub_cli(tmp_path, cli, version, FIX / f"{prefix}-skill.jsonl")
    harness = harness_cls(executable=str(stub), transcripts=tmp_path / "raw")
    bound = bind_harness(task, harness)
    traj = bound.rollout(LocalTarget(), SKILL, item)
    assert traj.error is None and traj.score is not None
    assert traj.usage.total_tokens == sum(expected["usage"][:2])
    assert traj.score.hard == int(item.target in expected["answer"].split("Answer:")[-1])
    assert traj.messages[0]["role"] == "user" and traj.messages[0]["content"].startswith(
        "$bbh-boolean-expressions " if prefix == "codex" else "/bbh-boolean-expressions "
    )
    (raw,) = (tmp_path / "raw").glob("*.jsonl")
    assert raw.read_text() == (FIX / f"{prefix}-skill.jsonl").read_text()


@pytest.mark.parametrize("prefix", ["codex", "claude-code"])
def test_recorded_file_run_shows_the_actions_to_reflection(prefix: str) -> None:
    stdout, expected = recorded(f"{prefix}-files")
    parse = cx.parse_output if prefix == "codex" else cc.parse_output
    out = parse(stdout, "PROMPT")
    env = Environment(item_id="file-1", prompt="Q", task="files")
    run = cli_agent.CliRun([], stdout, "", 0, 1.0)
    to_traj = cx.to_trajectory if prefix == "codex" else cc.to_trajectory
    traj = to_traj(run, "PROMPT", env, sample=0, seconds=1.0)
    assert traj.error is None
    if out.tool_calls:
        assert any(n.startswith("Tool use (") for n in traj.notes)
        traj.score = Score(0, 0.0, "wrong")
        text = render_example(1, Item("file-1", "Q", "4417"), traj)
        assert "Agent actions:\n1. " in text
        assert expected["tool_calls"][0] in text


def test_no_usage_is_an_error_not_a_zero() -> None:
    stdout = "\n".join(
        [
            json.dumps({"type": "thread.started"}),
            json.dumps(
                {"type": "item.completed", "item": {"type": "agent_message", "text": "Answer: 1"}}
            ),
            json.dumps({"type": "turn.completed", "usage": {}}),
        ]
    )
    env = Environment(item_id="x", prompt="Q")
    traj = cx.to_trajectory(cli_agent.CliRun([], stdout, "", 0, 1.0), "Q", env, sample=0, seconds=1)
    assert traj.error is not None and "no token usage" in traj.error
    result = {"type": "result", "subtype": "success", "is_error": False, "result": "A"}
    traj = cc.to_trajectory(
        cli_agent.CliRun([], json.dumps(result), "", 0, 1.0), "Q", env, sample=0, seconds=1
    )
    assert traj.error is not None and "no token usage" in traj.error


def test_failed_runs_are_infrastructure_errors() -> None:
    env = Environment(item_id="x", prompt="Q")
    failed = "\n".join(
        [
            json.dumps({"type": "error", "message": "Reconnecting... waiting for network"}),
            json.dumps({"type": "turn.failed", "error": {"message": "stream disconnected"}}),
        ]
    )
    traj = cx.to_trajectory(cli_agent.CliRun([], failed, "", 1, 1.0), "Q", env, sample=0, seconds=1)
    assert traj.error is not None and "stream disconnected" in traj.error
    traj = cx.to_trajectory(
        cli_agent.CliRun([], "", "boom\n", 2, 1.0), "Q", env, sample=0, seconds=1
    )
    assert traj.error is not None and "boom" in traj.error
    result = {
        "type": "result",
        "subtype": "error_during_execution",
        "is_error": True,
        "result": "API Error: 500",
        "usage": {"input_tokens": 5, "output_tokens": 0},
    }
    traj = cc.to_trajectory(
        cli_agent.CliRun([], json.dumps(result), "", 1, 1.0), "Q", env, sample=0, seconds=1
    )
    assert traj.error is not None and "API Error: 500" in traj.error


def test_render_actions_leaves_out_the_answer_action() -> None:
    calls_ = [
        {
            "step": 1,
            "tool": "shell",
            "args": {"command": "cat notes.txt"},
            "ok": True,
            "result": "The code is 4417.",
        },
        {"step": 2, "tool": "answer", "args": {"answer": "4417"}, "ok": True, "result": ""},
    ]
    text = render_actions(calls_)
    assert text == '1. shell({"command": "cat notes.txt"}) -> ok: The code is 4417.'
    assert render_actions([calls_[1]]) == ""
    traj = Trajectory(item_id="x", messages=[], answer="4417", tool_calls=calls_[1:])
    traj.score = Score(1, 1.0, "")
    assert "Agent actions" not in render_example(1, Item("x", "Q", "4417"), traj)


def test_skill_directory_template_is_validated(tmp_path: Path) -> None:
    bundle = SkillDir("my-skill", "d", "b")
    saved = bundle.save(tmp_path / "my-skill")
    assert load_skill_dir(saved).name == "my-skill"
    assert os.path.basename(cx.SKILLS_DIR) == "skills" and cc.SKILLS_DIR == ".claude/skills"


def test_transfer_grid_runs_the_cli_harnesses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`skillfit transfer --harnesses codex,claude-code`: every cell replays a recorded run;
    tokens come from the CLIs' own usage, never zero."""
    from skillfit.train.transfer import run_grid, to_markdown

    codex = stub_cli(tmp_path / "c", "codex", "codex-cli 0.171.0", FIX / "codex-skill.jsonl")
    claude = stub_cli(
        tmp_path / "a", "claude", "2.1.197 (Claude Code)", FIX / "claude-code-skill.jsonl"
    )
    monkeypatch.setenv("SKILLFIT_CODEX_BIN", str(codex))
    monkeypatch.setenv("SKILLFIT_CLAUDE_BIN", str(claude))
    task = get_task("bbh/boolean_expressions", n_train=1, n_val=1, n_test=2)
    items = task.splits()["test"]
    cells = run_grid(
        task,
        SKILL,
        items,
        ["local:qwen2.5-coder-0.5b"],
        ["codex", "claude-code"],
        lambda spec: LocalTarget(),  # type: ignore[arg-type, return-value]
    )
    assert [c.harness for c in cells] == ["codex", "claude-code"]
    for cell in cells:
        assert cell.none.result.n_errors == 0 and cell.skill.result.n_errors == 0
        assert cell.none.usage.total_tokens > 0 and cell.skill.usage.total_tokens > 0
    table = to_markdown(
        cells,
        {
            "skill": "s",
            "task": task.name,
            "split": "test",
            "n_items": 2,
            "samples": 1,
            "trained_target": "local:qwen2.5-coder-0.5b",
            "trained_harness": "chat",
        },
    )
    assert "| local:qwen2.5-coder-0.5b | codex |" in table
    assert "| local:qwen2.5-coder-0.5b | claude-code |" in table


@pytest.mark.parametrize(
    ("harness_cls", "cli", "version", "prefix"),
    [
        (CodexHarness, "codex", "codex-cli 0.171.0", "codex"),
        (ClaudeCodeHarness, "claude", "2.1.197 (Claude Code)", "claude-code"),
    ],
)
def test_runs_are_kept_in_the_response_cache(
    tmp_path: Path, harness_cls: type, cli: str, version: str, prefix: str
) -> None:
    """A run repeated with the same CLI, model, prompt, skill and files replays its output from
    the target's response cache (with the tokens it cost); another skill runs the CLI again."""
    from skillfit.models.cache import ResponseCache
    from skillfit.models.stack import wrap

    target = wrap(LocalTarget(), cache=ResponseCache(tmp_path / "cache.sqlite"))  # type: ignore[arg-type]
    stub = stub_cli(tmp_path, cli, version, FIX / f"{prefix}-skill.jsonl")
    _, env, _ = bbh_env()
    harness = harness_cls(executable=str(stub))
    first = harness.run(target, SKILL, env)
    again = harness.run(target, SKILL, env)
    assert first.error is None and again.error is None
    assert len(calls(tmp_path)) == 1
    assert (again.answer, again.usage, again.messages) == (
        first.answer,
        first.usage,
        first.messages,
    )
    harness.run(target, SKILL + "\nOne more rule.\n", env)
    harness_cls(executable=str(stub), cache=False).run(target, SKILL, env)
    assert len(calls(tmp_path)) == 3


def test_recorded_embedded_model_run_of_claude_code() -> None:
    """A real Claude Code run on the embedded 0.5B ("What is 17+25?", the Skill tool listed):
    the model printed a tool call as text instead of making one, and the usage is counted."""
    out = cc.parse_output((FIX / "claude-code-embedded-0.5b.jsonl").read_text("utf-8"), "Q")
    assert out.answer is not None and '"name": "Skill"' in out.answer
    assert out.tool_calls == []  # no structured tool call
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (2587 + 438, 25)
    assert out.usage.cached_tokens == 438
    assert out.init is not None and out.init["tools"] == ["Skill"]


def test_claude_code_prompt_cache_writes_are_counted() -> None:
    """Claude Code's result usage counts uncached input apart from cache reads and writes:
    the prompt is all three, and the writes are kept apart (they cost more than input)."""
    usage = {
        "input_tokens": 7,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 900,
        "output_tokens": 30,
    }
    result = {"type": "result", "subtype": "success", "result": "42", "usage": usage}
    out = cc.parse_output(json.dumps(result), "Q")
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (2907, 30)
    assert (out.usage.cached_tokens, out.usage.cache_write_tokens) == (2000, 900)


def test_an_agent_cli_does_not_outlive_a_terminated_run(tmp_path: Path) -> None:
    """Each CLI runs in its own session, so SIGTERM to skillfit would not reach it: the CLI
    harness kills the CLIs still running, and removes their workspaces, before skillfit ends."""
    pid_file = tmp_path / "cli.pid"
    script = f"""
import threading, time
from pathlib import Path
from skillfit.harness.cli_agent import make_workspace, reap_clis_on_exit, run_cli
from skillfit.tasks.base import Environment
reap_clis_on_exit()
ws = make_workspace(
    Environment(item_id="x", prompt="Q"), None, skills_dir=".agents/skills",
    prefix="skillfit-codex-", parent={str(tmp_path)!r},
)
argv = ["sh", "-c", "echo $$ > {pid_file}; exec sleep 300"]
threading.Thread(
    target=run_cli, args=(argv,), kwargs={{"cwd": ws.work, "env": {{}}, "timeout": 300}},
    daemon=True,
).start()
time.sleep(300)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    # The bounds only end a hang: each wait is for an event (the pid file, an exit, a death).
    deadline = time.monotonic() + HANG_S
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    cli = int(pid_file.read_text())
    assert _alive(cli)
    # The CLI may have written its pid before run_cli registered it: the handler waits for that.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=HANG_S) == -signal.SIGTERM
    assert not list(tmp_path.glob("skillfit-codex-*"))
    deadline = time.monotonic() + HANG_S
    while _alive(cli) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(cli)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_a_sigterm_while_a_cli_starts_still_reaches_it(tmp_path: Path) -> None:
    """A SIGTERM that comes after the CLI started but before run_cli registered it (here: on the
    main thread, inside Popen) is held until the registration, so that CLI is killed too."""
    pid_file = tmp_path / "cli.pid"
    script = f"""
import os, signal, subprocess
from pathlib import Path
from skillfit.harness import cli_agent
cli_agent.reap_clis_on_exit()

class Popen(subprocess.Popen):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Path({str(pid_file)!r}).write_text(str(self.pid))
        os.kill(os.getpid(), signal.SIGTERM)

cli_agent.subprocess.Popen = Popen
cli_agent.run_cli(["sleep", "{2 * HANG_S:.0f}"], cwd=Path("."), env={{}}, timeout={HANG_S})
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    assert proc.wait(timeout=HANG_S) == -signal.SIGTERM
    cli = int(pid_file.read_text())
    deadline = time.monotonic() + HANG_S
    while _alive(cli) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(cli)
    if alive:
        os.kill(cli, signal.SIGKILL)
    assert not alive


def test_a_ctrl_c_while_a_cli_starts_stops_it(tmp_path: Path) -> None:
    """The same for Ctrl-C: held until the CLI is registered, then it kills and reaps that CLI,
    and run_cli raises KeyboardInterrupt (no run to score); no later CLI starts."""
    pid_file = tmp_path / "cli.pid"
    script = f"""
import os, signal, subprocess, sys
from pathlib import Path
from skillfit.harness import cli_agent
cli_agent.reap_clis_on_exit()

class Popen(subprocess.Popen):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Path({str(pid_file)!r}).write_text(str(self.pid))
        os.kill(os.getpid(), signal.SIGINT)

cli_agent.subprocess.Popen = Popen
argv = ["sleep", "{2 * HANG_S:.0f}"]
try:
    cli_agent.run_cli(argv, cwd=Path("."), env={{}}, timeout={HANG_S})
except KeyboardInterrupt:
    assert not cli_agent._LIVE, cli_agent._LIVE
    try:
        cli_agent.run_cli(argv, cwd=Path("."), env={{}}, timeout={HANG_S})
    except KeyboardInterrupt:
        sys.exit(130)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    code = proc.wait(timeout=HANG_S)
    cli = int(pid_file.read_text())
    alive = _alive(cli)
    if alive:
        os.kill(cli, signal.SIGKILL)
    assert code == 130 and not alive


# --- a user's first runs: default context, a dead endpoint, transcripts, a hung --version -------


def test_eval_and_transfer_give_the_embedded_server_the_cli_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`eval --harness codex` and `transfer --harnesses chat,codex` on a local: target with no
    SKILLFIT_LOCAL_CTX: the server starts with the CLI's context, even when the chat arm
    starts it before any CLI runs."""
    import skillfit.api
    from skillfit.train.transfer import run_grid

    codex = stub_cli(tmp_path, "codex", "codex-cli 0.171.0", FIX / "codex-skill.jsonl")
    monkeypatch.setenv("SKILLFIT_CODEX_BIN", str(codex))
    task = get_task("bbh/boolean_expressions", n_train=1, n_val=1, n_test=2)
    items = task.splits()["test"]
    target = LocalTarget()
    cells = run_grid(task, SKILL, items, ["local:x"], ["chat", "codex"], lambda spec: target)
    assert target.server.started_ctx == cli_agent.LOCAL_CONTEXT
    assert [c.skill.result.n_errors for c in cells] == [0, 0]
    target = LocalTarget()
    result = skillfit.api.evaluate(
        SKILL,
        task=task,
        task_name=task.name,
        harness="codex",
        target=target,
        overrides=["cache.enabled=false"],
    )
    assert result.n_errors == 0 and target.server.started_ctx == cli_agent.LOCAL_CONTEXT


def _dead_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


@pytest.mark.parametrize(("harness_cls", "cli", "version"), CLIS)
def test_a_dead_endpoint_fails_at_once_naming_it(
    tmp_path: Path, harness_cls: type, cli: str, version: str
) -> None:
    """Codex reconnected for 600 s per item against a dead endpoint and never said why: the
    endpoint is checked before the first item, and the run stops in seconds with the cause."""
    from skillfit.train.evaluation import evaluate_skill

    stub = sleeping_cli(tmp_path, cli, version)
    port = _dead_port()
    dead = SimpleNamespace(name="local:qwen2.5-coder-0.5b", base_url=f"http://127.0.0.1:{port}")
    task = get_task("bbh/boolean_expressions", n_train=1, n_val=1, n_test=4)
    bound = bind_harness(task, harness_cls(executable=str(stub)))
    begin = time.monotonic()
    with pytest.raises(cli_agent.EndpointUnreachable) as info:
        evaluate_skill(bound, dead, SKILL, task.splits()["test"], concurrency=2)  # type: ignore[arg-type]
    # Without the check each item would wait for the CLI's 600 s limit; the bound only ends that.
    assert time.monotonic() - begin < HANG_S
    message = str(info.value)
    assert f"http://127.0.0.1:{port}" in message and "connection refused" in message
    assert not list((tmp_path / "started").iterdir())  # no CLI was started
    assert not list((tmp_path / "runs").glob("*"))  # nor a workspace left


def test_a_dead_endpoint_exits_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from skillfit.cli import app

    stub = sleeping_cli(tmp_path, "codex", "codex-cli 0.171.0")
    monkeypatch.setenv("SKILLFIT_CODEX_BIN", str(stub))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key-000000000")
    skill = tmp_path / "skill.md"
    skill.write_text(SKILL)
    url = f"http://127.0.0.1:{_dead_port()}"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--skill",
            str(skill),
            "--task",
            "bbh/boolean_expressions",
            "--harness",
            "codex",
            "--target",
            f"openai:qwen@{url}/v1",
            "--set",
            "cache.enabled=false",
        ],
    )
    assert result.exit_code == 3, result.output
    assert f"{url} does not answer: connection refused" in result.output
    assert "Traceback" not in result.output


def test_transcripts_of_arms_skills_and_targets_are_kept_apart(tmp_path: Path) -> None:
    """15 runs left 6 files: transcripts were named by harness, item and sample only."""
    stub = stub_cli(tmp_path, "codex", "codex-cli 0.171.0", FIX / "codex-skill.jsonl")
    _, env, _ = bbh_env()
    raw = tmp_path / "raw"
    harness = CodexHarness(executable=str(stub), transcripts=raw, cache=False)
    other = SimpleNamespace(name="openai:qwen@http://user:sk-secret@127.0.0.1:1/v1")
    for skill in ("", SKILL, SKILL + "\nOne more rule.\n"):
        harness.run(LocalTarget(), skill, env)
        harness.run(LocalTarget(), skill, env, sample=1)
    names = sorted(p.name for p in raw.glob("*.jsonl"))
    assert len(names) == 6 and len(calls(tmp_path)) == 6
    assert sum("noskill" in n for n in names) == 2
    assert all(n.startswith("codex-local_qwen2.5-coder-0.5b-") for n in names)
    stem = cli_record.transcript_stem("codex", other.name, None, "item/1", 0)
    assert "sk-secret" not in stem and "/" not in stem
    assert stem != cli_record.transcript_stem(
        "codex", "local:qwen2.5-coder-1.5b", None, "item/1", 0
    )
    with_file = SkillDir("s", "d", SKILL, files={"ref.md": b"a"})
    assert cli_record.skill_tag(with_file) != cli_record.skill_tag(with_file.with_body(SKILL + "x"))
    assert cli_record.skill_tag(with_file) != cli_record.skill_tag(
        SkillDir("s", "d", SKILL, files={"ref.md": b"b"})
    )


def test_a_hung_version_check_leaves_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI whose --version hangs (a wrapper script starting the real CLI) is stopped with
    everything it started."""
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "codex"
    script.write_text(
        f"#!{sys.executable}\nimport os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pid_file)!r} + '.tmp', 'w').write(str(child.pid))\n"
        f"os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\n"
        "time.sleep(300)\n"
    )
    script.chmod(0o755)
    monkeypatch.setattr(cli_agent, "VERSION_TIMEOUT", 3.0)

    class Popen(subprocess.Popen):  # type: ignore[type-arg]
        def communicate(self, input: Any = None, timeout: float | None = None) -> Any:
            if timeout == cli_agent.VERSION_TIMEOUT:
                # The limit counts once the stub has started its child, however slow that was.
                wait_for(pid_file.exists, "the stub to start its child")
            return super().communicate(input, timeout)

    monkeypatch.setattr(cli_agent.subprocess, "Popen", Popen)
    with pytest.raises(HarnessError, match="--version did not finish within 3 s"):
        CodexHarness(executable=str(script)).check()
    child = int(pid_file.read_text())
    wait_for(lambda: not _alive(child), "the stub's child to be killed")


def test_eval_prints_tokens_and_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import skillfit.app.build
    from skillfit.cli import app

    codex = stub_cli(tmp_path, "codex", "codex-cli 0.171.0", FIX / "codex-skill.jsonl")
    monkeypatch.setenv("SKILLFIT_CODEX_BIN", str(codex))
    monkeypatch.setattr(skillfit.app.build, "get_model", lambda spec, **kw: LocalTarget())
    _, expected = recorded("codex-skill")
    skill = tmp_path / "skill.md"
    skill.write_text(SKILL)
    args = [
        "eval",
        "--skill",
        str(skill),
        "--task",
        "bbh/boolean_expressions",
        "--harness",
        "codex",
        "--set",
        "cache.enabled=false",
        "--set",
        "task.options={n_test: 2}",
    ]
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 0, plain.output
    total = 2 * sum(expected["usage"][:2])
    assert f"{total:,} tokens ({2 * expected['usage'][0]:,} prompt" in plain.output
    assert re.search(r"completion\), \d+\.\ds", plain.output)
    as_json = CliRunner().invoke(app, [*args, "--json"])
    data = json.loads(as_json.output)
    assert data["tokens"]["total"] == total and data["seconds"] > 0


def test_ctrl_c_stops_the_clis_and_the_run_resumes(tmp_path: Path) -> None:
    """SIGINT (Ctrl-C, the dashboard's Stop) during CLI runs: skillfit ends within seconds,
    the CLIs with it, no workspace is left in the temp folder, nothing of the interrupted
    items is kept, and the same command run again does them all."""
    from agent_cli_stub import stub_server

    sleeper = sleeping_cli(tmp_path / "slow", "codex", "codex-cli 0.171.0")
    answering = stub_cli(tmp_path / "ok", "codex", "codex-cli 0.171.0", FIX / "codex-skill.jsonl")
    temp = tmp_path / "tmp"
    temp.mkdir()
    skill = tmp_path / "skill.md"
    skill.write_text(SKILL)
    src = Path(cli_agent.__file__).parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
        "TMPDIR": str(temp),
        "OPENAI_API_KEY": "sk-test-not-a-key-000000000",
        "SKILLFIT_CODEX_BIN": str(sleeper),
    }
    env.pop("SKILLFIT_AGENT_WORKDIR", None)
    with stub_server() as (url, _):
        argv = [
            sys.executable,
            "-m",
            "skillfit",
            "eval",
            "--skill",
            str(skill),
            "--task",
            "bbh/boolean_expressions",
            "--harness",
            "codex",
            "--target",
            f"openai:qwen@{url}/v1",
            "--set",
            f"cache.path={tmp_path / 'cache.sqlite'}",
            "--set",
            "train.concurrency=2",
            "--set",
            "task.options={n_test: 4}",
        ]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _interrupt(proc, tmp_path, temp)
        finally:
            if proc.poll() is None:  # a failed check: SIGTERM takes the CLIs with it
                proc.terminate()
                proc.wait(timeout=HANG_S)
        # Run again: every item runs (none was cached half-done) and the evaluation finishes.
        env["SKILLFIT_CODEX_BIN"] = str(answering)
        again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=HANG_S)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(4 items" in again.stdout
    assert len(calls(tmp_path / "ok")) == 4
    assert not list(temp.glob("skillfit-codex-*"))


def _interrupt(proc: subprocess.Popen[bytes], tmp_path: Path, temp: Path) -> None:
    """Ctrl-C once two CLIs have started (each writes a file when it starts), then check that
    skillfit, the CLIs and their workspaces are gone."""
    started = tmp_path / "slow" / "started"

    def two_started() -> bool:
        assert proc.poll() is None, proc.communicate()[0].decode()
        return len(list(started.iterdir())) >= 2

    wait_for(two_started, "two CLIs to start")
    clis = [int(p.name) for p in started.iterdir()]
    workspaces = [Path(p.read_text()).parent for p in started.iterdir()]
    assert all(w.parent == temp and w.name.startswith("skillfit-codex-") for w in workspaces)
    proc.send_signal(signal.SIGINT)
    # The bounds only end a hang: the CLIs sleep far longer, so only Ctrl-C ends them sooner.
    out = proc.communicate(timeout=HANG_S)[0].decode()
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out
    wait_for(lambda: not any(_alive(pid) for pid in clis), "the CLIs to be killed")
    assert len(list(started.iterdir())) == 2  # no CLI started after Ctrl-C
    assert not list(temp.glob("skillfit-codex-*"))


def test_a_skill_folder_is_installed_as_written_in_eval_training_and_transfer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness_fakes import TASK
    from train_fakes import Optimizer, config, run
    from typer.testing import CliRunner

    import skillfit.app.build
    from skillfit.api import transfer
    from skillfit.cli import app

    transcript = FIX / "claude-code-skill.jsonl"
    claude = stub_cli(tmp_path, "claude", "2.1.197 (Claude Code)", transcript)
    monkeypatch.setenv("SKILLFIT_CLAUDE_BIN", str(claude))
    monkeypatch.setattr(skillfit.app.build, "get_model", lambda spec, **kw: LocalTarget())
    rules = {"reference/rules.md": b"A liar's claim is false.\n"}
    written = SkillDir("lies-helper", "Follow who says whom lies.", SKILL, files=rules)
    folder = written.save(tmp_path / "lies-helper")

    def installed(call: dict[str, Any]) -> tuple[list[str], str]:
        skill_files = [f for f in call["files"] if f.startswith(".claude/skills/")]
        return skill_files, call["skills"][".claude/skills/lies-helper/SKILL.md"]

    expected_files = [
        ".claude/skills/lies-helper/SKILL.md",
        ".claude/skills/lies-helper/reference/rules.md",
    ]
    common = ["--set", "cache.enabled=false", "--set", "task.options={n_test: 1}"]
    result = CliRunner().invoke(
        app,
        ["eval", "--skill", str(folder), "--task", TASK, "--harness", "claude-code", *common],
    )
    assert result.exit_code == 0, result.output
    files, text = installed(calls(tmp_path)[0])
    assert files == expected_files
    assert text == (folder / "SKILL.md").read_text()

    # Training from the folder: every candidate is installed under its frontmatter and files,
    # and what ships in best_skill/ is what was measured.
    cfg = config(
        tmp_path,
        f"task.name={TASK}",
        "task.options={n_train: 3, n_val: 2, n_test: 1, seed: 0}",
        "target.harness=claude-code",
        f"skill.initial={folder}",
    )
    before = len(calls(tmp_path))
    trained = run(cfg, None, LocalTarget(), Optimizer().model)
    for call in calls(tmp_path)[before:]:
        if any(f.startswith(".claude/skills/") for f in call["files"]):
            files, text = installed(call)
            assert files == expected_files
            assert text.startswith("---\nname: lies-helper\ndescription: Follow who says whom")
    shipped = load_skill_dir(trained.run_dir / "best_skill" / "lies-helper")
    assert (shipped.name, shipped.description) == (written.name, written.description)
    assert shipped.files == written.files

    # Transfer installs the shipped folder as it is.
    before = len(calls(tmp_path))
    transfer(trained.run_dir, targets="local:x", models={"local:x": LocalTarget()})
    with_skill = [c for c in calls(tmp_path)[before:] if ".claude/skills/" in str(c["files"])]
    assert with_skill
    for call in with_skill:
        files, text = installed(call)
        assert files == expected_files
        assert text == (trained.run_dir / "best_skill" / "lies-helper" / "SKILL.md").read_text()
