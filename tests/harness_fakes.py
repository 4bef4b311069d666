"""Fakes for the harness and transfer tests: scripted targets over a bundled BBH task whose
answers depend on the skill, in chat and agent form; an embedded model on a loopback server
that starts like the real one."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from train_fakes import MAGIC

from skillfit.models.local.provider import LocalChatModel
from skillfit.models.local.server import LocalServer, ServerOptions
from skillfit.models.scripted import Request, ScriptedModel

TASK = "bbh/boolean_expressions"
OPTIONS = {"n_train": 3, "n_val": 4, "n_test": 4}


def answer_action(answer: str) -> dict[str, Any]:
    return {"action": {"tool": "answer", "args": {"answer": answer}}}


def _answers(task: Any) -> dict[str, str]:
    return {it.input: str(it.target) for split in task.splits().values() for it in split}


def bbh_target(task: Any) -> ScriptedModel:
    """Right only when the skill holds MAGIC; answers in the form the harness asks for."""
    answers = _answers(task)

    def fn(request: Request) -> Any:
        item = next((i for i in answers if request.last_user.startswith(i)), "")
        answer = answers.get(item, "?") if MAGIC in request.system else "maybe"
        if request.response_format is not None:
            return answer_action(answer)
        return f"Thinking.\nAnswer: {answer}"

    return ScriptedModel(fn, name="scripted:bbh-target")


def rules_file(path: Path, task: Any, *, learns: bool) -> Path:
    """A `scripted:<path>` rules file: with `learns`, right on every item when the skill holds
    MAGIC (chat and agent form), else always wrong."""
    rules: list[dict[str, Any]] = []
    if learns:
        for question, answer in _answers(task).items():
            match = "^" + re.escape(question)
            rules.append(
                {
                    "match": match,
                    "system": re.escape(MAGIC),
                    "format": "text",
                    "reply": f"Answer: {answer}",
                }
            )
            rules.append(
                {
                    "match": match,
                    "system": re.escape(MAGIC),
                    "format": "json",
                    "reply": answer_action(answer),
                }
            )
    rules.append({"match": "", "format": "text", "reply": "Answer: maybe"})
    rules.append({"match": "", "format": "json", "reply": answer_action("maybe")})
    path.write_text(json.dumps(rules), encoding="utf-8")
    return path


class LoopbackServer(LocalServer):
    """The embedded model's server as the harnesses meet it, without a model: reading
    `base_url` starts it (on a free loopback port), a started server keeps the context it
    started with, and it answers chat completions with `reply` (anything else: 404).
    `started_ctx` is the context per slot it started with."""

    def __init__(self, reply: str = "Answer: True") -> None:
        options = ServerOptions(slots=2, ctx_per_slot=4096)  # the real default
        super().__init__(Path("/nonexistent/loopback.gguf"), options)
        self.reply = reply
        self.started_ctx: int | None = None
        self._http: ThreadingHTTPServer | None = None

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            reply = self.reply

            class Handler(BaseHTTPRequestHandler):
                def log_message(self, *args: Any) -> None:
                    pass

                def _send(self, code: int, body: bytes = b"") -> None:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

                def do_GET(self) -> None:
                    self._send(404)

                def do_POST(self) -> None:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    if not self.path.startswith("/v1/chat/completions"):
                        return self._send(404)
                    body = {
                        "id": "c1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "loopback",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                    }
                    self._send(200, json.dumps(body).encode())

            http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=http.serve_forever, daemon=True).start()
            self._http = http
            self.started_ctx = self.options.ctx_per_slot
            self._server = SimpleNamespace(listening_address=f"http://127.0.0.1:{http.server_port}")
            LIVE_SERVERS.append(self)

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.shutdown()
                self._http.server_close()
            self._http = None
            self._server = None


LIVE_SERVERS: list[LoopbackServer] = []


def loopback_target(reply: str = "Answer: True") -> LocalChatModel:
    """An embedded model (`local:qwen2.5-coder-0.5b`) on a LoopbackServer, not yet started."""
    return LocalChatModel("local:qwen2.5-coder-0.5b", LoopbackServer(reply))


def close_loopback_servers() -> None:
    while LIVE_SERVERS:
        LIVE_SERVERS.pop().close()
