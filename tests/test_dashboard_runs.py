"""Issue 23, the dashboard's runs: folders with non-ASCII names or spaces, archived runs,
damaged run files, failed launches, stopped runs and the runs list's cache."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")

from dashboard_fakes import client_for  # noqa: E402
from train_fakes import AddTask, Optimizer, config, run, target_model  # noqa: E402

from skillfit.dashboard.names import list_root  # noqa: E402
from skillfit.record import list_runs  # noqa: E402


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("dash-runs")
    cfg = config(tmp, "train.epochs=2", "slow_update.enabled=true")
    run(cfg, AddTask(initial="# Guide\n\nBe careful.\n"), target_model(), Optimizer().model)
    return tmp / "run"


NAMES = ["résumé run", "группа/прогон 1", "実験 2026/a b"]


def test_runs_with_non_ascii_names_and_spaces_are_listed(finished: Path, tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    for name in NAMES:
        shutil.copytree(finished, root / name)
    shutil.copytree(finished, root / ".hidden")  # hidden folders stay hidden
    found = {str(p.relative_to(root)) for p in list_runs(root)} - {".hidden"}
    assert set(list_root(root).runs) == found == set(NAMES)
    c = client_for(root)
    index = c.get("/")
    assert index.status_code == 200
    for name in NAMES:
        assert f'data-run="{name}"' in index.text
        for page in ("/run", "/run/live"):
            resp = c.get(page, params={"name": name})
            assert resp.status_code == 200, (page, name)
        assert c.get("/diff", params={"name": name, "a": "v1", "b": "v1"}).status_code == 200
    assert ".hidden" not in index.text


SUITE = Path(__file__).resolve().parents[1] / "bench" / "suite"


def test_an_archived_run_shows_its_skill_and_no_resume(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    shutil.copytree(SUITE / "gsm8k", root / "suite" / "gsm8k")
    c = client_for(root)
    index = c.get("/").text
    assert "badge archived" in index and "kept skill" in index and "0/?" not in index
    page = c.get("/run", params={"name": "suite/gsm8k"})
    assert page.status_code == 200
    assert "badge archived" in page.text and 'id="kept-skill"' in page.text
    assert "Word-problem skill" in page.text  # best_skill.md
    assert "Meta-skill" in page.text  # meta_skill.md
    assert 'id="resume"' not in page.text and "badge stale" not in page.text
    dash = c.app.state.dashboard
    resume = c.post("/resume", data={"name": "suite/gsm8k", "csrf": dash.access.csrf})
    assert resume.status_code == 400 and "cannot be resumed" in resume.text
    assert not (root / ".skillfit-ui" / "launches").exists()  # nothing was started


def _damage(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _first_selected(run_dir: Path) -> Path:
    return next(p for p in sorted(run_dir.glob("steps/*/selected.json")))


def _history_step(run_dir: Path) -> str:
    _damage(run_dir / "history.json", lambda d: d[0].update(step="x"))
    return "history.json"


def _accuracy(run_dir: Path) -> str:
    _damage(run_dir / "test_eval" / "results.json", lambda d: d["best"].update(accuracy="x"))
    return "test_eval/results.json"


def _selected_edit(run_dir: Path) -> str:
    path = _first_selected(run_dir)
    _damage(path, lambda d: d["selected"][0].update(edit=5))
    return str(path.relative_to(run_dir))


def _selected_shape(run_dir: Path) -> str:
    path = _first_selected(run_dir)
    _damage(path, lambda d: d.update(selected=[5, "x"], outcomes=7))
    return str(path.relative_to(run_dir))


def _state_types(run_dir: Path) -> str:
    _damage(run_dir / "runtime_state.json", lambda d: d.update(best_score="x", epoch=[1]))
    return "runtime_state.json"


def _proposals(run_dir: Path) -> str:
    path = next(p for p in sorted(run_dir.glob("steps/*/proposals.json")))
    _damage(path, lambda d: d[0].update(index="x", item_ids=5, diagnoses=3))
    return str(path.relative_to(run_dir))


DAMAGES = [_history_step, _accuracy, _selected_edit, _selected_shape, _state_types, _proposals]


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.__name__.strip("_") for d in DAMAGES])
def test_wrong_types_never_give_500_and_name_the_file(
    finished: Path, tmp_path: Path, damage: Callable[[Path], str]
) -> None:
    root = tmp_path / "outputs"
    shutil.copytree(finished, root / "hurt")
    file = damage(root / "hurt")
    c = client_for(root)
    step = _first_selected(root / "hurt").parent.name
    unit = f"s{int(step.split('_')[1])}"
    pages = {
        "/": {},
        "/run": {"name": "hurt"},
        "/run/live": {"name": "hurt"},
        "/diff": {"name": "hurt", "a": "v1", "b": "v1"},
        "/edit": {"name": "hurt", "unit": unit, "edit": "0"},
    }
    for page, params in pages.items():
        resp = c.get(page, params=params)
        assert resp.status_code in (200, 404), (page, resp.status_code, resp.text[-500:])
        # The runs table and the live part read the record's files; the run page also each
        # step's selected edits; the page behind an edit its proposals too.
        step_file = file.startswith("steps/")
        named = {
            "/": not step_file,
            "/run/live": not step_file,
            "/run": "proposals" not in file,
            "/diff": not step_file,
            "/edit": damage is not _history_step,  # with its step left out: no such page
        }
        if named[page]:
            assert resp.status_code == 200 and file in resp.text, (page, file)
            assert "damaged" in resp.text


def test_a_truncated_state_says_state_unreadable(finished: Path, tmp_path: Path) -> None:
    from test_record_damage import as_if_its_process_is_gone

    root = tmp_path / "outputs"
    path = Path(shutil.copytree(finished, root / "cut"))
    state = path / "runtime_state.json"
    state.write_bytes(state.read_bytes()[:40])
    as_if_its_process_is_gone(path)
    c = client_for(root)
    index = c.get("/").text
    assert "state unreadable" in index and "0/?" not in index and "badge stale" not in index
    page = c.get("/run", params={"name": "cut"})
    assert page.status_code == 200 and "state unreadable" in page.text
    assert "runtime_state.json" in page.text
