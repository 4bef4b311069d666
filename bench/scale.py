"""Rollouts per second on a local Ray cluster of 1, 2 and 4 workers, against a slow API.

    nice python bench/scale.py [--workers 1 2 4] [--items 24] [--delay 0.5]

A loopback fake OpenAI-compatible server (http.server in a thread, 127.0.0.1) answers every
chat completion after a fixed delay, like a hosted model under load: the load is I/O-bound, so
rollouts per second should grow with the workers. For each worker count the bench starts a
local Ray cluster with that many CPUs (`runtime.ray.num_cpus: 1` per task and one item per
task, so each worker runs one rollout at a time), warms the workers up (their first task
imports skillfit and builds the task), then times one batch of `--items` rollouts of a
BBH task under the chat harness through skillfit's Ray executor, with no response cache. It
prints rollouts per second per worker count and the speed-up over one worker.

Needs `pip install 'skillfit[ray]'`; the task's data ships with skillfit.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def fake_api(delay: float) -> ThreadingHTTPServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1 that answers after `delay`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            time.sleep(delay)
            body = json.dumps(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "Answer: True"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(workers: int, items: int, url: str) -> float:
    """Rollouts per second of one timed batch on a fresh local cluster of `workers` CPUs."""
    import ray

    from skillfit.tasks import get_task
    from skillfit.train.config import RayConfig
    from skillfit.train.ray_executor import RayExecutor
    from skillfit.train.remote import RolloutSpec, TaskSpec
    from skillfit.train.rollout import RolloutJob

    options = {"n_train": 2 * items, "n_val": 2, "n_test": 2, "seed": 0}
    spec = RolloutSpec(
        task=TaskSpec("bbh/boolean_expressions", options),
        harness="chat",
        target=f"openai:fake@{url}",
    )
    train = list(get_task("bbh/boolean_expressions", **options).splits()["train"])
    ray.init(
        address="local",
        num_cpus=workers,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        executor = RayExecutor(spec, RayConfig(num_cpus=1, chunk_size=1))
        # Warm-up: every worker process imports skillfit and builds the task once.
        executor.run([RolloutJob("", item, 0) for item in train[: 2 * workers]])
        jobs = [RolloutJob("Think, then answer.", item, 1) for item in train[:items]]
        start = time.perf_counter()
        trajs = executor.run(jobs)
        seconds = time.perf_counter() - start
        errors = [t.error for t in trajs if t.error]
        if errors:
            raise SystemExit(f"{len(errors)} rollouts failed; first: {errors[0]}")
        return len(jobs) / seconds
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--items", type=int, default=24, help="rollouts in the timed batch")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the API takes")
    args = parser.parse_args()
    server = fake_api(args.delay)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    print(f"fake API at {url}, {args.delay:g} s per reply; {args.items} rollouts per batch")
    print(f"{'workers':>7}  {'rollouts/s':>10}  {'speed-up':>8}")
    base = None
    for n in args.workers:
        rate = measure(n, args.items, url)
        base = base or rate
        print(f"{n:>7}  {rate:>10.2f}  {rate / base:>7.2f}x", flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
