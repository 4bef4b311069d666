"""Issue 10, item 9: a key inside a base URL, or echoed back by a provider's error, is never
written to a run's files, the response cache or the console."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from faultserver import FaultServer
from typer.testing import CliRunner

from skillfit.cli import app
from skillfit.models.redact import redact

URL_KEY = "Zq8url-secret-4f1c9e2b7a"
# A fake key, assembled so the source holds nothing shaped like a real one.
ENV_KEY = "sk-" + "envsecret0123456789abcdef"


def test_redact_masks_the_usual_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "plainvalue-123456")
    cases = {
        f"openai:m@http://user:{URL_KEY}@127.0.0.1:9/v1": URL_KEY,
        "HTTP 401: header Authorization: Bearer abcdefghijklmnop1234": "abcdefghijklmnop1234",
        "{'x-api-key': 'k-1234567890abcdef'}": "k-1234567890abcdef",
        "bad key sk-" + "proj-ABCDEFGHIJKLMNOPQRSTUV": "ABCDEFGHIJKLMNOPQRSTUV",
        "GET https://h/v1?api_key=s3cr3tvalue&x=1": "s3cr3tvalue",
        "the key plainvalue-123456 was refused": "plainvalue-123456",
    }
    for text, secret in cases.items():
        assert secret not in redact(text), text
    assert (
        redact("openai:gpt-4o@http://127.0.0.1:8000/v1") == "openai:gpt-4o@http://127.0.0.1:8000/v1"
    )


@pytest.mark.parametrize("in_url", [True, False], ids=["key-in-url", "key-in-env"])
def test_no_key_reaches_any_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_url: bool
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    # The client sends the URL's user info as Basic auth, else the key as a Bearer token.
    basic = base64.b64encode(f"user:{URL_KEY}".encode()).decode()
    secrets = [URL_KEY, ENV_KEY, basic]
    rules = tmp_path / "opt.json"
    rules.write_text(json.dumps([{"match": ".", "reply": ""}]))
    # Every fourth call is refused with an error that echoes the Authorization header.
    with FaultServer(lambda n, body: "echo_401" if n % 4 == 1 else ("ok", "Yes")) as server:
        base = server.url + "/v1"
        if in_url:
            base = base.replace("http://", f"http://user:{URL_KEY}@")
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(
            "task: {name: bbh/web_of_lies, options: {n_train: 4, n_val: 4, n_test: 8}}\n"
            f"target: {{model: 'openai:fake@{base}'}}\n"
            f"optimizer: {{model: 'scripted:{rules}'}}\n"
            "train: {epochs: 1, batch_size: 4, minibatch_size: 4, max_infra_error_rate: 0.9}\n"
            f"cache: {{path: '{tmp_path / 'cache.sqlite'}'}}\n"
        )
        result = CliRunner().invoke(
            app, ["train", "--config", str(cfg), "-q", "--out", str(tmp_path / "run")]
        )
        refused = [r for r in server.requests if r["headers"].get("authorization")]
    assert result.exit_code == 0, result.output
    sent = basic if in_url else ENV_KEY
    assert all(sent in r["headers"]["authorization"] for r in refused)  # the key was sent
    assert "echo_401" in server.served
    found = [
        str(p)
        for p in tmp_path.rglob("*")
        if p.is_file() and p != cfg and any(s.encode() in p.read_bytes() for s in secrets)
    ]
    assert found == []
    assert not any(s in result.output for s in secrets)
    rows = (tmp_path / "run" / "steps" / "step_0001" / "rollouts.jsonl").read_text().splitlines()
    errors = [json.loads(r)["error"] for r in rows if json.loads(r)["error"]]
    scheme = "Basic" if in_url else "Bearer"
    assert errors and all(f"Authorization: {scheme} ***" in e for e in errors)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    host = "http://***@127.0.0.1:" if in_url else "http://127.0.0.1:"
    assert config["target"]["model"].startswith(f"openai:fake@{host}")
