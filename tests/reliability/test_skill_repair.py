"""Issue 23: a run's exported skill repairs itself. A kill between the renames of
`best_skill/<name>` leaves `.<name>.<hex>.tmp` / `.old` folders: readers ignore them and the
next write removes them; a deleted best_skill.md is written again by the run that says it is
there; a state naming a skill version whose file is gone is refused; a skill file whose
frontmatter is broken is refused like a skill folder's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_bad_inputs import one_clear_line
from typer.testing import CliRunner

from skillfit.api import run_best_skill
from skillfit.cli import app
from skillfit.skill import SkillFileError, read_skill, read_skill_source

runner = CliRunner()
HEX = "0123456789abcdef" * 2


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, Path]:
    """(a finished run on a scripted target, its config)."""
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": ".", "format": "text", "reply": "Yes"}]))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "task: {name: bbh/web_of_lies, options: {n_train: 4, n_val: 4, n_test: 4}}\n"
        f"target: {{model: 'scripted:{rules}'}}\noptimizer: {{model: 'scripted:{rules}'}}\n"
        "train: {epochs: 1, batch_size: 4, minibatch_size: 4}\ncache: {enabled: false}\n"
    )
    out = tmp_path / "run"
    done = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out), "-q"])
    assert done.exit_code == 0, done.output
    return out, cfg


def _debris(run: Path) -> tuple[Path, Path]:
    """What a save killed between `target -> .old` and `.tmp -> target` leaves, beside the
    skill (a kill after the second rename leaves only `.old`)."""
    (skill,) = (run / "best_skill").iterdir()
    tmp = skill.with_name(f".{skill.name}.{HEX}.tmp")
    old = skill.with_name(f".{skill.name}.{HEX[::-1]}.old")
    shutil.copytree(skill, tmp)
    shutil.copytree(skill, old)
    return tmp, old


def test_temp_folders_of_a_killed_save_are_ignored_then_removed(run: tuple[Path, Path]) -> None:
    out, cfg = run
    tmp, old = _debris(out)
    body = (out / "best_skill.md").read_text()
    # eval --skill RUN and transfer RUN read the run's skill through run_best_skill
    assert read_skill(run_best_skill(out)).text == body
    evaluated = runner.invoke(app, ["eval", "--skill", str(out), "--split", "val"])
    assert evaluated.exit_code == 0, evaluated.output
    moved = runner.invoke(app, ["transfer", str(out), "--split", "val"])
    assert moved.exit_code == 0, moved.output
    again = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out), "-q"])
    assert again.exit_code == 0, again.output
    assert not tmp.exists() and not old.exists()
    assert [p.name for p in (out / "best_skill").iterdir()] == ["bbh-web-of-lies"]


def test_killed_with_the_skill_moved_aside_the_body_file_stands_in(
    run: tuple[Path, Path],
) -> None:
    out, _ = run
    _debris(out)
    (skill,) = (p for p in (out / "best_skill").iterdir() if not p.name.startswith("."))
    shutil.rmtree(skill)
    assert run_best_skill(out) == out / "best_skill.md"
    evaluated = runner.invoke(app, ["eval", "--skill", str(out), "--split", "val"])
    assert evaluated.exit_code == 0, evaluated.output


def test_a_deleted_best_skill_md_is_written_again(run: tuple[Path, Path]) -> None:
    out, cfg = run
    body = (out / "best_skill.md").read_text()
    (out / "best_skill.md").unlink()
    again = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "best_skill.md" in again.output
    assert (out / "best_skill.md").read_text() == body


def test_a_state_naming_a_missing_skill_version_is_refused(run: tuple[Path, Path]) -> None:
    out, cfg = run
    state = json.loads((out / "runtime_state.json").read_text())
    state["best_version"] = state["current_version"] = 7
    (out / "runtime_state.json").write_text(json.dumps(state))
    again = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out), "-q"])
    assert again.exit_code == 2
    one_clear_line(again.output, "skill_v0007.md is missing", "--force")


def test_a_skill_file_with_broken_frontmatter_is_refused(
    run: tuple[Path, Path], tmp_path: Path
) -> None:
    _, cfg = run
    broken = tmp_path / "broken.md"
    broken.write_text("---\nname: [unclosed\ndescription: d\n---\n\n# Rule\nAnswer Yes.\n")
    with pytest.raises(SkillFileError, match="frontmatter is not valid YAML"):
        read_skill_source(broken)
    out = tmp_path / "broken-run"
    args = ["train", "--config", str(cfg), "--out", str(out), "--set", f"skill.initial={broken}"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and not (out / "best_skill.md").exists()
    one_clear_line(refused.output, str(broken), "frontmatter is not valid YAML")
    evaluated = runner.invoke(app, ["eval", "--skill", str(broken), "--config", str(cfg)])
    assert evaluated.exit_code == 2
    one_clear_line(evaluated.output, "frontmatter is not valid YAML")
    # a leading block that is no frontmatter (no name or description line) stays body text
    ruled = tmp_path / "ruled.md"
    ruled.write_text("---\n[not: yaml\n---\n\n# Rule\nAnswer Yes.\n")
    assert "[not: yaml" in read_skill(ruled).text
