"""docs/ci.md's recipe runs: its script, the GitHub Actions check step and the pre-commit hook's
entry, each in a scratch clone with a scripted target that answers right only when the skill
keeps one rule. `skillfit` on PATH is this checkout's CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from check_fakes import RULE, break_skill, git, make_project

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ci.md"
SCRIPT = ".github/skillfit-check.sh"
GIT_ID = ["-c", "user.name=t", "-c", "user.email=t@example.com"]


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def named_block(kind: str, first_line: str) -> str:
    found = [b for b in blocks(kind) if b.startswith(first_line)]
    assert len(found) == 1, f"docs/ci.md needs one {kind} block starting {first_line!r}"
    return found[0]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone of a project whose origin/main holds the skill with its rule, the page's script
    in place, and a `skillfit` command on PATH."""
    make_project(tmp_path / "upstream")
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "upstream"), str(work)], check=True)
    script = work / SCRIPT
    script.parent.mkdir(parents=True)
    script.write_text(named_block("bash", f"# {SCRIPT}"))
    shim = tmp_path / "bin" / "skillfit"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m skillfit "$@"\n')
    shim.chmod(0o755)
    return work


def run(work: Path, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "PATH": f"{work.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "SKILLFIT_CACHE_DIR": str(work.parent / "user-cache"),
        **env,
    }
    return subprocess.run(
        ["bash", "-c", command], cwd=work, env=full, capture_output=True, text=True, timeout=300
    )


def commit_all(work: Path, message: str) -> None:
    git(work, *GIT_ID, "commit", "-qam", message)


def workflow_step(work: Path) -> tuple[str, dict[str, str]]:
    """The workflow's check step and the environment GitHub would give it."""
    flow = yaml.safe_load(named_block("yaml", "# .github/workflows/skillfit-check.yml"))
    job = flow["jobs"]["check"]
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout") and steps[0]["with"]["fetch-depth"] == 0
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache"))
    step = next(s for s in steps if s.get("name") == "skills must not get worse")
    cache_dir = job["env"]["SKILLFIT_CACHE_DIR"].replace("${{ github.workspace }}", str(work))
    assert Path(cache_dir) == work / cache["with"]["path"]  # the cache kept is the one used
    base = git(work, "rev-parse", "origin/main").strip()  # pull_request.base.sha
    return step["run"], {"SKILLFIT_CACHE_DIR": cache_dir, "BASE": base}


def test_the_workflow_step_fails_a_pull_request_that_makes_a_skill_worse(clone: Path) -> None:
    git(clone, "checkout", "-qb", "worse")
    break_skill(clone / "skills" / "capitals")
    commit_all(clone, "drop the rule")
    command, env = workflow_step(clone)
    done = run(clone, command, **env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "WORSE" in done.stdout and "broken (6): q04" in done.stdout


def test_the_workflow_step_passes_a_harmless_edit_and_replays_it_from_the_kept_cache(
    clone: Path,
) -> None:
    git(clone, "checkout", "-qb", "harmless")
    skill = clone / "skills" / "capitals" / "SKILL.md"
    skill.write_text(skill.read_text().replace(RULE, RULE + "\n- Be brief."))
    commit_all(clone, "one more rule")
    command, env = workflow_step(clone)
    first = run(clone, command, **env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "OK" in first.stdout and "12 paid" in first.stdout
    again = run(clone, command, **env)  # the next run, with the cache actions/cache restored
    assert again.returncode == 0 and "0 paid (0 tokens), 12 replayed" in again.stdout


def test_a_new_skill_is_skipped(clone: Path) -> None:
    other = clone / "skills" / "other"
    other.mkdir()
    (other / "SKILL.md").write_text("# Other\n\nSay hello.\n")
    git(clone, "add", "-A")
    commit_all(clone, "a new skill")
    command, env = workflow_step(clone)
    done = run(clone, command, **env)
    assert done.returncode == 0 and "skills/other is new" in done.stdout


def test_the_pre_commit_hook_refuses_a_staged_skill_that_got_worse(clone: Path) -> None:
    config = yaml.safe_load(named_block("yaml", "# .pre-commit-config.yaml"))
    hook = config["repos"][0]["hooks"][0]
    assert re.search(hook["files"], "skills/capitals/SKILL.md")
    assert hook["pass_filenames"] is False
    done = run(clone, hook["entry"])
    assert done.returncode == 0 and done.stdout == ""  # nothing changed: nothing to check
    break_skill(clone / "skills" / "capitals")
    git(clone, "add", "-A")
    done = run(clone, hook["entry"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "HEAD:skills/capitals" in done.stdout


def test_a_base_that_is_no_revision_fails_instead_of_checking_nothing(clone: Path) -> None:
    done = run(clone, f"bash {SCRIPT} no-such-branch")
    assert done.returncode == 2 and "no such revision: no-such-branch" in done.stdout
