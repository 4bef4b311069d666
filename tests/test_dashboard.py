"""The dashboard's pages, names and access rules, over a scripted run (no browser here; the
browser test is test_dashboard_browser.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")

from dashboard_fakes import (  # noqa: E402
    FAKE_KEY,
    RULE,
    URL_KEY,
    SlowChat,
    client_for,
    train_cli,
    write_scenario,
)
from starlette.testclient import TestClient  # noqa: E402
from waits import HANG_S, wait_for  # noqa: E402

from skillfit.dashboard import Access, BadName, check_name, check_new_name, create_app  # noqa: E402
from skillfit.dashboard.diffs import line_diff  # noqa: E402
from skillfit.dashboard.launcher import Launcher, LaunchError  # noqa: E402
from skillfit.dashboard.names import list_root  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """outputs/ with one finished scripted run (`group/done`), a compare folder and a config."""
    base = tmp_path_factory.mktemp("dash")
    cfg = write_scenario(base / "scenario")
    runs = base / "outputs"
    train_cli(cfg, runs / "group" / "done")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "skillfit",
            "compare",
            "--config",
            str(cfg),
            "--out",
            str(runs / "cmp"),
        ]
        + ["--strategies", "skillfit,none", "--no-report"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    cmp_dir = runs / "other"
    cmp_dir.mkdir()
    (cmp_dir / "compare.json").write_text(
        json.dumps(
            {
                "rows": [
                    {
                        "strategy": "skillfit",
                        "test": {"accuracy": 0.5, "ci_low": 0.3, "ci_high": 0.7},
                    },
                    {
                        "strategy": "one-shot",
                        "test": {"accuracy": 0.25, "ci_low": 0.1, "ci_high": 0.5},
                    },
                ]
            }
        )
    )
    configs = base / "configs"
    configs.mkdir()
    shutil.copy(cfg, configs / "scenario.yaml")
    return runs


@pytest.fixture
def client(root: Path) -> TestClient:
    return client_for(root, configs=root.parent / "configs")  # type: ignore[no-any-return]


def test_runs_table_lists_the_run_with_its_figures(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "group/done" in html and "bbh/web_of_lies" in html
    assert "badge done" in html
    assert "0.500" in html  # test accuracy of the best skill, 5/10 (the "Yes" items)
    assert "n=10" in html
    assert "/compare?name=cmp" in html  # the comparison is listed
    # Security headers on every page.
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_run_page_curve_lineage_and_test(client: TestClient) -> None:
    html = client.get("/run", params={"name": "group/done"}).text
    assert 'aria-label="validation curve"' in html
    assert 'class="cand adopted"' in html and "cand rejected" in html
    assert "step 1" in html and "adopted" in html and "rejected" in html
    assert "End the reply with the word Yes." in html  # the adopted edit
    assert "v1" in html and "v2" in html and "diff v1 → v2" in html
    assert "trained (best)" in html and "[0.237, 0.763]" in html
    assert "data-refresh" not in html  # a finished run does not refresh itself


def test_run_page_shows_the_audit(client: TestClient) -> None:
    html = client.get("/run", params={"name": "group/done"}).text
    assert '<div id="audit">' in html and "audit: clean (best_skill.md and" in html


def test_diff_between_versions(client: TestClient) -> None:
    html = client.get("/diff", params={"name": "group/done", "a": "v1", "b": "v2"}).text
    assert 'class="add"' in html and "End the reply with the word Yes." in html
    assert "lines added" in html
    rejected = client.get("/run", params={"name": "group/done"}).text
    assert "ce1" in rejected  # the epoch-end candidate, rejected, can be diffed too
    cand = client.get("/diff", params={"name": "group/done", "a": "v2", "b": "ce1"})
    assert cand.status_code == 200 and "Stay calm and friendly." in cand.text
    missing = client.get("/diff", params={"name": "group/done", "a": "v1", "b": "v99"})
    assert missing.status_code == 404


def test_trajectories_behind_an_edit(client: TestClient) -> None:
    html = client.get("/edit", params={"name": "group/done", "unit": "s1", "edit": "0"}).text
    assert "The rollouts the optimizer read" in html
    assert "I am not sure." in html and "wrong" in html
    assert "What the optimizer made of them" in html  # the reply's analysis
    missing = client.get("/edit", params={"name": "group/done", "unit": "../s1", "edit": "0"})
    assert missing.status_code == 404


def test_compare_directory(client: TestClient) -> None:
    """What `skillfit compare` wrote: a row per strategy, its runs linked; any other row list
    is shown column by column."""
    html = client.get("/compare", params={"name": "cmp"}).text
    assert "skillfit" in html and "none" in html and 'class="chart bars"' in html
    assert "training target calls" in html and "bbh/web_of_lies" in html
    assert "/run?name=cmp/skillfit-s0" in html  # the strategy's run, linked by name
    run = client.get("/run", params={"name": "cmp/skillfit-s0"})
    assert run.status_code == 200 and "validation curve" in run.text
    other = client.get("/compare", params={"name": "other"}).text
    assert "one-shot" in other and "test.accuracy" in other and 'class="chart bars"' in other


@pytest.mark.parametrize(
    "name",
    [
        "../etc",
        "/etc/passwd",
        "group/../../etc",
        "group/./done",
        "..",
        "group\\done",
        "group/done/../done",
        "%2e%2e/x",
        "group//done",
        "a/b/c/d",
        "done\x00",
    ],
)
def test_traversal_is_refused(client: TestClient, name: str) -> None:
    for path in ("/run", "/run/live", "/diff", "/edit", "/compare"):
        resp = client.get(path, params={"name": name, "a": "v1", "b": "v2", "unit": "s1"})
        assert resp.status_code == 404, (path, name)
        assert "root:" not in resp.text
    with pytest.raises(BadName):
        list_root(client.app.state.dashboard.root).run(name)  # type: ignore[attr-defined]
    if name != "%2e%2e/x":  # a folder may be called that: it is looked up, never decoded
        with pytest.raises(BadName):
            check_name(name)


def test_names_are_looked_up_never_joined(root: Path, tmp_path: Path) -> None:
    listing = list_root(root)
    assert set(listing.runs) == {"group/done", "cmp/skillfit-s0", "cmp/none-s0"}
    assert set(listing.compares) == {"cmp", "other"}
    with pytest.raises(BadName):
        listing.run("group/missing")  # well-formed, but not listed
    # A symlink leading out of the root is not followed.
    outside = tmp_path / "outside"
    shutil.copytree(root / "group" / "done", outside / "run")
    link = root / "escape"
    link.symlink_to(outside, target_is_directory=True)
    try:
        assert "escape/run" not in list_root(root).runs
    finally:
        link.unlink()
    for bad in ("../x", "a/b", ".hidden", "", "x" * 200, "a b"):
        with pytest.raises(BadName):
            check_new_name(bad)
    assert check_new_name("my-run_2.b") == "my-run_2.b"


def test_dns_rebinding_host_is_refused(client: TestClient) -> None:
    assert client.get("/", headers={"host": "evil.example:7860"}).status_code == 400
    assert client.get("/", headers={"host": "localhost:7860"}).status_code == 200


def test_another_host_needs_the_token_too(root: Path) -> None:
    assert Access(host="0.0.0.0").token  # one is made up when none is given
    access = Access(host="0.0.0.0", port=7860, token="s3cret-token-value")
    assert "token=s3cret-token-value" in access.url()
    c = TestClient(create_app(root, access=access), base_url="http://10.1.2.3:7860")
    assert c.get("/").status_code == 401
    assert "needs its token" in c.get("/").text
    assert c.get("/", params={"token": "wrong"}).status_code == 401
    assert c.get("/", headers={"authorization": "Bearer s3cret-token-value"}).status_code == 200
    first = c.get("/", params={"token": "s3cret-token-value"}, follow_redirects=False)
    assert first.status_code == 303 and "token" not in first.headers["location"]
    assert c.get("/").status_code == 200  # the cookie carries it from now on


def test_changes_need_the_form_secret_and_same_origin(client: TestClient) -> None:
    assert client.post("/launch", data={"name": "x", "config": "scenario.yaml"}).status_code == 403
    assert client.post("/stop", data={"name": "group/done"}).status_code == 403
    dash = client.app.state.dashboard  # type: ignore[attr-defined]
    cross = client.post(
        "/stop",
        data={"name": "group/done", "csrf": dash.access.csrf},
        headers={"origin": "http://evil.example"},
    )
    assert cross.status_code == 403


def test_launch_form_refuses_bad_input_before_starting(client: TestClient) -> None:
    dash = client.app.state.dashboard  # type: ignore[attr-defined]
    form = {"csrf": dash.access.csrf, "config": "scenario.yaml"}
    bad_name = client.post("/launch", data={**form, "name": "../evil"})
    assert bad_name.status_code == 400 and "not a run name" in bad_name.text
    typo = client.post("/launch", data={**form, "name": "new", "more": "train.epoch=2"})
    assert typo.status_code == 400 and "train.epochs" in typo.text  # the nearest key is named
    exists = client.post("/launch", data={**form, "name": "group"})
    assert exists.status_code == 400 and "already exists" in exists.text
    no_cfg = client.post("/launch", data={**form, "name": "new", "config": "../../etc/passwd"})
    assert no_cfg.status_code == 400 and "no config named" in no_cfg.text
    assert dash.launcher.running() == []


def test_no_key_is_ever_shown(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in the environment, in a model's base URL and in a run's stored error never
    reaches a page."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    runs = tmp_path / "outputs"
    shutil.copytree(root / "group" / "done", runs / "leaky")
    cfg_path = runs / "leaky" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["target"]["model"] = f"openai:m@http://user:{URL_KEY}@127.0.0.1:9/v1"
    cfg["note"] = f"Authorization: Bearer {FAKE_KEY}"
    cfg_path.write_text(json.dumps(cfg))
    with (runs / "leaky" / "events.jsonl").open("a") as fh:
        fh.write(json.dumps({"ts": 1.0, "event": "run_failed", "data": {"error": FAKE_KEY}}) + "\n")
    c = client_for(runs)
    pages = [
        c.get("/"),
        c.get("/run", params={"name": "leaky"}),
        c.get("/run/live", params={"name": "leaky"}),
    ]
    for page in pages:
        assert page.status_code == 200
        assert FAKE_KEY not in page.text and URL_KEY not in page.text
    assert "127.0.0.1:9" in pages[1].text  # the model is still named, without its key


def test_launch_stop_resume_through_the_launcher(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run started in the background can be stopped (as ^C: exit 130) and resumed."""
    runs = tmp_path / "outputs"
    runs.mkdir()
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with SlowChat(delay=0) as chat:
        cfg = write_scenario(
            tmp_path / "slow",
            target=f"openai:slow@{chat.url}/v1",
            extra="train: {epochs: 40, batch_size: 2, minibatch_size: 2, concurrency: 1}\n",
        )
        launcher = Launcher(runs, cfg.parent)

        def ended_run() -> bool:
            launch = launcher.get("r1")
            return launch is not None and launch.exit_code is not None

        with pytest.raises(LaunchError):
            launcher.start("r1", "missing.yaml", [])
        # Each stop comes while the run waits at a model call, so the run is mid-flight
        # whatever the machine's speed; the call is let go once the stop is sent.
        chat.hold()
        launch = launcher.start("r1", cfg.name, ["train.epochs=40"])
        assert launch.pid and launcher.get("r1").outcome == "running"  # type: ignore[union-attr]
        wait_for(lambda: chat.held.is_set() or ended_run(), "the run's first model call")
        assert chat.held.is_set(), launcher.log_tail("r1")
        assert (runs / "r1" / "runtime_state.json").is_file()  # saved before any call
        launcher.stop("r1", grace=HANG_S)
        chat.release()
        ended = launcher.wait("r1", HANG_S)
        assert ended is not None and ended.outcome == "stopped", ended
        assert ended.exit_code == 130, ended  # the ^C path, not the escalation
        with pytest.raises(LaunchError):
            launcher.stop("r1")
        chat.hold()
        again = launcher.resume("r1", runs / "r1")
        assert "--force" not in again.argv and again.pid != launch.pid
        wait_for(lambda: chat.held.is_set() or ended_run(), "the resumed run's first model call")
        assert chat.held.is_set(), launcher.log_tail("r1")
        launcher.stop("r1", grace=HANG_S)
        chat.release()
        ended = launcher.wait("r1", HANG_S)
        assert ended is not None and ended.outcome == "stopped" and ended.exit_code == 130, ended
    assert os.path.exists(runs / ".skillfit-ui" / "logs" / "r1.log")


def test_line_diff_folds_unchanged_runs() -> None:
    a = "\n".join(f"line {i}" for i in range(20))
    b = a.replace("line 10", "line ten")
    lines = line_diff(a, b)
    kinds = [x.kind for x in lines]
    assert kinds.count("del") == 1 and kinds.count("add") == 1 and "fold" in kinds
    assert len(lines) < 20
    assert RULE  # the scenario's rule, used by the browser test


def test_a_run_started_in_a_terminal_can_be_stopped_from_the_page(tmp_path: Path) -> None:
    """The record's process_start names the process; the page offers Stop and sends it ^C."""
    runs = tmp_path / "outputs"
    with SlowChat(delay=0) as chat:
        cfg = write_scenario(
            tmp_path / "s",
            target=f"openai:slow@{chat.url}/v1",
            extra="train: {epochs: 60, batch_size: 2, minibatch_size: 2}\n",
        )
        # The run waits at its first model call until the stop is sent: it is running when the
        # page is read and when Stop is pressed, however fast or slow the machine is.
        chat.hold()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "skillfit",
                "train",
                "--config",
                str(cfg),
                "--out",
                str(runs / "term"),
                "-q",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "OPENAI_API_KEY": FAKE_KEY},
        )
        try:
            wait_for(lambda: chat.held.is_set() or proc.poll() is not None, "a model call")
            assert proc.poll() is None
            c = client_for(runs)
            page = c.get("/run", params={"name": "term"}).text
            assert 'id="stop"' in page and "badge running" in page
            dash = c.app.state.dashboard  # type: ignore[attr-defined]
            resp = c.post(
                "/stop", data={"name": "term", "csrf": dash.access.csrf}, follow_redirects=False
            )
            assert resp.status_code == 303  # the SIGINT is sent before the page answers
            chat.release()
            assert proc.wait(timeout=HANG_S) == 130  # interrupted, as ^C: resumable
            after = c.get("/run", params={"name": "term"}).text
            assert "badge stopped" in after and "interrupted" in after
            assert 'id="resume"' in after
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_binds_loopback_and_asks_a_token_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`skillfit ui` serves 127.0.0.1 by default; another host gets a token and says so."""
    import uvicorn
    from typer.testing import CliRunner

    from skillfit.cli import app as cli

    served: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: served.append(kw))
    monkeypatch.delenv("SKILLFIT_UI_TOKEN", raising=False)
    runner = CliRunner()
    local = runner.invoke(cli, ["ui", "--root", str(tmp_path)])
    assert local.exit_code == 0, local.output
    assert served[-1]["host"] == "127.0.0.1" and served[-1]["port"] == 7860
    # A token on loopback too: the printed address carries it, and says it was made up.
    assert "http://127.0.0.1:7860/?token=" in local.output and "made up" in local.output
    wide = runner.invoke(
        cli, ["ui", "--root", str(tmp_path), "--host", "0.0.0.0", "--port", "8123"]
    )
    assert wide.exit_code == 0, wide.output
    assert served[-1]["host"] == "0.0.0.0"
    assert "not a loopback address" in wide.output and "?token=" in wide.output
    short = runner.invoke(cli, ["ui", "--root", str(tmp_path), "--token", "abc"])
    assert short.exit_code == 2 and "at least 8" in short.output
    chosen = runner.invoke(
        cli,
        ["ui", "--root", str(tmp_path), "--host", "0.0.0.0"],
        env={"SKILLFIT_UI_TOKEN": "t0k3n-chosen"},
    )
    assert "?token=t0k3n-chosen" in chosen.output and "made up" not in chosen.output
    bad = runner.invoke(cli, ["ui", "--port", "0"])
    assert bad.exit_code == 2


def test_resume_of_a_run_a_terminal_still_holds_is_refused_naming_it(tmp_path: Path) -> None:
    """Issue 23: a Resume while the terminal run still goes started a second writer."""
    runs = tmp_path / "outputs"
    held = runs / "held"
    held.mkdir(parents=True)
    (held / "config.json").write_text("{}")
    code = (
        "import time\nfrom skillfit.train.runlock import RunLock\n"
        f"RunLock({str(held)!r}).acquire()\nprint('held', flush=True)\ntime.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(LaunchError, match=f"{held} is in use by process {child.pid} on "):
            Launcher(runs).resume("held", held)
        c = client_for(runs)
        dash = c.app.state.dashboard  # type: ignore[attr-defined]
        page = c.post("/resume", data={"name": "held", "csrf": dash.access.csrf})
        assert page.status_code == 400 and f"process {child.pid}" in page.text
        assert not (runs / ".skillfit-ui" / "launches").exists()  # nothing was started
    finally:
        child.kill()
        child.wait()
    from skillfit.train.runlock import holder

    assert holder(held) is None  # free once its holder is gone, killed or not
