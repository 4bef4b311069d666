"""Issue 10, items 7 and 8: file-system mistakes and bad numbers are refused with one clear
line and exit code 2, never a traceback; nothing of an older run is harmed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner
from waits import HANG_S

from skillfit.cli import app

runner = CliRunner()
BWRAP = shutil.which("bwrap")


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A real config on a bundled task with a scripted target and optimizer (no network)."""
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": ".", "format": "text", "reply": "Yes"}]))
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "task: {name: bbh/web_of_lies, options: {n_train: 4, n_val: 4, n_test: 4}}\n"
        f"target: {{model: 'scripted:{rules}'}}\noptimizer: {{model: 'scripted:{rules}'}}\n"
        "train: {epochs: 1, batch_size: 4, minibatch_size: 4}\ncache: {enabled: false}\n"
    )
    return path


def one_clear_line(output: str, *needles: str) -> None:
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for needle in needles:
        assert needle in lines[0], output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--out", "{f}"], "is a file, not a folder"),
        (["--out", "{f}/run"], "is a file, so"),
        (["--set", "run.out_dir={f}"], "is a file, so"),
        (
            ["--out", "{d}/r1", "--set", "cache.enabled=true", "--set", "cache.path={d}"],
            "is a directory",
        ),
        (
            ["--out", "{d}/r2", "--set", "cache.enabled=true", "--set", "cache.path={bad}"],
            "not an SQLite database",
        ),
        (
            ["--out", "{d}/r3", "--set", "cache.enabled=true", "--set", "cache.path={f}/c.sqlite"],
            "is a file, not a folder",
        ),
    ],
)
def test_file_system_mistakes(cfg: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    folder = tmp_path / "folder"
    folder.mkdir()
    bad = folder / "bad.sqlite"
    bad.write_text("not a database")
    filled = [a.format(f=afile, d=folder, bad=bad) for a in args]
    result = runner.invoke(app, ["train", "--config", str(cfg), "-q", *filled])
    assert result.exit_code == 2, result.output
    one_clear_line(result.output, needle)
    assert afile.read_text() == "keep me" and bad.read_text() == "not a database"


@pytest.mark.parametrize("samples", ["0", "-1", "1000000000"])
def test_eval_refuses_a_sample_count_out_of_bounds(cfg: Path, tmp_path: Path, samples: str) -> None:
    skill = tmp_path / "skill.md"
    skill.write_text("# Rule\nAnswer Yes or No.\n")
    result = runner.invoke(
        app, ["eval", "--skill", str(skill), "--config", str(cfg), "--samples", samples]
    )
    assert result.exit_code == 2, result.output
    one_clear_line(result.output, "--samples must be between 1 and 100")


def _in_read_only(folder: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`skillfit train` with `folder` mounted read-only (root ignores permission bits, not a
    read-only mount)."""
    assert BWRAP is not None
    argv = [BWRAP, "--bind", "/", "/", "--ro-bind", str(folder), str(folder), "--dev", "/dev"]
    argv += ["--proc", "/proc", "--chdir", str(cwd), sys.executable, "-m", "skillfit", "train"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=HANG_S)


@pytest.mark.skipif(BWRAP is None, reason="needs bubblewrap for a read-only mount")
def test_read_only_output_and_resume(cfg: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    fresh = _in_read_only(ro, tmp_path, "--config", str(cfg), "-q", "--out", str(ro / "run"))
    assert fresh.returncode == 2, fresh.stderr
    one_clear_line(fresh.stderr, "not writable")

    done = runner.invoke(app, ["train", "--config", str(cfg), "-q", "--out", str(tmp_path / "r")])
    assert done.exit_code == 0, done.output
    out = str(tmp_path / "r")
    again = _in_read_only(tmp_path / "r", tmp_path, "--config", str(cfg), "-q", "--out", out)
    assert again.returncode == 2, again.stderr
    one_clear_line(again.stderr, "not writable")
    assert (tmp_path / "r" / "summary.json").is_file()


# ---- issue 23: paths that are not regular files ------------------------------------------


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("pipe.jsonl", "pipe.jsonl: is a named pipe (FIFO); a data file must be a regular file"),
        ("/dev/zero", "/dev/zero: is a device; a data file must be a regular file"),
        ("big.jsonl", "big.jsonl: is 2 KB, more than the 1 KB a data file may hold"),
    ],
)
def test_a_data_path_that_is_no_regular_file_gives_one_line(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: str, needle: str
) -> None:
    import os

    from skillfit.tasks.userfile import reader

    monkeypatch.setattr(reader, "MAX_DATA_BYTES", 1024)
    os.mkfifo(tmp_path / "pipe.jsonl")
    rows = "".join(json.dumps({"q": f"question {i}?", "a": "x"}) + "\n" for i in range(100))
    (tmp_path / "big.jsonl").write_text(rows[:2048])
    options = f"task.options={{path: {data}, input: q, target: a, format: jsonl}}"
    result = runner.invoke(
        app,
        ["train", "--config", str(cfg), "-q", "--out", str(tmp_path / "run")]
        + ["--set", "task.name=file", "--set", options],
    )
    assert result.exit_code == 2, result.output
    one_clear_line(result.output, needle)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "is empty: it would train every default"),
        ("train: {epochs: 1}\ntrain: {epochs: 3}\n", "key 'train' given twice, at lines 1 and 2"),
        ("train: {epochs: true}\n", "'train.epochs': Input should be a valid integer"),
        ("_base_: pipe\n", "pipe: is a named pipe (FIFO)"),
        ("_base_: /dev/zero\n", "/dev/zero: is a device"),
        ("_base_: shadow\n", "shadow at line 1: unknown key (text that is no config key)"),
    ],
)
def test_a_config_that_is_not_one_gives_one_line(tmp_path: Path, text: str, needle: str) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "shadow").write_text("root:$6$Zq8Salt$h:20228:0:99999:7:::\n")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["train", "--config", str(path), "-q"])
    assert result.exit_code == 2, result.output
    one_clear_line(result.output, needle)
    assert "Zq8Salt" not in result.output


def test_an_absurd_sample_count_is_refused_at_once(cfg: Path) -> None:
    result = runner.invoke(
        app, ["train", "--config", str(cfg), "-q", "--set", "eval.samples=1000000000"]
    )
    assert result.exit_code == 2, result.output
    one_clear_line(result.output, "'eval.samples': Input should be less than or equal to 100")
