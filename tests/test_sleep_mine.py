"""Reading session files and mining items from them (tests/fixtures/sleep/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from skillfit.sleep.mine import (
    assign_splits,
    command_core,
    is_reask,
    mine_session,
    split_requests,
)
from skillfit.sleep.readers import read_claude_code, read_codex, read_sessions, session_files
from skillfit.sleep.sessions import Session, parse_since, redact_secrets
from skillfit.tasks.base import TaskDataError
from skillfit.tasks.mined import make_mined_task, rule_score

FIX = Path(__file__).resolve().parent / "fixtures" / "sleep"
CLAUDE = FIX / "claude" / "projects" / "-home-dev-shop"


def claude(prefix: str) -> Session:
    return read_claude_code(next(CLAUDE.glob(f"{prefix}*.jsonl")))


def codex(prefix: str) -> Session:
    return read_codex(next((FIX / "codex").rglob(f"rollout-*{prefix}*.jsonl")))


def test_claude_code_session_reads_requests_commands_exit_codes_and_files() -> None:
    s = claude("3f6c")
    assert s.id.startswith("3f6c1d2e") and s.cwd == "/home/dev/shop"
    assert s.started == datetime(2026, 12, 5, 9, 10, 1, tzinfo=UTC)
    users = [e.text for e in s.events if e.kind == "user"]
    # The slash command's arguments are the request; the injected skill body (isMeta) is not.
    assert users[0] == "run the tests for the cart module" and len(users) == 3
    commands = [(e.command, e.exit_code) for e in s.events if e.kind == "command"]
    assert commands == [
        ("python -m unittest tests/test_cart.py", 1),
        ("cd /home/dev/shop && pytest -q tests/test_cart.py", 0),
    ]
    assert [e.path for e in s.events if e.kind == "write"] == ["/home/dev/shop/CHANGELOG.md"]
    assert s.uses_skill("shop-dev") and not s.uses_skill("shop")
    assert claude("8b2e").uses_skill("shop-dev")  # through the Skill tool
    assert not claude("c0ff").uses_skill("shop-dev")


def test_secrets_are_redacted_as_sessions_are_read() -> None:
    s = claude("8b2e")
    text = json.dumps([e.__dict__ for e in s.events])
    for secret in ("ghp_abcdef", "sk_live_51", "hunter2hunter2"):
        assert secret not in text
    assert "***" in text
    masked = redact_secrets({"a": ["DB_PASSWORD=swordfish1", '"api_key": "abcd1234efgh"']})
    assert "swordfish1" not in json.dumps(masked) and "abcd1234efgh" not in json.dumps(masked)
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    assert "MIIEow" not in redact_secrets(key)


def test_codex_rollouts_read_both_output_forms_and_skip_the_environment() -> None:
    a = codex("10-30")
    assert a.id == "0199a5c2-4d1e-7b30-9f2a-6c8d0e1f2a3b" and a.cwd == "/home/dev/shop"
    users = [e.text for e in a.events if e.kind == "user"]
    assert users == ["$shop-dev build the wheel for the release"]  # no duplicate, no env
    assert [(e.command, e.exit_code) for e in a.events if e.kind == "command"][-1] == (
        "python -m build --wheel",
        0,
    )
    b = codex("11-45")
    assert [e.exit_code for e in b.events if e.kind == "command"] == [0, 0]  # "exited with code"
    assert a.uses_skill("shop-dev") and b.uses_skill("shop-dev")  # `$name`, a SKILL.md read


def test_mining_gives_rules_where_the_transcript_has_them_else_a_rubric() -> None:
    items = mine_session(claude("3f6c")).items
    assert [i["check"]["kind"] for i in items] == ["tests_passed", "file_produced"]
    assert items[0]["check"]["mentions"] == ["pytest"]
    assert items[0]["corrections"][0].startswith("no, use pytest")
    assert items[1]["check"]["mentions"] == ["CHANGELOG.md"]  # relative to the session's folder
    assert items[0]["from"]["line"] == 2 and items[1]["from"]["line"] == 11
    rubric = mine_session(claude("8b2e")).items[0]["check"]
    assert rubric["kind"] == "rubric" and "mkdocs build" in rubric["rubric"]
    assert mine_session(codex("10-30")).items[0]["check"]["mentions"] == ["-m build"]
    skipped = mine_session(claude("c0ff"))
    assert not skipped.items and "no check" in skipped.skipped[0]["reason"]


def test_a_generic_jsonl_gives_one_session_per_record() -> None:
    sessions = read_sessions("jsonl", FIX / "generic.jsonl")
    assert [s.id for s in sessions] == ["g1", "g2", "g3"]
    assert [s.uses_skill("shop-dev") for s in sessions] == [True, True, False]
    g1, g2 = (mine_session(s).items[0]["check"] for s in sessions[:2])
    assert g1["kind"] == "rubric" and "ruff check" in g1["rubric"]
    assert g2 == {"kind": "command_exit", "command": "mkdocs build", "exit_code": 0,
                  "mentions": ["mkdocs"]}  # fmt: skip


@pytest.mark.parametrize(
    ("command", "core"),
    [
        ("cd /x && pytest -q tests", "pytest"),
        ("FOO=1 uv run pytest -k cart", "pytest"),
        ("bash -lc 'npm run build --prod'", "npm run build"),
        ("python3 -m pytest", "pytest"),
        ("python -m build --wheel", "-m build"),
        ("git commit -m 'x'", "git commit"),
        ("/usr/bin/make test", "make test"),
    ],
)
def test_command_core(command: str, core: str) -> None:
    assert command_core(command) == core


def test_corrections_and_reasked_questions_stay_with_their_request() -> None:
    s = Session("jsonl", "x", "f")
    for text in (
        "how do I deploy the app to staging?",
        "actually use the new pipeline",
        "how do I deploy the app to staging now?",
        "write the release notes",
    ):
        s.add("user", 1, text=text)  # fmt: skip
    requests = split_requests(s)
    assert [r.text for r in requests] == ["how do I deploy the app to staging?",
                                          "write the release notes"]  # fmt: skip
    assert len(requests[0].corrections) == 2
    assert is_reask("deploy app to staging please", "deploy app to staging")
    assert not is_reask("write the release notes", "deploy app to staging")


def test_since_and_splits() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    assert parse_since("3d", now) == datetime(2026, 12, 4, tzinfo=UTC)
    assert parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since"):
        parse_since("lately", now)
    items = [{"id": f"i{k}"} for k in range(5)]
    assign_splits(items)
    first = [i["split"] for i in items]
    assign_splits(items)
    assert [i["split"] for i in items] == first and first.count("val") == 2
    assert len(session_files(FIX / "codex")) == 2


def test_the_mined_task_scores_rules_and_refuses_bad_files(tmp_path: Path) -> None:
    check = {"kind": "tests_passed", "mentions": ["pytest"]}
    assert rule_score(check, "I would run `pytest -q`.").hard == 1
    low = rule_score(check, "I would run pytest-cov.")  # not the word pytest
    assert low.hard == 0 and "`pytest`" in low.feedback
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "a", "input": "x", "split": "train", "check": check}) + "\n")
    with pytest.raises(TaskDataError, match="train and val"):
        make_mined_task(path=str(path))
    path.write_text('{"id": "a", "input": "x", "check": {"kind": "vibes"}}\n')
    with pytest.raises(TaskDataError, match="line 1"):
        make_mined_task(path=str(path))


REAL = FIX / "real"  # written by the real CLIs (tests/fixtures/sleep/record_sessions.py)


def test_session_files_the_real_clis_wrote_mine_into_rubric_items() -> None:
    """Codex 0.171.0 and Claude Code 2.1.197, run against a scripted loopback server with the
    skill invoked by name, then resumed with the user's correction."""
    (codex_file,) = session_files(REAL / "codex")
    (claude_file,) = session_files(REAL / "claude")
    for session in (read_codex(codex_file), read_claude_code(claude_file)):
        assert session.uses_skill("shop-dev") and not session.uses_skill("deep-research")
        users = [e.text for e in session.events if e.kind == "user"]
        assert users[0].endswith(
            "What is the meeting room code written in notes.txt? Read the file."
        )
        assert users[1].startswith("no, answer with the code only")
        assert not any("<skill>" in u or "Base directory" in u for u in users)
        (item,) = mine_session(session).items
        assert item["check"]["kind"] == "rubric" and "code only" in item["check"]["rubric"]
        assert "The meeting room code is 4417." in item["input"]  # what the agent read
        assert item["from"]["file"] == session.file and item["from"]["line"] > 1
    (command,) = [e for e in read_codex(codex_file).events if e.kind == "command"]
    assert (command.command, command.exit_code) == ("cat notes.txt", 0)


EMBEDDED = FIX / "real-embedded"  # record_sessions.py --embedded: the same CLIs on the 0.5B


def test_session_files_the_clis_wrote_on_the_embedded_model_mine_into_rubric_items() -> None:
    """Codex 0.171.0 and Claude Code 2.1.197 against the embedded 0.5B: the model printed a
    tool call as text instead of making one (it never read notes.txt), and the user's
    correction still makes the session a checkable item."""
    (codex_file,) = session_files(EMBEDDED / "codex")
    (claude_file,) = session_files(EMBEDDED / "claude")
    for session in (read_codex(codex_file), read_claude_code(claude_file)):
        assert session.uses_skill("shop-dev")
        users = [e.text for e in session.events if e.kind == "user"]
        assert users[0].endswith(
            "What is the meeting room code written in notes.txt? Read the file."
        )
        assert users[1].startswith("no, answer with the code only")
        replies = [e.text for e in session.events if e.kind == "assistant"]
        assert replies and all('"name": "shop-dev"' in r for r in replies)
        (item,) = mine_session(session).items
        assert item["check"]["kind"] == "rubric" and "code only" in item["check"]["rubric"]
        assert "4417" not in item["input"]  # nothing was read, so no file text to replay
        assert item["from"]["file"] == session.file and item["from"]["line"] > 1
    assert not [e for e in read_codex(codex_file).events if e.kind == "command"]
