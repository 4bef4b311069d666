"""`skillfit check` on a scripted target that fails when the skill loses a rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from check_fakes import RULE, break_skill, git, make_project
from typer.testing import CliRunner

from skillfit.app.against import resolve_against
from skillfit.app.check import CheckResult
from skillfit.cli import app
from skillfit.train.evaluation import EvalResult

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKILLFIT_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "repo"
    make_project(root)
    monkeypatch.chdir(root)
    return root


def run_check(*args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["check", "--config", "skillfit.yaml", "--skill", "skills/capitals", *args]
    )
    return result.exit_code, result.output


def test_a_skill_made_worse_exits_1_naming_the_broken_items(project: Path) -> None:
    break_skill(project / "skills" / "capitals")
    code, out = run_check("--against", "main", "--split", "val")
    assert code == 1, out
    assert "WORSE" in out and "broken (6): q04, q05, q06, q07, q08, q09" in out
    assert "fixed (0): none" in out
    assert "old  1.000" in out and "new  0.000" in out
    assert "main:skills/capitals (" in out  # the old skill came from git


def test_json_reports_both_arms_the_difference_and_the_flips(project: Path) -> None:
    break_skill(project / "skills" / "capitals")
    code, out = run_check("--against", "HEAD", "--json")
    assert code == 1, out
    data = json.loads(out)
    assert data["verdict"] == "worse" and data["split"] == "test"
    assert data["new"]["correct"] == 0 and data["old"]["correct"] == 6
    assert data["diff"]["mean_diff"] == -1.0 and data["diff"]["losses"] == 6
    assert data["p_worse"] < 0.05
    assert data["broken"] == ["q10", "q11", "q12", "q13", "q14", "q15"]


def test_an_unchanged_skill_exits_0_and_a_rerun_replays_every_call(project: Path) -> None:
    code, out = run_check("--against", "main", "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["verdict"] == "ok" and first["identical"] is True
    # Old and new share every prompt: the first run pays 6 calls and replays 6.
    assert (first["paid_calls"], first["replayed_calls"]) == (6, 6)
    code, out = run_check("--against", "main", "--json")
    assert code == 0, out
    again = json.loads(out)
    assert (again["paid_calls"], again["replayed_calls"]) == (0, 12)
    assert again["calls"]["target"]["prompt_tokens"] == 0
    code, out = run_check("--against", "main")
    assert code == 0 and "0 paid (0 tokens), 12 replayed" in out and "OK" in out


def test_a_better_skill_and_a_tolerated_loss_exit_0(project: Path) -> None:
    skill = project / "skills" / "capitals" / "SKILL.md"
    old = project / "old.md"
    old.write_text(skill.read_text())
    break_skill(project / "skills" / "capitals")
    # The other way round: the new skill (with the rule) fixes every item.
    result = runner.invoke(
        app, ["check", "-c", "skillfit.yaml", "-s", str(old), "-a", "skills/capitals"]
    )
    assert result.exit_code == 0, result.output
    assert "fixed (6)" in result.output and "OK" in result.output
    # A loss of every item lies below any tolerance under 1.
    code, out = run_check("--against", str(old), "--tolerance", "0.5")
    assert code == 1, out


def test_against_a_file_on_disk_and_another_path_at_a_revision(project: Path) -> None:
    (project / "old.md").write_text(f"# Capitals\n\n{RULE}\n")
    break_skill(project / "skills" / "capitals")
    code, out = run_check("--against", "old.md")
    assert code == 1 and "old  1.000" in out and "old.md" in out
    code, out = run_check("--against", "main:skills/capitals/SKILL.md")
    assert code == 1, out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--against", "no-such-rev"], "not a revision"),
        (["--against", "main", "--split", "train"], "--split must be val or test"),
        (["--against", "main", "--tolerance", "2"], "--tolerance must lie in [0, 1)"),
        (["--against", "main:skills/nothing"], "does not exist at main"),
        (["--against", "main", "--set", "task.options.path=missing.jsonl"], "missing.jsonl"),
    ],
)
def test_bad_input_exits_2_with_one_line(project: Path, args: list[str], words: str) -> None:
    code, out = run_check(*args)
    assert code == 2, out
    assert words in out and "Traceback" not in out
    assert len([ln for ln in out.splitlines() if ln.strip()]) <= 2


def test_a_missing_new_skill_and_a_skill_outside_git_exit_2(project: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "-c", "skillfit.yaml", "-s", "nope.md", "-a", "main"])
    assert result.exit_code == 2 and "nope.md" in result.output
    outside = tmp_path / "loose.md"
    outside.write_text("# x\n")
    result = runner.invoke(app, ["check", "-c", "skillfit.yaml", "-s", str(outside), "-a", "main"])
    assert result.exit_code == 2 and "not in a git repository" in result.output


def test_resolve_against_copies_a_skill_folder_out_of_git(project: Path) -> None:
    (project / "skills" / "capitals" / "reference.md").write_text("extra\n")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "ref")
    old = resolve_against("skills/capitals", "HEAD")
    try:
        assert old.revision and old.path.name == "capitals"
        assert (old.path / "SKILL.md").read_text().count(RULE) == 1
        assert (old.path / "reference.md").read_text() == "extra\n"
    finally:
        old.cleanup()
    assert not old.path.exists()


@pytest.mark.parametrize(
    ("ci_high", "tolerance", "worse"),
    [(-0.03, 0.0, True), (-0.03, 0.05, False), (-0.06, 0.05, True), (0.0, 0.0, False)],
)
def test_worse_means_the_interval_lies_below_minus_the_tolerance(
    ci_high: float, tolerance: float, worse: bool
) -> None:
    arm = EvalResult("x", 40, 1, 20, 40, 0.5, 0.35, 0.65, 0)
    diff = {"mean_diff": ci_high - 0.1, "ci_low": ci_high - 0.2, "ci_high": ci_high}
    result = CheckResult("t", "val", "m", "chat", "new", "old", arm, arm, diff, 0.01, tolerance)
    assert result.worse is worse
