"""One run of an agent CLI on one item, the same for Codex and Claude Code (`AgentCliHarness`):
check the pinned CLI, reach the target's endpoint, replay a cached run or make a fresh workspace
with the skill installed where the CLI discovers skills, run the CLI with a wall-clock limit,
keep its transcript, cache and account the run. A CLI harness fills in only what differs: its
command line, its configuration, and how its output becomes a trajectory."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import ClassVar

from skillfit.harness.cli_agent import (
    CliRun,
    CliSpec,
    Endpoint,
    Workspace,
    check_cli,
    check_endpoint,
    checked_version,
    cli_env,
    endpoint_for,
    forget_endpoint,
    make_workspace,
    prepare_target,
    run_cli,
    skill_bundle,
)
from skillfit.harness.cli_record import (
    account_run,
    cached_output,
    run_key,
    save_transcript,
    store_output,
    transcript_dir,
)
from skillfit.models.base import ChatModel
from skillfit.skill.skilldir import SkillDir
from skillfit.tasks.base import Environment, Trajectory


class AgentCliHarness:
    """The template of an agent-CLI harness (see the module docstring)."""

    name: ClassVar[str] = ""
    offers_tools: ClassVar[bool] = True  # the CLI's own tools, over the task's files
    spec: ClassVar[CliSpec]
    wire: ClassVar[str]  # the API the CLI speaks: "openai" or "anthropic"
    skills_dir: ClassVar[str]  # where in the workspace the CLI discovers skills
    workspace_prefix: ClassVar[str]
    short: ClassVar[str]  # the executable's name in the cache key's command line

    def __init__(
        self,
        *,
        executable: str | None,
        timeout: float,
        invoke: bool,
        skill_dir: SkillDir | None,
        keep_workspace: bool,
        cache: bool,
        transcripts: str | os.PathLike[str] | None,
    ) -> None:
        self.executable = executable
        self.timeout = timeout
        self.invoke = invoke
        self.skill_dir = skill_dir
        self.keep_workspace = keep_workspace
        self.cache = cache
        self.transcripts = transcript_dir(transcripts)

    # ---- what a CLI fills in ------------------------------------------------------------

    def prompt(self, env: Environment, bundle: SkillDir | None) -> str:
        raise NotImplementedError

    def command(
        self,
        executable: str,
        prompt: str,
        *,
        endpoint: Endpoint,
        env: Environment,
        bundle: SkillDir | None,
        work: str,
    ) -> list[str]:
        raise NotImplementedError

    def configure(self, ws: Workspace, endpoint: Endpoint) -> Mapping[str, str]:
        """Write the CLI's configuration into the workspace; its environment variables."""
        raise NotImplementedError

    def trajectory(
        self, run: CliRun, prompt: str, env: Environment, *, sample: int, seconds: float
    ) -> Trajectory:
        raise NotImplementedError

    # ---- the template -------------------------------------------------------------------

    def check(self) -> str:
        """The CLI's path, after checking it is installed at the pinned version."""
        return check_cli(self.spec, self.executable)

    def prepare(self, target: ChatModel) -> None:
        """Before the run's first call: an embedded target's server gets the CLI's context."""
        prepare_target(target)

    def run(
        self, target: ChatModel, skill: str, environment: Environment, *, sample: int = 0
    ) -> Trajectory:
        env = environment
        executable = self.check()
        endpoint = endpoint_for(target, wire=self.wire)
        bundle = skill_bundle(skill, env, self.skill_dir)
        prompt = self.prompt(env, bundle)
        start = time.perf_counter()
        key = run_key(
            self.name,
            checked_version(self.spec, executable),
            target,
            argv=self.command(
                self.short, prompt, endpoint=endpoint, env=env, bundle=bundle, work="<work>"
            ),
            bundle=bundle,
            environment=env,
            sample=sample,
        )
        stdout = cached_output(target, key) if self.cache else None
        if stdout is not None:
            replay = CliRun([], stdout, "", 0, 0.0)
            traj = self.trajectory(replay, prompt, env, sample=sample, seconds=0.0)
            if traj.error is None:
                traj.seconds = time.perf_counter() - start
                account_run(target, key, traj, replayed=True)
                return traj
        check_endpoint(endpoint)
        ws = make_workspace(env, bundle, skills_dir=self.skills_dir, prefix=self.workspace_prefix)
        try:
            variables = cli_env(ws, self.configure(ws, endpoint), endpoint)
            argv = self.command(
                executable, prompt, endpoint=endpoint, env=env, bundle=bundle, work=str(ws.work)
            )
            run = run_cli(argv, cwd=ws.work, env=variables, timeout=self.timeout)
        finally:
            if not self.keep_workspace:
                ws.remove()
        save_transcript(
            self.transcripts, self.name, env, sample, run, target=target.name, bundle=bundle
        )
        seconds = time.perf_counter() - start
        traj = self.trajectory(run, prompt, env, sample=sample, seconds=seconds)
        if traj.error is not None:
            forget_endpoint(endpoint)  # check it again before the next item
        elif self.cache and not run.timed_out:
            # A timed-out run is not kept: on a faster machine the same run may finish.
            store_output(target, key, run.stdout, traj.usage)
        account_run(target, key, traj, replayed=False)
        return traj


__all__ = ["AgentCliHarness"]
