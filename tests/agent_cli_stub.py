"""A loopback stand-in for a model server, for running the real agent CLIs without a model: the
OpenAI Responses API (Codex) and the Anthropic Messages API (Claude Code), streaming, with
scripted replies. A prompt naming notes.txt gets one tool call (Codex `exec_command`, Claude
Code `Read`); after the tool's result, or for any other prompt, an answer line.

    with stub_server() as (url, requests):   # requests: the JSON bodies received
        ...
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REQUESTS: list[dict[str, Any]] = []
ids = itertools.count(1)


def text_of(obj):
    return json.dumps(obj)


def decide(body_text: str) -> tuple[str, str | None]:
    """(kind, payload): a tool call to read notes.txt once, else an answer; a request holding
    a skill's method (`not` first) gets the worked answer."""
    if (
        "notes.txt" in body_text
        and "function_call_output" not in body_text
        and "tool_result" not in body_text
    ):
        return "tool", None
    if "4417" in body_text:
        return "text", "The file says the code is 4417.\nAnswer: 4417"
    if "Evaluate `not` first" in body_text or "Answer: True` or" in body_text:
        return (
            "text",
            "not True = False; False or False = False; False or True = True.\nAnswer: True",
        )
    return "text", "It is True.\nAnswer: True"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def sse(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True

    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode()
        REQUESTS.append({"path": self.path, "body": json.loads(raw) if raw else None})
        body = json.loads(raw) if raw else {}
        if self.path.startswith("/v1/responses"):
            return self.api_responses(body, raw)
        if self.path.startswith("/v1/messages"):
            return self.api_messages(body, raw)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def api_responses(self, body, raw):
        rid = f"resp_{next(ids)}"
        kind, text = decide(raw)
        n_in = max(1, len(raw) // 4)
        if kind == "tool":
            item = {
                "type": "function_call",
                "id": f"fc_{rid}",
                "call_id": f"call_{rid}",
                "name": "exec_command",
                "arguments": json.dumps({"cmd": "cat notes.txt"}),
            }
        else:
            item = {
                "type": "message",
                "id": f"msg_{rid}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        usage = {
            "input_tokens": n_in,
            "input_tokens_details": {"cached_tokens": n_in // 2},
            "output_tokens": 20,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": n_in + 20,
        }
        resp = {
            "id": rid,
            "object": "response",
            "status": "completed",
            "model": body.get("model"),
            "output": [item],
            "usage": usage,
        }
        events = [
            (
                "response.created",
                {
                    "type": "response.created",
                    "response": {**resp, "status": "in_progress", "output": []},
                },
            ),
            (
                "response.output_item.added",
                {"type": "response.output_item.added", "output_index": 0, "item": item},
            ),
            (
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": 0, "item": item},
            ),
            ("response.completed", {"type": "response.completed", "response": resp}),
        ]
        self.sse(events)

    def api_messages(self, body, raw):
        mid = f"msg_{next(ids)}"
        kind, text = decide(raw)
        n_in = max(1, len(raw) // 4)
        if not body.get("stream"):
            out = {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": n_in, "output_tokens": 1},
            }
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        start = {
            "type": "message_start",
            "message": {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": n_in // 2,
                    "cache_read_input_tokens": n_in - n_in // 2,
                    "cache_creation_input_tokens": 0,
                    "output_tokens": 0,
                },
            },
        }
        if kind == "tool":
            block = {"type": "tool_use", "id": f"toolu_{mid}", "name": "Read", "input": {}}
            delta = {
                "type": "input_json_delta",
                "partial_json": json.dumps({"file_path": "notes.txt"}),
            }
            stop = "tool_use"
        else:
            block = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": text}
            stop = "end_turn"
        events = [
            ("message_start", start),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            ),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 20},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        self.sse(events)


@contextmanager
def stub_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve on a free loopback port for the duration of the block."""
    REQUESTS.clear()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", REQUESTS
    finally:
        srv.shutdown()
        srv.server_close()
