"""A loopback chat-completions server that fails on purpose, for reliability tests and the bench.

    with FaultServer(plan) as server:          # listens on 127.0.0.1:<free port> only
        model = get_model(f"openai:fake@{server.url}/v1")

`plan(n, body)` gets the request's number (0-based, over the server's life) and its JSON body
and returns the fault to serve: one of FAULTS, or ("ok", text) for a good answer. Every request
is recorded in `server.requests` (path, headers, body). A hang lasts until the server stops with
the `with` block (or `hang_s` seconds, if given); nothing here ever talks to another address.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

FAULTS = (
    "429",  # rate limited, with Retry-After: 0
    "500",
    "503",
    "hang",  # answers nothing until the client gives up (or the server stops)
    "reset",  # TCP reset before any answer
    "short_body",  # headers promise more bytes than are sent, then the connection closes
    "truncated_json",  # a complete HTTP answer whose JSON is cut in the middle
    "non_json",  # application/json that is HTML
    "html",  # text/html: the SDK hands back a string
    "empty_choices",  # {"choices": []}
    "null_content",  # the message content is null
    "blank_content",  # the message content is whitespace
    "schema",  # JSON of the wrong shape (a choice that is a number)
    "echo_401",  # 401 whose error message echoes the Authorization header
)
# Faults of a server that answers, too slowly or too much (issue 23), served on request but kept
# out of FAULTS: a client without a total deadline would wait on them for minutes.
LIMIT_FAULTS = (
    "drip",  # a good answer's body sent one byte every DRIP_S seconds
    "drip_headers",  # the headers themselves sent one byte every DRIP_S seconds
    "huge",  # a 200 whose content is HUGE_BYTES (usage says 3 tokens)
)
DRIP_S = 0.3
HUGE_BYTES = 10 * 2**20

Plan = Callable[[int, dict[str, Any]], "str | tuple[str, str]"]


def completion(text: str, *, prompt: int = 11, completion_tokens: int = 3) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        },
    }


def _response(status: int, body: bytes, ctype: str = "application/json", extra: str = "") -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    )
    return head.encode() + body


class FaultServer:
    def __init__(self, plan: Plan, *, hang_s: float | None = None) -> None:
        self.plan = plan
        self.hang_s = hang_s
        self.requests: list[dict[str, Any]] = []
        self.served: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _read(self, conn: socket.socket) -> tuple[str, dict[str, str], dict[str, Any]]:
        conn.settimeout(60)  # only a client that never sends its request waits this long
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1] if lines and " " in lines[0] else ""
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = {}
        return path, headers, parsed

    def _handle(self, conn: socket.socket) -> None:
        path, headers, body = self._read(conn)
        with self._lock:
            n = len(self.requests)
            self.requests.append({"path": path, "headers": headers, "body": body})
        decision = self.plan(n, body)
        fault, text = decision if isinstance(decision, tuple) else (decision, "")
        with self._lock:
            self.served.append(fault)
        if fault == "ok":
            conn.sendall(_response(200, json.dumps(completion(text)).encode()))
        elif fault == "429":
            conn.sendall(
                _response(429, b'{"error": {"message": "slow down"}}', extra="Retry-After: 0\r\n")
            )
        elif fault in ("500", "503"):
            conn.sendall(_response(int(fault), b'{"error": {"message": "server error"}}'))
        elif fault == "hang":
            self._stop.wait(self.hang_s)
        elif fault == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault == "short_body":
            body_bytes = json.dumps(completion("cut")).encode()
            full = _response(200, body_bytes)
            conn.sendall(full[: len(full) - len(body_bytes) // 2])
        elif fault == "truncated_json":
            cut = json.dumps(completion("cut")).encode()[:60]
            conn.sendall(_response(200, cut))
        elif fault == "non_json":
            conn.sendall(_response(200, b"<html>upstream error</html>"))
        elif fault == "html":
            conn.sendall(_response(200, b"<html>upstream error</html>", ctype="text/html"))
        elif fault == "empty_choices":
            conn.sendall(_response(200, json.dumps({**completion(""), "choices": []}).encode()))
        elif fault in ("null_content", "blank_content"):
            out = completion("")
            out["choices"][0]["message"]["content"] = None if fault == "null_content" else "  \n"
            conn.sendall(_response(200, json.dumps(out).encode()))
        elif fault == "schema":
            conn.sendall(_response(200, b'{"choices": [{"message": 5}]}'))
        elif fault in ("drip", "drip_headers"):
            full = _response(200, json.dumps(completion(text or "4")).encode())
            start = 0 if fault == "drip_headers" else full.index(b"\r\n\r\n") + 4
            conn.sendall(full[:start])
            for i in range(start, len(full)):
                if self._stop.wait(DRIP_S):
                    break
                try:
                    conn.sendall(full[i : i + 1])
                except OSError:  # the client gave up
                    break
        elif fault == "huge":
            body_bytes = json.dumps(completion("x" * HUGE_BYTES)).encode()
            with contextlib.suppress(OSError):  # the client stopped reading
                conn.sendall(_response(200, body_bytes))
        elif fault == "echo_401":
            auth = headers.get("authorization", "")
            msg = {"error": {"message": f"invalid credentials in header Authorization: {auth}"}}
            conn.sendall(_response(401, json.dumps(msg).encode()))
        else:
            raise ValueError(f"unknown fault {fault!r}")
        conn.close()
