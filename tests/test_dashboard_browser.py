"""The dashboard in a real browser: `skillfit ui` on a loopback port over a finished scripted
run, headless Chromium (Debian's chromium and chromium-driver; nothing is downloaded) driven
to the runs table, a run's curve and a diff; then a run launched from the page, watched while
its page updates itself, stopped, resumed and finished. Screenshots are kept as artifacts in
outputs/test-artifacts/dashboard/ (or $SKILLFIT_SCREENSHOTS)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
webdriver = pytest.importorskip("selenium.webdriver")

from dashboard_fakes import (  # noqa: E402
    FAKE_KEY,
    RULE,
    URL_KEY,
    SlowChat,
    dashboard,
    train_cli,
    write_scenario,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402
from waits import HANG_S, wait_for  # noqa: E402

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)
NON_ASCII = "résumé прогон"
LONG_TASK = "bbh/" + "a_very_long_task_name_without_spaces_" * 4
SUITE = Path(__file__).resolve().parents[1] / "bench" / "suite"
# Target calls of the scenario's first step: its rollouts, then the gate's on validation; before
# it, the target check's (8 items with no skill, the skill and a probe: at most 24).
FIRST_STEP_CALLS = 20 + 24
ARTIFACTS = Path(
    os.environ.get("SKILLFIT_SCREENSHOTS")
    or Path(__file__).resolve().parents[1] / "outputs" / "test-artifacts" / "dashboard"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium never looks for a driver online
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(HANG_S)
    _CURRENT.append(driver)
    try:
        yield driver
    finally:
        driver.quit()


_CURRENT: list[Any] = []  # the browser, for what a failed wait saw


def until(what: Callable[[], Any], timeout: float = HANG_S, every: float = 0.2) -> Any:
    """`what()`'s first truthy value; `timeout` only ends a hang (each wait is for an event)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = what()
            if last:
                return last
        except Exception as exc:  # the page is being replaced under us
            last = exc
        time.sleep(every)
    seen = ""
    if _CURRENT:
        with contextlib.suppress(Exception):
            shot(_CURRENT[0], "failure")
            seen = _CURRENT[0].find_element(By.TAG_NAME, "body").text[:1500]
    raise AssertionError(f"timed out; last: {last!r}; the page said:\n{seen}")


def shot(driver: Any, name: str, full: bool = False) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(4000, max(1000, int(height))))
    driver.save_screenshot(str(path))
    if full:
        driver.set_window_size(1400, 1000)
    return path


def badge(driver: Any) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "#live .status-line .badge").text)


def test_dashboard_in_chromium(browser: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    runs = tmp_path / "outputs"
    done_cfg = write_scenario(tmp_path / "done")
    train_cli(done_cfg, runs / "scripted")
    # Issue 23: a folder named with non-ASCII letters and a space (and a task name long enough
    # to push the table's last columns off a 1400-px screen without wrapping), an archived run
    # as bench/suite keeps them, and a run whose history holds a value of the wrong type.
    odd = Path(shutil.copytree(runs / "scripted", runs / NON_ASCII))
    cfg = json.loads((odd / "config.json").read_text())
    cfg["task"]["name"] = LONG_TASK
    (odd / "config.json").write_text(json.dumps(cfg))
    shutil.copytree(SUITE / "gsm8k", runs / "suite" / "gsm8k")
    hurt = Path(shutil.copytree(runs / "scripted", runs / "hurt"))
    history = json.loads((hurt / "history.json").read_text())
    history[0]["step"] = "x"
    (hurt / "history.json").write_text(json.dumps(history))
    with SlowChat(delay=0.08) as slow:
        # The live run's target answers through a loopback server, slowly, so it can be watched;
        # its base URL and the environment carry keys that must never reach a page.
        url = slow.url.replace("http://", f"http://user:{URL_KEY}@") + "/v1"
        configs = tmp_path / "configs"
        write_scenario(
            configs,
            target=f"openai:slow@{url}",
            extra="eval: {samples: 1}\n",
        )
        env = {"OPENAI_API_KEY": FAKE_KEY}
        with dashboard(runs, configs, env=env, refresh=0.5) as (base, address):
            d = browser
            # Without its token the dashboard shows nothing, on loopback too.
            d.get(base + "/")
            assert "needs its token" in d.page_source and 'id="runs"' not in d.page_source
            # The address `skillfit ui` printed: the token goes to a cookie, out of the address.
            d.get(address)
            until(lambda: "token" not in d.current_url and d.find_elements(By.ID, "runs"))
            table = d.find_element(By.ID, "runs")
            row = table.find_element(By.CSS_SELECTOR, 'tr[data-run="scripted"]')
            assert "bbh/web_of_lies" in row.text and "done" in row.text
            assert "0.500" in row.text and "[0.237, 0.763]" in row.text  # test accuracy, CI
            shot(d, "01-runs")
            # Every column fits a 1400-px window, a long task name wrapping in its cell.
            width = d.execute_script("return document.documentElement.clientWidth")
            for th in table.find_elements(By.CSS_SELECTOR, "thead th"):
                right = d.execute_script("return arguments[0].getBoundingClientRect().right", th)
                assert right <= width, (th.text, right, width)
            odd_row = table.find_element(By.CSS_SELECTOR, f'tr[data-run="{NON_ASCII}"]')
            assert LONG_TASK[:20] in odd_row.text and "done" in odd_row.text
            archived = table.find_element(By.CSS_SELECTOR, 'tr[data-run="suite/gsm8k"]')
            assert "archived" in archived.text and "0/?" not in archived.text
            hurt_row = table.find_element(By.CSS_SELECTOR, 'tr[data-run="hurt"]')
            assert "history.json is damaged" in hurt_row.text

            # The non-ASCII run opens by its name.
            odd_row.find_element(By.LINK_TEXT, NON_ASCII).click()
            until(lambda: d.find_element(By.ID, "run-name").text == NON_ASCII)
            assert d.find_elements(By.CSS_SELECTOR, "#curve svg .cand.adopted")
            # The archived run: its kept skill, and no Resume that would start a long run.
            d.get(base + "/run?name=suite/gsm8k")
            until(lambda: d.find_element(By.ID, "run-name").text == "suite/gsm8k")
            assert badge(d) == "archived"
            assert "Word-problem skill" in d.find_element(By.ID, "kept-skill").text
            assert not d.find_elements(By.ID, "resume")
            shot(d, "01b-archived")
            # The damaged run: its page, saying which file is damaged.
            d.get(base + "/run?name=hurt")
            until(lambda: d.find_element(By.ID, "run-name").text == "hurt")
            assert "history.json" in d.find_element(By.ID, "damaged").text
            shot(d, "01c-damaged")
            d.get(base + "/")
            table = d.find_element(By.ID, "runs")
            row = table.find_element(By.CSS_SELECTOR, 'tr[data-run="scripted"]')

            # A run's curve: adopted and rejected candidates are drawn.
            row.find_element(By.LINK_TEXT, "scripted").click()
            until(lambda: d.find_element(By.ID, "run-name").text == "scripted")
            curve = d.find_element(By.CSS_SELECTOR, "#curve svg")
            assert curve.find_elements(By.CSS_SELECTOR, ".cand.adopted")
            assert curve.find_elements(By.CSS_SELECTOR, ".cand.rejected")
            assert "adopted" in d.find_element(By.ID, "steps").text
            assert "v2" in d.find_element(By.ID, "versions").text
            shot(d, "02-run", full=True)

            # A diff between two versions, chosen in the form.
            Select(d.find_element(By.ID, "diff-a")).select_by_value("v1")
            Select(d.find_element(By.ID, "diff-b")).select_by_value("v2")
            d.find_element(By.ID, "diff-go").click()
            until(lambda: d.find_elements(By.ID, "diff"))
            added = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#diff tr.add")]
            assert any(RULE.splitlines()[1] in line for line in added), added
            assert "lines added" in d.find_element(By.ID, "diff-summary").text
            shot(d, "03-diff")

            # Launch a run from the page, watch it update by itself, stop it, resume it. The
            # run's model calls are let through by count, so the page is seen at known points
            # of the run (and the run is still going when Stop is pressed) at any machine speed.
            slow.hold()
            d.get(base + "/launch")
            d.find_element(By.ID, "run-name-input").send_keys("live")
            Select(d.find_element(By.ID, "config")).select_by_visible_text("scenario.yaml")
            d.find_element(By.NAME, "train.epochs").send_keys("3")
            d.find_element(By.ID, "launch").click()
            until(lambda: d.find_element(By.ID, "run-name").text == "live")
            until(lambda: badge(d) == "running")
            wait_for(slow.held.is_set, "the live run's first model call")
            # The page follows the run by itself: the test does not navigate while it waits.
            first = int(d.find_element(By.ID, "progress").get_attribute("value") or 0)
            slow.allow(FIRST_STEP_CALLS)
            wait_for(slow.held.is_set, "the live run past its first step")
            until(
                lambda: int(d.find_element(By.ID, "progress").get_attribute("value") or 0) > first
            )
            assert "step" in d.title and "live" in d.title
            assert d.find_elements(By.ID, "skill-now")  # what the skill says now
            until(lambda: d.find_elements(By.CSS_SELECTOR, "#curve .cand"))
            shot(d, "04-live", full=True)
            d.find_element(By.ID, "stop").click()
            record = runs / ".skillfit-ui" / "launches" / "live.json"
            wait_for(lambda: json.loads(record.read_text()).get("stop_requested"), "the stop")
            slow.release()  # the held call returns and the interrupted run ends
            until(lambda: badge(d) == "stopped")
            assert "stopped from the dashboard" in d.page_source
            shot(d, "05-stopped")
            d.find_element(By.ID, "resume").click()
            until(lambda: badge(d) in ("running", "done"))
            until(lambda: badge(d) == "done")
            d.get(base + "/")
            live_row = d.find_element(By.CSS_SELECTOR, 'tr[data-run="live"]')
            assert "done" in live_row.text and "openai:slow" in live_row.text
            for page in ("/", "/run?name=live", "/launch"):
                d.get(base + page)
                assert FAKE_KEY not in d.page_source and URL_KEY not in d.page_source
            shot(d, "06-runs-after")
    assert slow.calls > 0
    print(f"\nscreenshots in {ARTIFACTS} ({time.monotonic() - started:.0f} s)")
