"""exact-prefix decoding (SKILLFIT_LOCAL_DECODING=exact-prefix): each skill's ubatch-aligned
prefix is read and saved once, restored before every request, and checked in the reply; a reply
that reused another count is read again whole. The native server is replaced by a loopback fake
of llama.cpp's HTTP API (one character = one token; no model is loaded)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import xllamacpp
from models_fakes import chat_completion, fake_server

from skillfit.models.local import server as server_mod
from skillfit.models.local.prefix import AlignedPrefix
from skillfit.models.local.provider import LocalChatModel


def template(messages: list[dict[str, Any]]) -> str:
    return "".join(f"<{m['role']}>{m['content']}</>" for m in messages) + "<assistant>"


def tokenize(text: str) -> list[int]:
    return [ord(c) for c in text]


def shared(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


class FakeLlama:
    """llama.cpp's server on one slot: the routes exact-prefix decoding uses, the prompt cache
    off unless a request asks for it, slot files at `slot_save_path` + file name (llama.cpp
    joins the two as strings: without a trailing separator the files land beside the folder)."""

    def __init__(self, slot_save_path: str) -> None:
        self.save_path = slot_save_path
        self.slot: list[int] = []
        self.lock = threading.Lock()
        self.chats: list[dict[str, Any]] = []  # chat requests with the tokens they reused
        self.interfere = False  # another client reads a prompt on the slot before the next chat

    def __call__(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            return self.route(path, body)

    def read(self, tokens: list[int], cache: bool) -> int:
        reused = shared(self.slot, tokens) if cache else 0
        self.slot = list(tokens)
        return reused

    def route(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/apply-template":
            return 200, {"prompt": template(body["messages"])}
        if path == "/tokenize":
            assert body == {"content": body["content"], "add_special": True, "parse_special": True}
            return 200, {"tokens": tokenize(body["content"])}
        if path == "/completion":
            reused = self.read(body["prompt"], body.get("cache_prompt", False))
            return 200, {"content": "", "timings": {"cache_n": reused}}
        if path.startswith("/slots/0?action="):
            action = path.split("=", 1)[1]
            assert self.save_path, "slot files need slot_save_path"
            if action == "erase":
                self.slot = []
                return 200, {"id_slot": 0, "n_erased": 0}
            if action == "save":
                Path(self.save_path + body["filename"]).write_text(json.dumps(self.slot))
                return 200, {"id_slot": 0, "n_saved": len(self.slot)}
            if action == "restore":
                self.slot = json.loads(Path(self.save_path + body["filename"]).read_text())
                return 200, {"id_slot": 0, "n_restored": len(self.slot)}
        if path == "/v1/chat/completions":
            if self.interfere:
                self.interfere = False
                self.slot = tokenize("<system>another client's prompt</>")
            tokens = tokenize(template(body["messages"]))
            reused = self.read(tokens, body.get("cache_prompt", False))
            self.chats.append({**body, "reused": reused})
            reply = chat_completion(f"re: {body['messages'][-1]['content']}", prompt=len(tokens))
            return 200, {**reply, "timings": {"cache_n": reused, "prompt_n": len(tokens) - reused}}
        return 404, {"error": path}


class FakeNative:
    """xllamacpp.Server: serves a FakeLlama on loopback for as long as the test runs."""

    made: list[FakeNative] = []

    def __init__(self, params: Any) -> None:
        self.params = params
        self.llama = FakeLlama(params.slot_save_path)
        self._serving = fake_server(self.llama)
        self.listening_address, self.received = self._serving.__enter__()
        FakeNative.made.append(self)


@pytest.fixture()
def native(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeNative]]:
    monkeypatch.setenv("SKILLFIT_LOCAL_LOG", "stderr")  # leave pytest's file descriptors alone
    monkeypatch.setattr(xllamacpp, "Server", FakeNative)
    FakeNative.made = []
    yield FakeNative
    for fake in FakeNative.made:
        fake._serving.__exit__(None, None, None)


def model(tmp_path: Path, options: server_mod.ServerOptions) -> LocalChatModel:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    return LocalChatModel("local:x", server_mod.LocalServer(path, options))


SKILL_A = "Answer yes or no. " * 3  # with "<system>" and "</><": 66 tokens, 64 at ubatch 16
P_A = 64
SKILL_B = "Think, then answer with one word, the last line only. "


def ask(m: LocalChatModel, skill: str, question: str) -> str:
    messages = [{"role": "system", "content": skill}, {"role": "user", "content": question}]
    return m.complete(messages, max_tokens=8).text  # type: ignore[arg-type]


def paths(fake: FakeNative) -> list[str]:
    return [r["path"] for r in fake.received]


def test_each_skill_is_saved_once_and_restored_before_every_request(
    native: type[FakeNative], tmp_path: Path
) -> None:
    options = server_mod.ServerOptions(decoding="exact-prefix", slots=1, ubatch=16)
    m = model(tmp_path, options)
    order = [(SKILL_A, "q1"), (SKILL_B, "q2"), (SKILL_A, "q3"), (SKILL_B, "q4"), (SKILL_A, "q5")]
    assert [ask(m, s, q) for s, q in order] == [f"re: {q}" for _, q in order]
    fake = native.made[0]
    params = fake.params
    assert params.n_parallel == 1 and params.n_ubatch == 16 and params.n_batch % 16 == 0
    assert not params.cache_prompt and params.cache_ram_mib == 0 and params.n_cache_reuse == 0
    assert params.n_ctx_checkpoints == 0 and not params.cache_idle_slots

    saves = [r for r in fake.received if r["path"] == "/slots/0?action=save"]
    assert len(saves) == 2  # one per skill, however often it is used
    for chat in fake.llama.chats:
        system = template(chat["messages"][:1])
        boundary = shared(tokenize(system), tokenize(template(chat["messages"])))
        assert chat["cache_prompt"] and chat["id_slot"] == 0
        assert chat["reused"] == boundary // 16 * 16 > 0  # the aligned prefix, all of it
    # Every chat request comes right after the restore of its skill's file.
    seen = paths(fake)
    for i, path in enumerate(seen):
        if path == "/v1/chat/completions":
            assert seen[i - 1] == "/slots/0?action=restore"
    stats = m.server.prefix.stats if m.server.prefix else None
    assert stats is not None and (stats.saved, stats.reused, stats.fallbacks) == (2, 5, 0)
    assert m.cache_namespace == "decoding=exact-prefix-u16"

    slots_dir = Path(params.slot_save_path)
    assert sorted(p.name for p in slots_dir.iterdir()) == sorted(s["filename"] for s in saves)
    assert not list(slots_dir.parent.glob(slots_dir.name + "?*"))  # nothing beside the folder
    m.server.close()
    assert not slots_dir.exists()


def test_a_reply_that_reused_another_count_is_read_again_whole(
    native: type[FakeNative], tmp_path: Path
) -> None:
    m = model(tmp_path, server_mod.ServerOptions(decoding="exact-prefix", slots=1, ubatch=16))
    ask(m, SKILL_A, "q1")
    fake = native.made[0]
    fake.llama.interfere = True  # between the restore and the request
    assert ask(m, SKILL_A, "q2") == "re: q2"
    last_two = fake.llama.chats[-2:]
    assert [c["cache_prompt"] for c in last_two] == [True, False]
    assert last_two[0]["reused"] not in (0, P_A) and last_two[1]["reused"] == 0
    assert paths(fake)[-2] == "/slots/0?action=erase"
    assert m.server.prefix is not None and m.server.prefix.stats.fallbacks == 1
    assert ask(m, SKILL_A, "q3") == "re: q3" and fake.llama.chats[-1]["reused"] == P_A


def test_without_an_aligned_prefix_the_prompt_is_read_whole(
    native: type[FakeNative], tmp_path: Path
) -> None:
    m = model(tmp_path, server_mod.ServerOptions(decoding="exact-prefix", slots=1, ubatch=64))
    ask(m, "Be brief.", "q1")  # a system part shorter than one ubatch
    m.complete([{"role": "user", "content": "no system message"}], max_tokens=8)
    fake = native.made[0]
    assert not any(p.startswith("/slots") or p == "/completion" for p in paths(fake))
    assert [c["cache_prompt"] for c in fake.llama.chats] == [False, False]
    assert m.server.prefix is not None and m.server.prefix.stats.whole == 2


def test_exact_decoding_sends_no_slot_or_tokenizer_calls(
    native: type[FakeNative], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SKILLFIT_LOCAL_SLOTS", "SKILLFIT_LOCAL_UBATCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKILLFIT_LOCAL_DECODING", "exact")
    m = model(tmp_path, server_mod.ServerOptions())
    for s, q in [(SKILL_A, "q1"), (SKILL_A, "q2")]:
        assert ask(m, s, q) == f"re: {q}"
    fake = native.made[0]
    assert paths(fake) == ["/v1/chat/completions"] * 2
    assert all("cache_prompt" not in c and "id_slot" not in c for c in fake.llama.chats)
    assert m.server.prefix is None and not fake.params.slot_save_path
    assert m.cache_namespace == "decoding=exact"


def test_exact_prefix_is_the_default_named_and_sized_by_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SKILLFIT_LOCAL_DECODING", raising=False)
    monkeypatch.delenv("SKILLFIT_LOCAL_SLOTS", raising=False)
    monkeypatch.delenv("SKILLFIT_LOCAL_UBATCH", raising=False)
    options = server_mod.ServerOptions()
    assert options.slots == 1 and options.exact and options.ubatch == 64
    assert options.cache_namespace == "decoding=exact-prefix-u64"
    monkeypatch.setenv("SKILLFIT_LOCAL_UBATCH", "96")
    options = server_mod.ServerOptions()
    assert options.n_batch % 96 == 0 and options.n_batch >= 512
    assert options.cache_namespace == "decoding=exact-prefix-u96"


def test_a_save_that_did_not_hold_the_prefix_reads_whole_and_old_files_are_dropped(
    tmp_path: Path,
) -> None:
    llama = FakeLlama(os.path.join(tmp_path, ""))
    calls: list[str] = []

    def post(path: str, body: Any) -> Any:
        calls.append(path)
        status, reply = llama(path, dict(body))
        if path.endswith("action=save") and short_save:
            reply["n_saved"] -= 1
        return reply

    def chat(extra: Any) -> tuple[str, int | None]:
        return ("whole" if not extra["cache_prompt"] else "restored"), P_A

    prefix = AlignedPrefix(post, 16, tmp_path, keep=2)
    body = {"messages": [{"role": "system", "content": SKILL_A}, {"role": "user", "content": "q"}]}
    short_save = True
    assert prefix.complete(body, chat) == "whole" and prefix.stats.fallbacks == 1
    assert list(tmp_path.iterdir()) == []
    short_save = False
    for i in range(3):
        skill = SKILL_A + "x" * 16 * i
        body = {
            "messages": [{"role": "system", "content": skill}, {"role": "user", "content": "q"}]
        }
        n = P_A + 16 * i
        assert len(prefix.prefix(body)) == n
        assert prefix.complete(body, lambda extra, n=n: ("restored", n)) == "restored"
    assert prefix.stats.saved == 3 and len(list(tmp_path.iterdir())) == 2  # keep=2


def test_concurrent_requests_each_reuse_their_own_skill(
    native: type[FakeNative], tmp_path: Path
) -> None:
    m = model(tmp_path, server_mod.ServerOptions(decoding="exact-prefix", slots=1, ubatch=16))
    jobs = [(SKILL_A if i % 2 else SKILL_B, f"q{i}") for i in range(8)]
    replies: dict[str, str] = {}

    def run(skill: str, question: str) -> None:
        replies[question] = ask(m, skill, question)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert replies == {q: f"re: {q}" for _, q in jobs}
    fake = native.made[0]
    assert [c["cache_prompt"] for c in fake.llama.chats] == [True] * 8  # no fallback
    for chat in fake.llama.chats:
        system = tokenize(template(chat["messages"][:1]))
        assert chat["reused"] == shared(system, tokenize(template(chat["messages"]))) // 16 * 16
