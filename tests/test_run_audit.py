"""Every finished training run audits its product (audit.json, summary.json, the final output),
and `skillfit audit` reads any run directory: scripted models on a bundled task, so the task
rebuilds from the run's config as it would for a user's run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dashboard_fakes import RULE, write_scenario
from typer.testing import CliRunner

from skillfit.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenario(tmp_path_factory.mktemp("audit") / "scenario")


@pytest.fixture(scope="module")
def trained(scenario: Path) -> tuple[Path, str]:
    """A finished run whose trained skill is clean, and what `skillfit train` printed."""
    out = scenario.parent / "run"
    result = runner.invoke(app, ["train", "--config", str(scenario), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out, result.output


def _copy(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


def _test_item(scenario: Path) -> str:
    from skillfit.api import build_task, load

    return build_task(load(scenario)).splits()["test"][3].input


def test_a_clean_run_writes_its_audit_and_says_so(trained: tuple[Path, str]) -> None:
    run, output = trained
    assert RULE.splitlines()[1] in (run / "best_skill.md").read_text()
    audit = json.loads((run / "audit.json").read_text())
    assert audit["problems"] == [] and audit["deliberate_examples"] == []
    assert list(audit["files"]) == ["best_skill.md", "meta_skill/epoch_02/meta_skill.md"]
    assert audit["skillfit_version"] and "scorer feedback" in audit["checked"]
    assert json.loads((run / "summary.json").read_text())["audit"] == {"problems": 0}
    assert "audit: clean (no item text, scorer feedback" in output
    assert "in best_skill.md and the meta-skill)" in output


def test_skillfit_audit_names_a_test_item_put_into_the_skill(
    trained: tuple[Path, str], scenario: Path, tmp_path: Path
) -> None:
    run = _copy(trained[0], tmp_path / "run")
    clean = runner.invoke(app, ["audit", str(run)])
    assert clean.exit_code == 0, clean.output
    assert "clean" in clean.output

    question = _test_item(scenario)
    best = run / "best_skill.md"
    best.write_text(best.read_text() + f"\n## Example\n{question}\n")
    found = runner.invoke(app, ["audit", str(run)])
    assert found.exit_code == 1, found.output
    assert "problems in best_skill.md" in found.output
    # It names the text it found: a run of the test item's words.
    quoted = found.output.split("best_skill.md quotes a task item: '", 1)[1].split("'")[0]
    assert len(quoted.split()) >= 6 and quoted in " ".join(question.split()).casefold()
    as_json = runner.invoke(app, ["audit", str(run), "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["run_dir"] == str(run) and data["files"]["best_skill.md"] >= 1
    assert "quotes a task item" in data["problems"][0]
    # The command only reads: the run's own audit.json still holds what training found.
    assert json.loads((run / "audit.json").read_text())["problems"] == []


def test_a_run_from_before_the_audit_is_audited_too(
    trained: tuple[Path, str], tmp_path: Path
) -> None:
    run = _copy(trained[0], tmp_path / "old")
    (run / "audit.json").unlink()
    summary = json.loads((run / "summary.json").read_text())
    del summary["audit"]
    (run / "summary.json").write_text(json.dumps(summary))
    result = runner.invoke(app, ["audit", str(run)])
    assert result.exit_code == 0 and "clean" in result.output
    assert not (run / "audit.json").exists()


@pytest.mark.parametrize("kind", ["empty", "missing", "file", "unfinished"])
def test_not_a_run_directory_is_a_clear_error(kind: str, tmp_path: Path) -> None:
    target = tmp_path / "x"
    if kind == "empty":
        target.mkdir()
        (target / "notes.txt").write_text("hello")
    elif kind == "file":
        target.write_text("not a folder")
    elif kind == "unfinished":
        target.mkdir()
        (target / "config.json").write_text("{}")
    result = runner.invoke(app, ["audit", str(target)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    expected = {
        "empty": "is not a run directory",
        "missing": "is not a folder",
        "file": "is not a folder",
        "unfinished": "holds no best_skill.md yet",
    }[kind]
    assert expected in " ".join(result.output.split())


def test_a_resumed_run_that_finishes_writes_its_audit(
    trained: tuple[Path, str], scenario: Path, tmp_path: Path
) -> None:
    run = _copy(trained[0], tmp_path / "resumed")
    (run / "audit.json").unlink()
    again = runner.invoke(app, ["train", "--config", str(scenario), "--out", str(run), "-q"])
    assert again.exit_code == 0, again.output
    assert "audit: clean" in again.output
    assert json.loads((run / "audit.json").read_text())["problems"] == []


def test_problems_are_warnings_the_run_still_succeeds(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skillfit.app.training as training
    from skillfit.record import RunAudit

    planted = RunAudit(files={"best_skill.md": 1}, problems=["best_skill.md repeats a line: 'x'"])
    monkeypatch.setattr(training, "audit_run_dir", lambda *a, **k: planted)
    out = tmp_path / "warned"
    result = runner.invoke(app, ["train", "--config", str(scenario), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"audit: 1 problem in best_skill.md — see {out / 'audit.json'}" in text
    assert "- best_skill.md repeats a line: 'x'" in text
    assert json.loads((out / "summary.json").read_text())["audit"] == {"problems": 1}

    def broken(*a: object, **k: object) -> RunAudit:
        raise ValueError("cannot read")

    monkeypatch.setattr(training, "audit_run_dir", broken)
    # The same run again (it resumes, finished): its earlier audit.json goes with the failure.
    failed = runner.invoke(app, ["train", "--config", str(scenario), "--out", str(out), "-q"])
    assert failed.exit_code == 0, failed.output
    assert "audit: could not run (ValueError: cannot read)" in failed.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audit"] == {"error": "ValueError: cannot read"}
    assert not (out / "audit.json").exists()


def test_every_seed_is_audited_and_the_seeds_folder_reads_as_runs(
    scenario: Path, tmp_path: Path
) -> None:
    out = tmp_path / "seeds"
    result = runner.invoke(
        app, ["train", "--config", str(scenario), "--out", str(out), "--seeds", "2", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "audit: clean in every seed" in result.output
    seeds = json.loads((out / "seeds.json").read_text())
    assert [r["audit"] for r in seeds["runs"]] == [0, 0]
    for seed in (0, 1):
        assert json.loads((out / f"seed-{seed}" / "audit.json").read_text())["problems"] == []
    both = runner.invoke(app, ["audit", str(out), "--json"])
    assert both.exit_code == 0, both.output
    runs = json.loads(both.stdout)["runs"]
    assert [Path(r["run_dir"]).name for r in runs] == ["seed-0", "seed-1"]


def test_the_report_shows_the_audit(trained: tuple[Path, str], tmp_path: Path) -> None:
    from skillfit.app.audit import audit_run_dir, write_audit
    from skillfit.report import run_report

    run = _copy(trained[0], tmp_path / "report")
    assert 'id="audit">Clean: best_skill.md and meta_skill/epoch_02/meta_skill.md' in run_report(
        run
    )
    best = run / "best_skill.md"
    best.write_text(best.read_text() + "\n- Check the answer.\n- Check the answer.\n")
    write_audit(run, audit_run_dir(run))
    page = run_report(run)
    assert "<b>1 problem</b>" in page and "best_skill.md repeats a line" in page
    (run / "audit.json").unlink()
    assert "No audit.json" in run_report(run)


def test_a_compare_directorys_runs_are_audited(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    made = runner.invoke(
        app,
        ["compare", "--config", str(scenario), "--out", str(out)]
        + ["--strategies", "skillfit,none", "--no-report"],
    )
    assert made.exit_code == 0, made.output
    assert json.loads((out / "skillfit-s0" / "audit.json").read_text())["problems"] == []
    result = runner.invoke(app, ["audit", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{out / 'none-s0'}: clean" in result.output
    assert f"{out / 'skillfit-s0'}: clean" in result.output
