"""The ledger: per-role calls, hits, tokens, time and cost, correct under threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from skillfit.models import InfraError, Ledger, Price, Reply, ScriptedModel, Usage, wrap
from skillfit.models.retry import RetryPolicy, TransientError


def test_records_tokens_per_role() -> None:
    ledger = Ledger()
    target = wrap(
        ScriptedModel(lambda r: "abcdefgh", name="scripted:t"), role="target", ledger=ledger
    )
    optimizer = wrap(
        ScriptedModel(lambda r: "x" * 40, name="scripted:o"), role="optimizer", ledger=ledger
    )
    target.complete([{"role": "user", "content": "a" * 40}])
    target.complete([{"role": "user", "content": "a" * 40}])
    optimizer.complete([{"role": "user", "content": "b" * 80}])
    snap = ledger.snapshot()
    assert snap["target"]["calls"] == 2
    assert snap["target"]["prompt_tokens"] == 20 and snap["target"]["completion_tokens"] == 4
    assert snap["optimizer"]["calls"] == 1 and snap["optimizer"]["completion_tokens"] == 10
    assert snap["target"]["seconds"] >= 0 and snap["target"]["cost"] == 0.0
    assert ledger.totals()["calls"] == 3


def test_cost_from_price_table() -> None:
    ledger = Ledger(prices={"gpt-x": Price(input=2.0, output=8.0, cached_input=0.5)})
    reply = Reply(
        text="",
        usage=Usage(prompt_tokens=1_000_000, completion_tokens=500_000, cached_tokens=200_000),
    )
    ledger.record("opt", "openai:gpt-x", reply)
    # 800k fresh * $2 + 200k cached * $0.5 + 500k out * $8
    assert ledger.snapshot()["opt"]["cost"] == pytest.approx(1.6 + 0.1 + 4.0)
    ledger.record("opt", "openai:unknown", reply)
    assert ledger.snapshot()["opt"]["cost"] == pytest.approx(5.7)


def test_errors_are_counted_apart_from_calls() -> None:
    ledger = Ledger()

    def fail(r: object) -> str:
        raise TransientError("503")

    model = wrap(
        ScriptedModel(fail, name="scripted:down"),
        role="target",
        ledger=ledger,
        policy=RetryPolicy(attempts=2, base_delay=0),
    )
    with pytest.raises(InfraError):
        model.complete([{"role": "user", "content": "x"}])
    snap = ledger.snapshot()["target"]
    assert snap["errors"] == 1 and snap["calls"] == 0


def test_thread_safe_counts() -> None:
    ledger = Ledger()
    reply = Reply(text="", usage=Usage(prompt_tokens=3, completion_tokens=2, cached_tokens=1))

    def work(i: int) -> None:
        ledger.record(f"r{i % 2}", "m", reply, seconds=0.01)
        ledger.record_hit(f"r{i % 2}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(1000)))
    snap = ledger.snapshot()
    assert snap["r0"]["calls"] == 500 and snap["r1"]["cache_hits"] == 500
    assert ledger.totals()["prompt_tokens"] == 3000
    assert ledger.totals()["cached_tokens"] == 1000


def test_snapshot_is_a_copy() -> None:
    ledger = Ledger()
    ledger.record_hit("a")
    snap = ledger.snapshot()
    snap["a"]["cache_hits"] = 99
    assert ledger.snapshot()["a"]["cache_hits"] == 1


def test_prices_from_plain_config_values() -> None:
    ledger = Ledger(prices={"a": {"input": 1.0, "output": 2.0}, "b": (3.0, 4.0)})
    assert ledger.prices["a"] == Price(1.0, 2.0) and ledger.prices["b"] == Price(3.0, 4.0)
