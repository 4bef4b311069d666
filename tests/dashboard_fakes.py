"""Runs and servers for the dashboard tests: a scripted run on a bundled task (the target
answers Yes once the skill says so; the optimizer proposes that rule, then one the gate
rejects), a slow loopback chat-completions server to watch a run live (or to hold it at a model
call until the test lets it go on), and the dashboard itself started through the CLI on a free
loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from waits import HANG_S

RULE = "## Answer\nEnd the reply with the word Yes."
JUNK = "## Tone\nStay calm and friendly."
STEP_JUNK = "## Style\nWrite in full sentences."
# A fake key, assembled at run time so the source holds nothing shaped like a real one.
FAKE_KEY = "sk-" + "dashboardsecret0123456789"
URL_KEY = "Qx7url-secret-9d2e4b"


def write_scenario(root: Path, *, target: str | None = None, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tgt = root / "target.json"
    tgt.write_text(
        json.dumps(
            [
                {"match": ".", "system": "End the reply with the word Yes", "reply": "Yes"},
                {"match": ".", "reply": "I am not sure."},
            ]
        )
    )

    def edits(content: str) -> dict[str, Any]:
        edit = {"op": "add", "section": None, "anchor": None, "content": content}
        return {"analysis": "format", "edits": [{**edit, "rationale": "answer format"}]}

    opt = root / "optimizer.json"
    opt.write_text(
        json.dumps(
            [
                {
                    "match": ".",
                    "system": "short notes for an optimizer",
                    "reply": {"notes": "- ok"},
                },
                # The epoch end's own idea, so its candidate is new and the gate rejects it.
                {
                    "match": ".",
                    "system": "changed from an earlier version",
                    "reply": edits(JUNK),
                },
                {"match": "End the reply with the word Yes", "reply": edits(STEP_JUNK)},
                {"match": ".", "reply": edits(RULE)},
            ]
        )
    )
    cfg = root / "scenario.yaml"
    lines = [
        "task: {name: bbh/web_of_lies, options: {n_train: 8, n_val: 8, n_test: 10, seed: 0}}",
        f"target: {{model: '{target or f'scripted:{tgt}'}'}}",
        f"optimizer: {{model: 'scripted:{opt}', reflection: direct, temperature: 0}}",
        "train: {epochs: 2, batch_size: 4, minibatch_size: 4, concurrency: 2}",
        "gate: {kind: strict_mean}",
        "slow_update: {n_items: 4}",
        f"cache: {{path: '{root / 'cache.sqlite'}'}}",
    ]
    # A section in `extra` replaces the scenario's own (a YAML key may be given once).
    given = {line.split(":")[0] for line in extra.splitlines() if line[:1].isalpha()}
    kept = [line for line in lines if line.split(":")[0] not in given]
    cfg.write_text("\n".join(kept) + "\n" + extra)
    return cfg


def train_cli(cfg: Path, out: Path, *, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "skillfit", "train", "--config", str(cfg), "--out", str(out), "-q"],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )


class SlowChat:
    """A chat-completions server on 127.0.0.1 that answers like the scripted target, each
    answer after `delay` seconds, so a run through it can be watched while it goes.

    `hold()` makes the answers wait until `allow(n)` lets n more through or `release()` all;
    `held` is set once a call waits. A run held at a model call is known to be mid-flight, and
    to have got exactly as far as the calls let through, however fast or slow the machine is."""

    def __init__(self, delay: float = 0.1) -> None:
        self.delay = delay
        self.calls = 0
        self.held = threading.Event()
        self._gate = threading.Condition()
        self._budget: int | None = None  # answers left before holding; None: never hold
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                outer.calls += 1
                with outer._gate:
                    while outer._budget == 0:
                        outer.held.set()
                        outer._gate.wait()
                    if outer._budget is not None:
                        outer._budget -= 1
                time.sleep(outer.delay)
                system = " ".join(
                    str(m.get("content", ""))
                    for m in body.get("messages", [])
                    if m["role"] == "system"
                )
                text = "Yes" if "End the reply with the word Yes" in system else "I am not sure."
                data = json.dumps(
                    {
                        "id": "c",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "slow",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text},
                            }
                        ],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22},
                    }
                ).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(200)  # a stopped run may have hung up
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SlowChat:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def hold(self) -> None:
        """From now on, answers wait for `allow()` or `release()`."""
        with self._gate:
            self.held.clear()
            self._budget = 0

    def allow(self, n: int) -> None:
        """Let `n` more answers through, then hold again."""
        with self._gate:
            self.held.clear()
            self._budget = (self._budget or 0) + n
            self._gate.notify_all()

    def release(self) -> None:
        with self._gate:
            self._budget = None
            self._gate.notify_all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = HANG_S) -> None:
    """Until `url` answers 200 (the server is up); `timeout` only ends a hang."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_launched(root: Path) -> None:
    """Kill every run a dashboard over `root` launched that is still going (test cleanup)."""
    import signal

    for record in (root / ".skillfit-ui" / "launches").glob("*.json"):
        pid = json.loads(record.read_text()).get("pid")
        if pid:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def dashboard(
    root: Path,
    configs: Path,
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    refresh: float = 3.0,
) -> Iterator[tuple[str, str]]:
    """`skillfit ui` on a free loopback port; yields its base URL and the address with the
    token it printed; stopped at the end."""
    port = port or free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "skillfit",
            "ui",
            "--root",
            str(root),
            "--port",
            str(port),
            "--configs",
            str(configs),
            "--refresh",
            str(refresh),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        printed = ""
        for raw in proc.stdout:  # until the line with its address (EOF if it died)
            line = raw.decode("utf-8", "replace")
            printed += line
            if "?token=" in line:
                break
        match = re.search(r"(http://\S+\?token=\S+)", printed)
        assert match and match.group(1).startswith(url + "/"), printed
        wait_http(url + "/healthz")
        yield url, match.group(1)
    finally:
        stop_launched(root)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


LOCAL = "http://127.0.0.1:7860"


def client_for(root: Path, **kwargs: Any) -> Any:
    """A test client of the dashboard over `root`, as a browser that opened the address
    `skillfit ui` printed (its token kept in the cookie)."""
    from starlette.testclient import TestClient

    from skillfit.dashboard import create_app

    app = create_app(root, **kwargs)
    access = app.state.dashboard.access
    return TestClient(app, base_url=LOCAL, cookies={access.cookie: access.token})
