"""Loopback fake servers and flaky models for the model-layer tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A handler decides the answer: (path, request body) -> (status, body dict) or an action string:
# "hang" answers nothing until the server stops (past any client timeout, on any machine),
# "drop" closes the connection without answering.
Handler = Callable[[str, dict[str, Any]], "tuple[int, dict[str, Any]] | str"]


@contextmanager
def fake_server(handler: Handler) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve `handler` on 127.0.0.1:<free port>; yields (root URL, received request bodies)."""
    received: list[dict[str, Any]] = []
    stop = threading.Event()

    class _H(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            received.append({"path": self.path, **body, "_headers": headers})
            out = handler(self.path, body)
            if out == "hang":
                stop.wait()
                return
            if out == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            assert not isinstance(out, str)
            status, payload = out
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def chat_completion(
    content: str, *, prompt: int = 11, completion: int = 3, cached: int = 0
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def anthropic_message(blocks: list[dict[str, Any]], *, stop: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-fake",
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 5,
            "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": 0,
        },
    }


def error_body(message: str = "boom") -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error"}}
