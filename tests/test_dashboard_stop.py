"""Issue 23, the dashboard's runs that stop: Stop on a terminal run that ignores ^C escalates
and says so; a launch that fails before writing anything is listed with its error; a failed
run's page says its error once and counts the rollouts that failed; the runs list reads a run
again only when its files change."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")

from dashboard_fakes import client_for, stop_launched  # noqa: E402
from train_fakes import AddTask, Optimizer, config, run, target_model  # noqa: E402
from waits import HANG_S, wait_for  # noqa: E402

from skillfit.dashboard import view_model as vm  # noqa: E402


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("dash-stop")
    cfg = config(tmp, "train.epochs=1")
    run(cfg, AddTask(), target_model(), Optimizer().model)
    return tmp / "run"


# A run in a terminal that ignores ^C and SIGTERM: its command line reads `skillfit train`,
# and it names itself in the run's events as a real run does.
STUBBORN = """
import json, os, signal, socket, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(os.path.join(sys.argv[-1], "events.jsonl"), "a") as fh:
    start = {"pid": os.getpid(), "host": socket.gethostname()}
    fh.write(json.dumps({"ts": time.time(), "event": "process_start", "data": start}) + "\\n")
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def test_stop_escalates_on_a_terminal_run_that_ignores_sigint(
    finished: Path, tmp_path: Path
) -> None:
    root = tmp_path / "outputs"
    path = Path(shutil.copytree(finished, root / "term"))
    (path / "summary.json").unlink()  # not finished: it goes on in its terminal
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN, "skillfit", "train", "--out", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        c = client_for(root)
        page = c.get("/run", params={"name": "term"}).text
        assert "badge running" in page and 'id="stop"' in page
        dash = c.app.state.dashboard
        # Short bounds: the process ignores ^C and SIGTERM whatever the machine's speed.
        dash.stop_grace, dash.stop_kill_after = 0.3, 0.3
        resp = c.post("/stop", data={"name": "term", "csrf": dash.access.csrf})
        assert resp.status_code == 200 and "sent ^C (SIGINT)" in resp.text
        assert proc.wait(timeout=HANG_S) == -9  # SIGKILL, after ^C and SIGTERM did nothing

        def said() -> str:
            text = str(c.get("/run", params={"name": "term"}).text)
            return text if "it was killed" in text else ""

        page = wait_for(said, "the page to say the run was killed")
        assert "sent SIGTERM" in page and "sent SIGKILL" in page
        assert "badge stopped" in page and "badge stale" not in page
        assert 'id="resume"' in page
        record = root / ".skillfit-ui" / "stops" / "term.json"
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        assert "badge stopped" in c.get("/").text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_launch_that_fails_before_writing_anything_is_listed_with_its_error(
    tmp_path: Path,
) -> None:
    root = tmp_path / "outputs"
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "broken.yaml").write_text(
        "task: {name: no/such_task}\ntarget: {model: 'scripted:echo'}\n"
        "optimizer: {model: 'scripted:echo'}\n"
    )
    c = client_for(root, configs=configs)
    dash = c.app.state.dashboard
    try:
        resp = c.post(
            "/launch", data={"csrf": dash.access.csrf, "name": "doomed", "config": "broken.yaml"}
        )
        assert resp.status_code == 200
        ended = dash.launcher.wait("doomed", HANG_S)
        assert ended is not None and ended.exit_code == 2
    finally:
        stop_launched(root)
    assert not (root / "doomed").exists()  # nothing of a run was written
    index = html.unescape(c.get("/").text)
    assert 'data-run="doomed"' in index and "badge failed" in index
    assert "unknown task 'no/such_task'" in index
    page = html.unescape(c.get("/run", params={"name": "doomed"}).text)
    assert "badge failed" in page
    assert _outside_log(page).count("unknown task 'no/such_task'") == 1


def _outside_log(html: str) -> str:
    """The page without its collapsed log of the run's output."""
    return re.sub(r"<details class=\"log\".*?</details>", "", html, flags=re.S)


def test_a_failed_run_says_its_error_once_and_counts_failed_rollouts(tmp_path: Path) -> None:
    from skillfit.models.base import InfraError
    from skillfit.models.scripted import Request, ScriptedModel
    from skillfit.train.errors import InfraFailure

    def down(request: Request) -> str:
        raise InfraError("server down")

    cfg = config(tmp_path, "train.batch_size=4", "train.minibatch_size=4")
    with pytest.raises(InfraFailure):
        run(cfg, AddTask(), ScriptedModel(down, name="scripted:target"), Optimizer().model)
    root = tmp_path / "outputs"
    shutil.copytree(tmp_path / "run", root / "down")
    rows = [
        json.loads(line)
        for line in (root / "down" / "steps" / "step_0001" / "rollouts.jsonl")
        .read_text()
        .splitlines()
    ]
    assert len(rows) == 4 and all(r.get("error") for r in rows)
    c = client_for(root)
    page = c.get("/run", params={"name": "down"}).text
    assert "badge failed" in page
    error = "4 of 4 rollouts failed for infrastructure reasons"
    assert _outside_log(page).count(error) == 1, page
    counted = re.search(r'id="infra-errors"[^>]*>(\d+)', page)
    assert counted and counted.group(1) == "4", page
    assert "4 of 4 in step 1" in page


def test_the_runs_list_reads_a_run_again_only_when_it_changed(
    finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "outputs"
    for i in range(5):
        shutil.copytree(finished, root / f"r{i}")
    reads: list[Path] = []
    load = vm.load

    def counted(path: Path) -> object:
        reads.append(path)
        return load(path)

    monkeypatch.setattr(vm, "load", counted)
    c = client_for(root)
    assert c.get("/").status_code == 200
    assert len(reads) == 5
    for _ in range(3):  # what a tab open on the list asks every few seconds
        assert c.get("/", params={"fragment": "1"}).status_code == 200
    assert len(reads) == 5  # nothing changed: nothing read again
    history = root / "r2" / "history.json"
    st = history.stat()
    os.utime(history, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    c.get("/")
    assert reads[5:] == [root / "r2"]  # only the run that changed
    shutil.rmtree(root / "r4")
    c.get("/")
    assert len(reads) == 6  # a run gone is dropped, not read
