"""Benchmark the embedded local model on this machine.

    python bench/models.py [--model local:qwen2.5-coder-0.5b]

Prints load time, prompt and generation speed, the speed-up of a repeated shared prefix,
HTTP against in-process request overhead, and throughput with 1, 2 and 4 concurrent requests.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console
from rich.table import Table

from skillfit.models import get_model
from skillfit.models.local.probe import probe
from skillfit.models.local.provider import LocalChatModel, local_model

# About 900 tokens of varied text standing in for a skill document.
PREFIX = "\n".join(
    f"Rule {i}: when the input mentions item {i * 7 % 101}, check unit {i % 13} "
    f"and answer with the canonical form number {i * 3}."
    for i in range(40)
)


def _user(i: int) -> list[dict[str, str]]:
    # Asks for a long answer so every request decodes its full token budget.
    return [{"role": "user", "content": f"Count from {i} upwards, numbers separated by commas."}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="local:qwen2.5-coder-0.5b")
    args = ap.parse_args()
    console = Console()
    rest = args.model.removeprefix("local:")

    t = time.perf_counter()
    model: LocalChatModel = local_model(rest)
    weights_s = time.perf_counter() - t
    server = model.server
    server.start()
    rows: list[tuple[str, str]] = [
        (
            "machine load average (1 min) at start",
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        ),
        ("weights ready (join/verify or marker check)", f"{weights_s:.2f} s"),
        ("server load", f"{server.load_seconds:.2f} s"),
        ("slots x ctx per slot", f"{server.options.slots} x {server.options.ctx_per_slot}"),
        ("threads", str(server.options.threads)),
    ]

    # Prompt speed: a long fresh prompt, one output token.
    long = [{"role": "system", "content": PREFIX}, {"role": "user", "content": "Say OK."}]
    p = probe(server, long, max_tokens=1)
    rows.append(("prompt tok/s", f"{p.prompt_per_second:.1f}  ({p.prompt_tokens} tokens)"))

    # Generation speed: short prompt, 96 tokens out.
    g = probe(server, _user(1), max_tokens=96)
    rows.append(
        ("generation tok/s", f"{g.generation_per_second:.1f}  ({g.completion_tokens} tokens)")
    )

    # Shared prefix: same system text, a different question; the prefix comes from the cache.
    again = [{"role": "system", "content": PREFIX}, {"role": "user", "content": "Say yes."}]
    s = probe(server, again, max_tokens=1)
    rows.append(
        (
            "shared prefix (same ~900-token system, new question)",
            f"{p.seconds:.2f} s → {s.seconds:.2f} s  (x{p.seconds / max(s.seconds, 1e-6):.1f}, "
            f"{s.cached_tokens} tokens reused)",
        )
    )

    # Overhead of HTTP through the openai SDK against the in-process call, same request.
    wrapped = get_model(args.model)
    msgs = [{"role": "user", "content": "Reply with the word ok."}]
    wrapped.complete(msgs, max_tokens=4)  # both paths now hit the prefix cache
    http = min(_timed(lambda: wrapped.complete(msgs, max_tokens=4)) for _ in range(3))
    inproc = min(_timed(lambda: probe(server, msgs, max_tokens=4)) for _ in range(3))
    rows.append(("request: HTTP (openai SDK) vs in-process", f"{http:.3f} s vs {inproc:.3f} s"))

    # Throughput: N concurrent requests through the full stack (the limiter allows `slots`).
    for n in (1, 2, 4):
        prompts = [_user(100 + 10 * n + i) for i in range(n)]
        start = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            replies = list(pool.map(lambda m: wrapped.complete(m, max_tokens=48), prompts))
        wall = time.perf_counter() - start
        tokens = sum(r.usage.completion_tokens for r in replies)
        rows.append(
            (
                f"throughput, {n} concurrent",
                f"{tokens / wall:.1f} gen tok/s  ({tokens} tokens, {wall:.1f} s)",
            )
        )

    table = Table(title=f"{args.model} on this machine")
    table.add_column("measure")
    table.add_column("value")
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
