"""Every command of docs/your-own-task.md, run in order in an empty folder.

The page's `bash` blocks are parsed line by line: `cat > FILE <<'EOF'` writes FILE, `cd DIR`
changes folder, `skillfit ...` runs the CLI in-process with the models swapped for scripted
ones (chosen by role: target, optimizer, judge). Any other line fails the test, so nothing on
the page goes unrun."""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import pytest
import yaml
from train_fakes import MAGIC, Optimizer
from typer.testing import CliRunner

import skillfit.api
import skillfit.app.build
import skillfit.models.local.weights
from skillfit.cli import app
from skillfit.models import ScriptedModel, wrap
from skillfit.models.scripted import Request
from skillfit.tasks.scoring import parse_number

DOC = Path(__file__).resolve().parents[1] / "docs" / "your-own-task.md"


def bash_lines(text: str) -> list[str | tuple[str, str]]:
    """The page's commands in order: a plain command line, or (path, content) for a heredoc."""
    out: list[str | tuple[str, str]] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if not line or line.startswith("#"):
                continue
            heredoc = re.fullmatch(r"cat > (\S+) <<'(\w+)'", line)
            if heredoc:
                body = []
                while lines[i] != heredoc.group(2):
                    body.append(lines[i])
                    i += 1
                i += 1
                out.append((heredoc.group(1), "\n".join(body) + "\n"))
            else:
                out.append(line)
    return out


def test_every_command_of_the_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = bash_lines(DOC.read_text(encoding="utf-8"))
    assert sum(isinstance(c, str) and c.startswith("skillfit ") for c in commands) >= 7

    answers: dict[str, str] = {}

    def target(request: Request) -> str:
        if not answers:  # the CSV the page wrote
            with open(tmp_path / "questions.csv", newline="") as f:
                answers.update({row["question"]: row["answer"] for row in csv.DictReader(f)})
        if MAGIC in request.system:
            return f"Answer: {answers.get(request.last_user.strip(), '0')}"
        return "I am sure.\nAnswer: 1"

    def judge(request: Request) -> dict:
        ref, resp = (
            re.search(rf"<<<BEGIN {n} (\w+)>>>\n(.*?)\n<<<END {n} \1>>>", request.last_user, re.S)
            for n in ("REFERENCE", "RESPONSE")
        )
        ok = bool(ref and resp) and parse_number(resp.group(2)) == parse_number(ref.group(2))  # type: ignore[union-attr]
        return {"feedback": "same number" if ok else "another number", "score": float(ok)}

    models = {
        "target": ScriptedModel(target, name="scripted:target"),
        "optimizer": Optimizer().model,
        "judge": ScriptedModel(judge, name="scripted:judge"),
    }

    def get_model(spec: str, *, role: str = "default", **kw: object):
        assert spec.startswith("local:"), spec  # the page's configs name the embedded model
        return wrap(models[role], role=role, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(skillfit.app.build, "get_model", get_model)
    # The page shows init on a machine with the README's setup: both embedded models installed.
    monkeypatch.setattr(skillfit.models.local.weights, "installed", lambda info: True)
    monkeypatch.setenv("SKILLFIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ran = []
    for command in commands:
        if isinstance(command, tuple):
            Path(command[0]).write_text(command[1], encoding="utf-8")
            continue
        args = shlex.split(command)
        if args[0] == "cd":
            monkeypatch.chdir(args[1])
        elif args[0] == "skillfit":
            result = runner.invoke(app, args[1:])
            assert result.exit_code == 0, f"{command}\n{result.output}"
            ran.append((args[1], result.output))
        else:
            pytest.fail(f"the test does not know how to run: {command}")

    # The config the page shows is the one `skillfit init` wrote (same content).
    shown = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)[0])
    assert shown == yaml.safe_load((tmp_path / "my-task" / "skillfit.yaml").read_text())
    outputs = dict(ran)
    said = "drawn from the file by seed: train 8, val 4, test 12"
    assert f"data: ../questions.csv ({said})" in outputs["init"]
    assert "Cohen's kappa" in outputs["judge"]
    assert (tmp_path / "my-task" / "outputs" / "questions" / "best_skill.md").is_file()
    assert (tmp_path / "my-task" / "outputs" / "judged" / "best_skill.md").is_file()
