"""`skillfit sleep` end to end on the session fixtures (tests/fixtures/sleep/, written by hand to
the Claude Code and Codex session formats) with scripted target, optimizer and judge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from train_fakes import Optimizer, edit
from typer.testing import CliRunner

import skillfit.app.build
from skillfit.cli import app
from skillfit.models import ScriptedModel, wrap
from skillfit.models.scripted import Request

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sleep"
RULE = "Before the answer, list every command you would run and every file you would write."
SKILL = (
    "---\nname: shop-dev\ndescription: Work on the shop repository.\n---\n\n"
    "# Shop development\n\nRun commands from the repository root.\n"
)
SECRETS = ("ghp_abcdef", "sk_live_51", "hunter2hunter2")


def target(request: Request) -> str:
    if RULE in request.system:
        return (
            "Commands: pytest -q; python -m build; mkdocs build; git tag v1.2.0; ruff check .\n"
            "Files: CHANGELOG.md\nAnswer: done, and the release gets a git tag"
        )
    return "I would read the code first.\nAnswer: done"


def judge(request: Request) -> dict:
    text = request.last_user
    response = text.split("## Response to grade", 1)[1]
    needed = [
        w
        for w in ("mkdocs", "tag", "ruff")
        if w in text.split("## Rubric", 1)[1].split("## Response", 1)[0]
    ]
    ok = all(w in response for w in needed)
    return {
        "feedback": "does what the user asked" if ok else "repeats the mistake",
        "score": float(ok),
    }


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    models = {
        "scripted:target": ScriptedModel(target, name="scripted:target"),
        "scripted:optimizer": Optimizer(
            [{"analysis": "names nothing", "edits": [edit(content=RULE)]}]
        ).model,
        "scripted:judge": ScriptedModel(judge, name="scripted:judge"),
    }

    def get_model(spec: str, *, role: str = "default", **kw: object):
        return wrap(models[spec], role=role, cache=kw.get("cache"), ledger=kw.get("ledger"))

    monkeypatch.setattr(skillfit.app.build, "get_model", get_model)
    monkeypatch.chdir(tmp_path)
    skill = tmp_path / ".claude" / "skills" / "shop-dev"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(SKILL)
    (tmp_path / "sleep.yaml").write_text(
        "target: {model: 'scripted:target'}\n"
        "optimizer: {model: 'scripted:optimizer', temperature: 0}\n"
        "train: {epochs: 1, batch_size: 3, minibatch_size: 3}\n"
        "slow_update: {enabled: false}\n"
        "meta_skill: {enabled: false}\n"
        "cache: {enabled: false}\n"
        # 2-3 held-out items: the significance gate cannot adopt anything on so few.
        "gate: {kind: strict_mean}\n"
    )
    return tmp_path


def sleep_cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "sleep",
            "--skill",
            ".claude/skills/shop-dev",
            "--config",
            "sleep.yaml",
            "--judge",
            "scripted:judge",
            "--since",
            "2026-12-01",
            *args,
        ],
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def all_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("source", "sessions", "n_items", "kinds"),
    [
        ("claude-code", "claude", 5, {"tests_passed", "file_produced", "rubric"}),
        ("codex", "codex", 4, {"command_exit", "rubric"}),
    ],
)
def test_sleep_stages_a_trained_skill_without_touching_the_live_one(
    project: Path, source: str, sessions: str, n_items: int, kinds: set[str]
) -> None:
    # The hand-written sessions and the two the real CLI wrote: against a scripted server
    # (fixtures/sleep/real/) and against the embedded 0.5B (fixtures/sleep/real-embedded/).
    folder = project / "sessions"
    shutil.copytree(FIXTURES / sessions, folder)
    shutil.copytree(FIXTURES / "real" / sessions, folder / "real")
    shutil.copytree(FIXTURES / "real-embedded" / sessions, folder / "real-embedded")
    code, out = sleep_cli("--from", source, "--sessions", str(folder), "--stage", "stage")
    assert code == 0, out
    stage = project / "stage"
    live = project / ".claude" / "skills" / "shop-dev" / "SKILL.md"
    assert live.read_text() == SKILL  # staged only
    candidate = (stage / "SKILL.md").read_text()
    assert candidate.startswith("---\nname: shop-dev\n") and RULE in candidate
    assert RULE in (stage / "skill.diff").read_text()
    items = [json.loads(x) for x in (stage / "evidence" / "items.jsonl").read_text().splitlines()]
    assert len(items) == n_items and {i["check"]["kind"] for i in items} == kinds
    assert {i["split"] for i in items} == {"train", "val"}
    for item in items:  # each item traceable to its session file and line
        ref = item["from"]
        assert ref["source"] == source and Path(ref["file"]).is_file() and ref["line"] >= 1
    verdicts = json.loads((stage / "evidence" / "verdicts.json").read_text())
    assert any(v["adopted"] for v in verdicts)
    report = (stage / "report.md").read_text()
    assert "Staged, not applied" in report and items[0]["id"] in report
    assert "1 candidate(s) adopted" in out and "not applied" in out
    # The candidate's body is the run's best skill, audited as every training run's is.
    audit = json.loads((stage / "run" / "audit.json").read_text())
    assert "best_skill.md" in audit["files"]
    said = "audit: clean" if not audit["problems"] else "see"
    assert said in out and said in report
    assert not any(s in all_text(stage) for s in SECRETS)


def test_sessions_that_did_not_use_the_skill_are_skipped(project: Path) -> None:
    code, out = sleep_cli(
        "--from",
        "claude-code",
        "--sessions",
        str(FIXTURES / "claude"),
        "--stage",
        "stage",
        "--json",
    )
    assert code == 0, out
    summary = json.loads(out)
    assert (summary["sessions"], summary["sessions_using_skill"]) == (3, 2)
    rows = [
        json.loads(x)
        for x in (project / "stage/evidence/sessions.jsonl").read_text().split("\n")
        if x
    ]
    assert [r["used_skill"] for r in rows].count(False) == 1
    items = (project / "stage/evidence/items.jsonl").read_text()
    assert "typo in README" not in items


def test_apply_writes_the_candidate_and_keeps_the_previous_version(project: Path) -> None:
    code, out = sleep_cli(
        "--from",
        "claude-code",
        "--sessions",
        str(FIXTURES / "claude"),
        "--stage",
        "stage",
        "--apply",
    )
    assert code == 0, out
    live = project / ".claude" / "skills" / "shop-dev" / "SKILL.md"
    previous = project / "stage" / "previous" / "SKILL.md"
    assert RULE in live.read_text() and previous.read_text() == SKILL
    assert "undo: cp" in out
    applied = json.loads((project / "stage" / "applied.json").read_text())
    assert Path(applied["previous"]).read_text() == SKILL
    shutil.copy(previous, live)  # the undo the report names
    assert live.read_text() == SKILL
    code, out = sleep_cli(
        "--from", "claude-code", "--sessions", str(FIXTURES / "claude"), "--stage", "stage"
    )
    assert code == 2 and "holds a finished sleep cycle" in out  # the undo copy stays
    assert previous.read_text() == SKILL


def test_a_generic_jsonl_trains_too(project: Path) -> None:
    code, out = sleep_cli(
        "--from",
        "jsonl",
        "--sessions",
        str(FIXTURES / "generic.jsonl"),
        "--stage",
        "stage",
        "--json",
    )
    assert code == 0, out
    summary = json.loads(out)
    assert summary["items"] == 2 and summary["sessions_using_skill"] == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from", "cursor"], "--from must be one of"),
        (["--from", "codex", "--sessions", "nowhere"], "no sessions at nowhere"),
        (["--from", "codex", "--sessions", str(FIXTURES / "codex"), "--since", "soon"], "--since"),
        (
            ["--from", "codex", "--sessions", str(FIXTURES / "codex"), "--since", "1h"],
            "need at least 2",
        ),
    ],
)
def test_bad_input_exits_2(project: Path, args: list[str], words: str) -> None:
    code, out = sleep_cli(*args)
    assert code == 2, out
    assert words in out and "Traceback" not in out
    assert not (project / ".skillfit").exists() or not list(
        (project / ".skillfit").rglob("SKILL.md")
    )


def test_nothing_adopted_leaves_the_live_skill_as_it_is_even_with_apply(project: Path) -> None:
    live = project / ".claude" / "skills" / "shop-dev" / "SKILL.md"
    odd = SKILL.replace("---\n\n#", "---\n#") + "\n\n"  # a layout the candidate normalizes
    live.write_text(odd)
    # The default significance gate cannot adopt anything on one held-out item.
    config = (project / "sleep.yaml").read_text().replace("gate: {kind: strict_mean}\n", "")
    (project / "sleep.yaml").write_text(config)
    code, out = sleep_cli(
        "--from", "codex", "--sessions", str(FIXTURES / "codex"), "--stage", "stage", "--apply"
    )
    assert code == 0, out
    assert "nothing adopted" in out and live.read_text() == odd
    assert not (project / "stage" / "previous").exists()
    assert "nothing was adopted" in (project / "stage" / "report.md").read_text()
