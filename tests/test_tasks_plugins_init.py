"""Out-of-tree tasks (entry points, task.module, --import) and `skillfit init`."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

import skillfit.tasks.plugins as plugins
from skillfit.api import build_task
from skillfit.cli import app
from skillfit.tasks import TaskDataError, get_task, list_tasks
from skillfit.tasks.registry import _REGISTRY, register_task
from skillfit.train.config import load_config

runner = CliRunner()

USER_TASK = """
from skillfit.tasks.base import Item
from skillfit.tasks.common import SingleTurnTask
from skillfit.tasks.registry import register_task
from skillfit.tasks.scoring import binary_score, exact_match, extract_answer


def score(item, reply):
    ex = extract_answer(reply)
    ok = exact_match(ex.answer, item.target)
    return ex.answer, binary_score(ok, given=ex.answer, expected=item.target, extraction=ex)


@register_task("{name}", description="a user's task", replace=True)
def make(*, n=3):
    items = [Item(f"u{{i}}", f"Say {{i}}.", str(i)) for i in range(3 * n)]
    return SingleTurnTask(
        name="{name}",
        splits={{"train": items[:n], "val": items[n : 2 * n], "test": items[2 * n :]}},
        score=score,
    )
"""


@pytest.fixture(autouse=True)
def _forget_user_tasks():
    list_tasks()  # the bundled tasks are loaded before the snapshot
    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        del _REGISTRY[name]


def test_task_module_in_the_config_relative_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_tasks.py").write_text(USER_TASK.format(name="mine_py"))
    (tmp_path / "run.yaml").write_text(
        "task: {name: mine_py, module: my_tasks.py, options: {n: 2}}\n"
    )
    monkeypatch.chdir("/")
    task = build_task(load_config(tmp_path / "run.yaml"))
    assert task.name == "mine_py" and len(task.splits()["train"]) == 2


def test_task_module_by_name_from_the_configs_folder(tmp_path: Path) -> None:
    (tmp_path / "named_user_tasks.py").write_text(USER_TASK.format(name="mine_named"))
    (tmp_path / "run.yaml").write_text("task: {name: mine_named, module: named_user_tasks}\n")
    task = build_task(load_config(tmp_path / "run.yaml"))
    assert task.name == "mine_named"
    sys.modules.pop("named_user_tasks", None)
    (tmp_path / "bad.yaml").write_text("task: {name: x, module: no_such_module_here}\n")
    with pytest.raises(TaskDataError, match="cannot import task module 'no_such_module_here'"):
        build_task(load_config(tmp_path / "bad.yaml"))


def test_import_option_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_tasks.py").write_text(USER_TASK.format(name="mine_cli"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["--import", "cli_tasks.py", "tasks", "show", "mine_cli"])
    assert result.exit_code == 0, result.output
    assert "split sizes: train 3, val 3, test 3" in result.output
    bad = runner.invoke(app, ["--import", "missing.py", "tasks"])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_entry_points_register_modules_and_factories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ep_pkg_tasks.py").write_text(
        USER_TASK.format(name="ep_module_task")
        + "\ndef factory(*, n=1):\n    '''A factory task.'''\n    return make(n=n)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [
        EntryPoint("ep_pkg", "ep_pkg_tasks", plugins.ENTRY_POINT_GROUP),
        EntryPoint("ep_factory", "ep_pkg_tasks:factory", plugins.ENTRY_POINT_GROUP),
        EntryPoint("broken", "no_such_pkg_xyz", plugins.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(
        plugins, "entry_points", lambda group: eps if group == plugins.ENTRY_POINT_GROUP else []
    )
    with pytest.warns(UserWarning, match="entry point broken"):
        loaded = plugins.load_entry_points(register_task, lambda name: name in _REGISTRY)
    assert loaded == ["ep_pkg", "ep_factory"]
    assert get_task("ep_module_task").name == "ep_module_task"
    assert len(get_task("ep_factory", n=1).splits()["train"]) == 1
    assert any(t.name == "ep_factory" and t.description == "A factory task." for t in list_tasks())


def test_init_writes_a_project_that_loads(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    proj = tmp_path / "proj"
    assert {p.name for p in proj.iterdir()} == {
        "skillfit.yaml",
        "data.csv",
        "skill.md",
        "README.md",
    }
    readme = (proj / "README.md").read_text()
    assert "skillfit train --config skillfit.yaml" in readme and "skillfit eval" in readme
    task = build_task(load_config(proj / "skillfit.yaml"))
    assert "Capital cities" in task.initial_skill and len(task.splits()["test"]) == 18
    again = runner.invoke(app, ["init", str(proj)])
    assert again.exit_code == 2 and "--force" in again.output


def test_init_with_the_users_data_refuses_a_bad_file(tmp_path: Path) -> None:
    data = tmp_path / "mine.jsonl"
    data.write_text('{"prompt": "a", "gold": "1"}\n{"prompt": "b"}\n')
    result = runner.invoke(
        app,
        ["init", str(tmp_path / "p"), "--data", str(data), "--input", "prompt", "--target", "gold"],
    )
    assert result.exit_code == 2 and "mine.jsonl: line 2: missing field 'gold'" in result.output
    assert not (tmp_path / "p" / "skillfit.yaml").exists()
    data.write_text("".join(f'{{"prompt": "p{i}", "gold": "{i}"}}\n' for i in range(20)))
    result = runner.invoke(
        app,
        [
            "init",
            str(tmp_path / "p"),
            "--data",
            str(data),
            "--input",
            "prompt",
            "--target",
            "gold",
            "--scorer",
            "numeric",
        ],
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "p" / "skillfit.yaml").read_text()
    assert "path: ../mine.jsonl" in text and "scorer: numeric" in text and "name: mine" in text
    build_task(load_config(tmp_path / "p" / "skillfit.yaml"))
