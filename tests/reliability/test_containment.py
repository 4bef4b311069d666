"""Issue 10, items 1 and 2: model-written code runs only behind kernel-enforced isolation.
Without bubblewrap it is refused (naming how to install it) unless the user opts in to the weak
mode, loudly; under bubblewrap every attack of the adversarial pass (and more) is contained with
the audit hook on and off, and the caller's home, `.env` files and environment stay out of reach.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_attacks import ATTACKS, SECRET, Arena, Attack

from skillfit.tasks import sandbox
from skillfit.tasks.sandbox import SandboxUnavailable, default_hidden, run_python

HAS_BWRAP = sandbox._probe_bwrap() is not None
ROOT = Path(__file__).resolve().parents[2]
needs_bwrap = pytest.mark.skipif(
    not HAS_BWRAP, reason="bubblewrap not usable here (apt-get install bubblewrap)"
)


@pytest.fixture(scope="module")
def arena() -> Iterator[Arena]:
    # Under the repository, not /tmp: the sandbox sees this folder (read-only), so the attacks
    # meet the read-only root and the masks, not just a fresh /tmp.
    with Arena(ROOT) as a:
        yield a


@needs_bwrap
@pytest.mark.parametrize("audit", [True, False], ids=["audit-on", "kernel-only"])
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_contained(
    arena: Arena, attack: Attack, audit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKILLFIT_SANDBOX", raising=False)
    contained, detail = arena.run(attack, audit=audit)
    assert contained, f"{attack.name}: {detail}"


def test_without_bubblewrap_running_code_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SKILLFIT_SANDBOX", raising=False)
    monkeypatch.setattr(sandbox, "_probe_bwrap", lambda: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap") as err:
        run_python("print(1)", tmp_path)
    assert "SKILLFIT_SANDBOX=basic" in str(err.value)
    monkeypatch.setenv("SKILLFIT_SANDBOX", "bwrap")
    with pytest.raises(SandboxUnavailable):
        run_python("print(1)", tmp_path)
    monkeypatch.setenv("SKILLFIT_SANDBOX", "nonsense")
    with pytest.raises(SandboxUnavailable, match="bwrap or basic"):
        run_python("print(1)", tmp_path)


def test_the_weak_mode_is_an_explicit_loud_opt_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SKILLFIT_SANDBOX", "basic")
    monkeypatch.setattr(sandbox, "_warned_basic", False)
    result = run_python("print('hi')", tmp_path)
    assert result.ok and "bwrap" not in result.isolation
    assert "WITHOUT kernel isolation" in capsys.readouterr().err


def test_the_cli_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from skillfit.cli.errors import clear_errors

    def boom() -> None:
        with clear_errors():
            raise SandboxUnavailable(
                "running model-written code needs ... apt-get install bubblewrap"
            )

    import typer

    app = typer.Typer()
    app.command()(boom)
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2 and "apt-get install bubblewrap" in result.output
    assert "Traceback" not in result.output


def test_the_child_environment_holds_no_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SKILLFIT_SANDBOX", "basic")  # even the weak mode passes no variable
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    result = run_python("import os\nprint(sorted(os.environ))\nprint(dict(os.environ))", tmp_path)
    assert SECRET not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout


def test_home_env_files_and_credential_stores_are_hidden_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project" / "sub"
    project.mkdir(parents=True)
    (tmp_path / "project" / ".env").write_text("KEY=x")
    (project / ".env.local").write_text("KEY=y")
    monkeypatch.chdir(project)
    hidden = default_hidden()
    assert Path.home().resolve() in hidden
    assert (tmp_path / "project" / ".env").resolve() in hidden
    assert (project / ".env.local").resolve() in hidden


@needs_bwrap
def test_legitimate_code_still_runs_with_the_home_hidden(tmp_path: Path) -> None:
    # The interpreter may live in the home folder (pyenv): it stays readable inside the mask.
    code = "import openpyxl, json, sqlite3\nopen('out.txt', 'w').write('ok')\nprint('done')"
    result = run_python(code, tmp_path)
    assert result.ok, result.stderr
    assert (tmp_path / "out.txt").read_text() == "ok"
