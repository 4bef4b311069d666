"""Issue 23, the dashboard's runs: folders with non-ASCII names or spaces, archived runs,
damaged run files, failed launches, stopped runs and the runs list's cache."""

from __future__ import annotations

import shutil
from pathlib import Path

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
