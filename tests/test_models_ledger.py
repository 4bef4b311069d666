"""The ledger: per-role calls, hits, tokens, time and cost, correct under threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def test_anthropic_cache_reads_and_writes_priced_by_default() -> None:
    """Anthropic bills a cache read at a tenth of the input price and a 5-minute cache write at
    1.25 times it; prices given in the table win."""
    usage = Usage(
        prompt_tokens=1_000_000,
        completion_tokens=100_000,
        cached_tokens=600_000,
        cache_write_tokens=300_000,
    )
    reply = Reply(text="", usage=usage)
    # 100k fresh * $3 + 600k read * $0.30 + 300k written * $3.75 + 100k out * $15
    default = 0.3 + 0.18 + 1.125 + 1.5
    ledger = Ledger(prices={"claude-x": Price(input=3.0, output=15.0)})
    assert ledger.cost_of("anthropic:claude-x", reply) == pytest.approx(default)
    given = Ledger(prices={"claude-x": Price(3.0, 15.0, cached_input=1.0, cache_write=6.0)})
    assert given.cost_of("anthropic:claude-x", reply) == pytest.approx(0.3 + 0.6 + 1.8 + 1.5)
    assert Ledger(prices={"claude-x": (3.0, 15.0, 1.0, 6.0)}).prices["claude-x"] == Price(
        3.0, 15.0, 1.0, 6.0
    )
    assert Ledger(prices={"claude-x": {"input": 3.0, "output": 15.0, "cache_write": 6.0}}).prices[
        "claude-x"
    ] == Price(3.0, 15.0, None, 6.0)


def test_openai_cached_tokens_keep_their_price() -> None:
    """OpenAI-style APIs report reads only (no writes): an unset read price is the input price."""
    reply = Reply(text="", usage=Usage(prompt_tokens=1000, completion_tokens=0, cached_tokens=400))
    ledger = Ledger(prices={"gpt-x": Price(input=2.0, output=8.0)})
    assert ledger.cost_of("openai:gpt-x", reply) == pytest.approx(1000 * 2.0 / 1e6)


def test_journal_carries_cache_writes_and_reads_older_lines(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    # A line journaled before cache writes were counted has no "cw".
    path.write_text('{"r":"target","k":"k0","p":10,"c":2,"ct":4,"s":0.1,"$":0.5}\n')
    ledger = Ledger()
    ledger.attach(path)
    ledger.record("target", "anthropic:x", Reply("x", Usage(2000, 5, 0, 1500)), 0.1, key="k1")
    ledger.close()
    again = Ledger()
    again.attach(path)
    stats = again.snapshot()["target"]
    assert (stats["calls"], stats["prompt_tokens"], stats["cached_tokens"]) == (2, 2010, 4)
    assert stats["cache_write_tokens"] == 1500 and stats["cost"] == pytest.approx(0.5)
    again.close()


def test_a_run_record_made_before_cache_writes_loads() -> None:
    from skillfit.record import RoleUsage

    old = {"calls": 1, "prompt_tokens": 10, "cached_tokens": 4, "completion_tokens": 2}
    assert RoleUsage.model_validate(old).cache_write_tokens == 0
