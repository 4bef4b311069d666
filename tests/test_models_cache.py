"""The response cache: hits cost no call, the key covers every input, it persists and it is
safe under concurrent threads and processes."""

from __future__ import annotations

import contextlib
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, field_validator
from waits import HANG_S

from skillfit.models import Ledger, Reply, ResponseCache, ScriptedModel, Usage, wrap
from skillfit.models.cache import cache_key
from skillfit.models.scripted import Request

MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}]
# What `complete` asks with by default, as the cache key takes it.
SETTINGS: dict[str, Any] = {"max_tokens": 512, "temperature": 0.0, "response_format": None}


def _counting_model() -> ScriptedModel:
    return ScriptedModel(lambda r: f"answer to {r.last_user} #{r.sample}", name="scripted:count")


def test_hit_returns_cached_reply_without_a_call(tmp_path: Path) -> None:
    inner = _counting_model()
    model = wrap(inner, role="t", cache=ResponseCache(tmp_path / "c.sqlite"), ledger=None)
    first = model.complete(MSGS, max_tokens=20)
    second = model.complete(MSGS, max_tokens=20)
    assert len(inner.calls) == 1
    assert not first.cached and second.cached
    assert second.text == first.text
    assert second.usage == first.usage


def test_key_is_sensitive_to_every_input(tmp_path: Path) -> None:
    class Out(BaseModel):
        x: str

    inner = ScriptedModel(lambda r: {"x": "v"} if r.response_format else "v", name="scripted:k")
    model = wrap(inner, cache=ResponseCache(tmp_path / "c.sqlite"))
    variants: list[dict[str, Any]] = [
        {},
        {"max_tokens": 21},
        {"temperature": 0.7},
        {"sample": 1},
        {"response_format": Out},
        {"response_format": {"type": "object", "properties": {"x": {"type": "string"}}}},
    ]
    for kwargs in variants:
        model.complete(MSGS, **kwargs)
    model.complete([{"role": "user", "content": "2+2?"}])  # different messages
    assert len(inner.calls) == len(variants) + 1
    for kwargs in variants:  # and each is now a hit
        assert model.complete(MSGS, **kwargs).cached
    assert len(inner.calls) == len(variants) + 1


def test_key_includes_the_model_name(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    a = ScriptedModel(lambda r: "from a", name="scripted:a")
    b = ScriptedModel(lambda r: "from b", name="scripted:b")
    assert wrap(a, cache=cache).complete(MSGS).text == "from a"
    assert wrap(b, cache=cache).complete(MSGS).text == "from b"


def test_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    wrap(_counting_model(), cache=ResponseCache(path)).complete(MSGS)
    inner = _counting_model()
    reply = wrap(inner, cache=ResponseCache(path)).complete(MSGS)
    assert reply.cached and inner.calls == []


def test_cached_structured_reply_is_parsed_again(tmp_path: Path) -> None:
    class Verdict(BaseModel):
        ok: bool

    inner = ScriptedModel(lambda r: Verdict(ok=True), name="scripted:v")
    model = wrap(inner, cache=ResponseCache(tmp_path / "c.sqlite"))
    model.complete(MSGS, response_format=Verdict)
    hit = model.complete(MSGS, response_format=Verdict)
    assert hit.cached and hit.parsed == Verdict(ok=True)


def test_hits_are_counted_in_the_ledger(tmp_path: Path) -> None:
    ledger = Ledger()
    model = wrap(
        _counting_model(), role="target", cache=ResponseCache(tmp_path / "c"), ledger=ledger
    )
    for _ in range(3):
        model.complete(MSGS)
    snap = ledger.snapshot()["target"]
    assert snap["calls"] == 1 and snap["cache_hits"] == 2


def test_concurrent_threads(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    inner = _counting_model()
    model = wrap(inner, cache=cache)

    def ask(i: int) -> str:
        return model.complete([{"role": "user", "content": f"q{i % 25}"}]).text

    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(ask, range(200)))
    assert len(cache) == 25
    assert texts[:25] == [f"answer to q{i} #0" for i in range(25)]
    assert all(model.complete([{"role": "user", "content": f"q{i}"}]).cached for i in range(25))


def _write_many(path: str, worker: int) -> None:
    model = wrap(
        ScriptedModel(lambda r: r.last_user.upper(), name="scripted:p"), cache=ResponseCache(path)
    )
    for i in range(40):
        model.complete([{"role": "user", "content": f"w{worker}-{i}"}])


def test_concurrent_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    ResponseCache(path)  # create the table before the writers race
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(HANG_S)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(ResponseCache(path)) == 120


def test_failures_are_not_cached(tmp_path: Path) -> None:
    calls: list[Request] = []

    def fn(r: Request) -> str:
        calls.append(r)
        if len(calls) == 1:
            raise RuntimeError("transport broke")
        return "fine"

    model = wrap(ScriptedModel(fn, name="scripted:f"), cache=ResponseCache(tmp_path / "c"))
    with contextlib.suppress(RuntimeError):
        model.complete(MSGS)
    assert model.complete(MSGS).text == "fine"
    assert model.complete(MSGS).text != "" and model.complete(MSGS).cached


def test_default_path_is_in_the_cache_dir(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("SKILLFIT_CACHE_DIR", str(tmp_path))
    assert ResponseCache().path.parent == tmp_path


def _answer_class(*, reject_negative: bool) -> type[BaseModel]:
    # Two classes with the same name and JSON schema; only their validators differ.
    class Answer(BaseModel):
        n: int

        @field_validator("n")
        @classmethod
        def _check(cls, v: int) -> int:
            if reject_negative and v < 0:
                raise ValueError("negative")
            return v

    return Answer


def test_cached_reply_that_no_longer_validates_is_asked_again(tmp_path: Path) -> None:
    loose, strict = _answer_class(reject_negative=False), _answer_class(reject_negative=True)
    assert loose.model_json_schema() == strict.model_json_schema()
    path = tmp_path / "c.sqlite"
    first = wrap(ScriptedModel(lambda r: {"n": -1}, name="scripted:s"), cache=ResponseCache(path))
    first.complete(MSGS, response_format=loose)
    inner = ScriptedModel(lambda r: {"n": 2}, name="scripted:s")
    reply = wrap(inner, cache=ResponseCache(path)).complete(MSGS, response_format=strict)
    assert reply.parsed.n == 2 and not reply.cached and len(inner.calls) == 1


def test_replies_of_another_decoding_mode_are_not_served(tmp_path: Path) -> None:
    class Decoded(ScriptedModel):
        cache_namespace: str | None = None

    cache = ResponseCache(tmp_path / "c.sqlite")
    batched = Decoded(lambda r: "made under load", name="local:m")
    wrap(batched, cache=cache).complete(MSGS, max_tokens=20)
    exact = Decoded(lambda r: "made alone", name="local:m")
    exact.cache_namespace = "decoding=exact"
    model = wrap(exact, cache=cache, ledger=Ledger())
    assert model.complete(MSGS, max_tokens=20).text == "made alone"
    assert model.complete(MSGS, max_tokens=20).cached  # and its own replies are served again
    assert len(exact.calls) == 1


class _PromptCached:
    """A model whose replies report provider prompt-cache reads and writes."""

    name = "anthropic:fixed"

    def __init__(self, usage: Usage) -> None:
        self.usage = usage
        self.calls = 0

    def complete(self, messages: Any, **kwargs: Any) -> Reply:
        self.calls += 1
        return Reply(text="answer", usage=self.usage, model=self.name)


def test_prompt_cache_counts_survive_the_response_cache(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    written = Usage(prompt_tokens=900, completion_tokens=5, cached_tokens=0, cache_write_tokens=800)
    inner = _PromptCached(written)
    wrap(inner, cache=cache).complete(MSGS)
    hit = wrap(_PromptCached(written), cache=cache).complete(MSGS)
    assert hit.cached and hit.usage == written
    # A reply with no write keeps the record a version without the field reads.
    wrap(_PromptCached(Usage(9, 5, 4)), cache=cache).complete(MSGS, sample=1)
    record = cache.get(cache_key("anthropic:fixed", MSGS, **SETTINGS, sample=1))
    assert record is not None and set(record["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
    }


def test_records_of_other_versions_are_served(tmp_path: Path) -> None:
    """A reply stored before cache writes were counted has none; a usage key this version does
    not know (stored by a later one) is left out."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    older = {"prompt_tokens": 9, "completion_tokens": 5, "cached_tokens": 4}
    later = {**older, "cache_write_tokens": 3, "some_new_count": 7}
    for sample, usage in ((0, older), (1, later)):
        key = cache_key("anthropic:fixed", MSGS, **SETTINGS, sample=sample)
        cache.put(
            key,
            "anthropic:fixed",
            {"text": "old", "usage": usage, "latency": 0.1, "model": "m", "finish_reason": "stop"},
        )
    inner = _PromptCached(Usage())
    model = wrap(inner, cache=cache)
    assert model.complete(MSGS).usage == Usage(9, 5, 4, 0)
    assert model.complete(MSGS, sample=1).usage == Usage(9, 5, 4, 3)
    assert inner.calls == 0
