"""Issue 23, the dashboard's open doors: a token on loopback too (any local process could read
the launch form's secret with a GET and start a run as you), a launch form that refuses code
and model servers it was not started with, and launch records that hold no key."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")

from dashboard_fakes import (  # noqa: E402
    LOCAL,
    URL_KEY,
    SlowChat,
    client_for,
    stop_launched,
    write_scenario,
)
from starlette.testclient import TestClient  # noqa: E402
from train_fakes import AddTask, Optimizer, config, run, target_model  # noqa: E402
from waits import HANG_S  # noqa: E402

from skillfit.dashboard import Access, create_app  # noqa: E402
from skillfit.dashboard.launch_guard import restore_keys  # noqa: E402
from skillfit.dashboard.launcher import Launcher, LaunchError, configs_in  # noqa: E402

PAGES = ["/", "/run", "/run/live", "/diff", "/edit", "/launch", "/compare", "/static/app.css"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("access")
    cfg = config(tmp, "train.epochs=1")
    run(cfg, AddTask(), target_model(), Optimizer().model)
    root = tmp / "outputs"
    shutil.copytree(tmp / "run", root / "done")
    return root


def test_loopback_needs_the_token_on_every_page_and_post(runs: Path) -> None:
    app = create_app(runs, access=Access(host="127.0.0.1", port=7860))
    access = app.state.dashboard.access
    anyone = TestClient(app, base_url=LOCAL)  # a local process that did not get the address
    for page in PAGES:
        resp = anyone.get(page, params={"name": "done"})
        assert resp.status_code == 401, page
        assert access.csrf not in resp.text and "needs its token" in resp.text
    # What issue 23 did: read the form's secret with a GET, then POST a launch. Both refused.
    form = {"csrf": access.csrf, "name": "evil", "config": "x.yaml", "task.module": "/tmp/e.py"}
    for action in ("/launch", "/stop", "/resume"):
        assert anyone.post(action, data=form).status_code == 401, action
    wrong = TestClient(app, base_url=LOCAL, cookies={access.cookie: "not-the-token"})
    assert wrong.get("/").status_code == 401
    assert anyone.get("/", params={"token": "not-the-token"}).status_code == 401
    assert anyone.get("/healthz").status_code == 200  # says only "ok"
    # The printed address: the token goes to a cookie named for the port, out of the address.
    first = anyone.get(
        "/run", params={"name": "done", "token": access.token}, follow_redirects=False
    )
    assert first.status_code == 303 and first.headers["location"] == "/run?name=done"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"skillfit_ui_token_7860={access.token}")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert anyone.get("/run", params={"name": "done"}).status_code == 200  # the cookie now
    bearer = TestClient(app, base_url=LOCAL, headers={"authorization": f"Bearer {access.token}"})
    assert bearer.get("/").status_code == 200
    assert Access(port=7861).cookie != Access(port=7860).cookie
    assert Access().token != Access().token  # made up per server
    assert Access().url().startswith("http://127.0.0.1:7860/?token=")


def offer(tmp_path: Path, served: str) -> tuple[Path, Path]:
    """A dashboard's root and configs: `scenario.yaml` (scripted models) and `remote.yaml`,
    whose target is the chat server `served` (a base URL that may hold a key)."""
    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(write_scenario(tmp_path / "local"), configs / "scenario.yaml")
    remote = write_scenario(tmp_path / "remote", target=f"openai:m@{served}")
    # A URL in a comment is no config's value: it is not offered.
    remote.write_text(remote.read_text() + "# openai:m@http://commented.example/v1\n")
    shutil.copy(remote, configs / "remote.yaml")
    return tmp_path / "outputs", configs


def _launch(c: TestClient, **fields: str) -> Any:
    dash = c.app.state.dashboard  # type: ignore[attr-defined]
    form = {"csrf": dash.access.csrf, "name": "new", "config": "scenario.yaml", **fields}
    return c.post("/launch", data=form)


def test_the_launch_form_refuses_modules_and_servers_it_was_not_started_with(
    tmp_path: Path,
) -> None:
    root, configs = offer(tmp_path, f"http://user:{URL_KEY}@127.0.0.1:9/v1")
    c = client_for(root, configs=configs)
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    for fields, says in [
        ({"more": f"task.module={evil}"}, "task.module cannot be set from the launch form"),
        ({"more": f"task.module=[{evil}]"}, "task.module cannot be set"),
        ({"more": f"task.base_dir={tmp_path}"}, "task.base_dir cannot be set"),
        ({"target.model": "openai:x@http://elsewhere.example/v1"}, "elsewhere.example"),
        ({"optimizer.model": "anthropic:c@https://evil.example"}, "is in no config"),
        ({"more": "task.options.judge.model=openai:j@http://evil.example:1"}, "is in no config"),
        ({"target.model": "openai:m@http://commented.example/v1"}, "is in no config"),
        # The offered server with another key: a URL must match a config's exactly.
        ({"target.model": "openai:m@http://user:other@127.0.0.1:9/v1"}, "is in no config"),
    ]:
        resp = _launch(c, **fields)
        assert resp.status_code == 400, fields
        assert says in resp.text, (fields, resp.text[-800:])
        assert URL_KEY not in resp.text
    assert not marker.exists()
    assert not (root / ".skillfit-ui" / "launches").exists()  # nothing was started
    assert not (root / "new").exists()
    with pytest.raises(LaunchError, match="task.module"):
        Launcher(root, configs).start("x", "scenario.yaml", ["task.module=os"])


def test_a_key_in_a_base_url_stays_out_of_records_and_command_lines(tmp_path: Path) -> None:
    """A server an offered config names may be picked in the form; its key reaches the run
    through the environment only: the launch record (0600), the command line and the pages
    hold none, and the run still reaches the server."""
    with SlowChat(delay=0) as chat:
        served = chat.url.replace("http://", f"http://user:{URL_KEY}@") + "/v1"
        root, configs = offer(tmp_path, served)
        c = client_for(root, configs=configs)
        # What an older dashboard left: its folder and a log readable by everyone.
        old_log = root / ".skillfit-ui" / "logs" / "new.log"
        old_log.parent.mkdir(parents=True)
        old_log.write_text("")
        for path in (old_log, old_log.parent, old_log.parent.parent):
            path.chmod(0o644 if path.is_file() else 0o755)
        try:
            resp = _launch(c, **{"target.model": f"openai:slow@{served}"})
            assert resp.status_code == 200, resp.text[-800:]
            record = root / ".skillfit-ui" / "launches" / "new.json"
            launch = json.loads(record.read_text())
            assert URL_KEY not in record.read_text() and URL_KEY not in " ".join(launch["argv"])
            assert any("***" in o for o in launch["overrides"])
            assert stat.S_IMODE(record.stat().st_mode) == 0o600
            assert stat.S_IMODE((root / ".skillfit-ui").stat().st_mode) == 0o700
            log = root / ".skillfit-ui" / "logs" / "new.log"
            assert stat.S_IMODE(log.stat().st_mode) == 0o600
            try:
                cmdline = Path(f"/proc/{launch['pid']}/cmdline").read_bytes()
            except OSError:
                cmdline = b""
            assert URL_KEY.encode() not in cmdline
            ended = c.app.state.dashboard.launcher.wait("new", HANG_S)
            assert ended is not None and ended.exit_code == 0, log.read_text()[-2000:]
            assert chat.calls > 0  # the run reached the server: the key came by environment
            assert "RuntimeWarning" not in log.read_text()
            assert URL_KEY not in log.read_text()
            for page in ("/", "/run?name=new", "/launch"):
                assert URL_KEY not in c.get(page).text
            # A resume gives the run its overrides again, the key taken from the config it
            # came from; once no offered config holds it, the resume is refused.
            offered_now = configs_in(configs)
            assert restore_keys(launch["overrides"], offered_now) == [
                f"target.model=openai:slow@{served}"
            ]
            (configs / "remote.yaml").unlink()
            with pytest.raises(LaunchError, match="launch the run again"):
                restore_keys(launch["overrides"], configs_in(configs))
        finally:
            stop_launched(root)


def test_the_child_reads_the_variable_the_launcher_sets() -> None:
    from skillfit.cli.launched import ENV
    from skillfit.dashboard.launcher import OVERRIDES_ENV

    assert ENV == OVERRIDES_ENV
