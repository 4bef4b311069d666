"""One embedded server per model file per process, started once even under concurrent first
calls (the native server is replaced by a fake: no model is loaded)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import xllamacpp

from skillfit.models.local import server as server_mod
from skillfit.models.local.provider import LocalChatModel


class FakeNativeServer:
    started = 0
    lock = threading.Lock()

    def __init__(self, params: Any) -> None:
        time.sleep(0.1)  # loading takes a while: concurrent first calls overlap here
        with FakeNativeServer.lock:
            FakeNativeServer.started += 1
        self.params = params
        self.listening_address = "http://127.0.0.1:5555"


@pytest.fixture()
def fake_native(monkeypatch: pytest.MonkeyPatch) -> type[FakeNativeServer]:
    monkeypatch.setenv("SKILLFIT_LOCAL_LOG", "stderr")  # leave pytest's file descriptors alone
    monkeypatch.setattr(xllamacpp, "Server", FakeNativeServer)
    monkeypatch.setattr(server_mod, "_servers", {})
    FakeNativeServer.started = 0
    return FakeNativeServer


def test_one_server_per_file_started_once(
    fake_native: type[FakeNativeServer], tmp_path: Path
) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    models = [LocalChatModel(f"local:role{i}", server_mod.shared_server(path)) for i in range(6)]
    urls: list[str] = []
    threads = [threading.Thread(target=lambda m=m: urls.append(m.base_url)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake_native.started == 1
    assert urls == ["http://127.0.0.1:5555"] * 6
    assert models[0].openai_base_url == "http://127.0.0.1:5555/v1"
    assert len({id(m.server) for m in models}) == 1


def test_server_parameters(fake_native: type[FakeNativeServer], tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    options = server_mod.ServerOptions(decoding="batched", slots=3, ctx_per_slot=2048, threads=2)
    srv = server_mod.shared_server(path, options)
    srv.start()
    params = srv._server.params
    assert list(params.hostnames) == ["127.0.0.1"] and params.port == 0
    assert params.n_parallel == 3 and params.n_ctx == 3 * 2048
    assert params.cache_prompt and not params.warmup


def test_exact_prefix_decoding_is_the_default_one_slot_without_the_prompt_cache(
    fake_native: type[FakeNativeServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SKILLFIT_LOCAL_DECODING", "SKILLFIT_LOCAL_SLOTS", "SKILLFIT_LOCAL_UBATCH"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    srv = server_mod.shared_server(path)
    srv.start()
    params = srv._server.params
    assert srv.options.exact and srv.options.aligned_prefix and params.n_parallel == 1
    assert LocalChatModel("local:x", srv).cache_namespace == "decoding=exact-prefix-u64"


def test_exact_decoding_reads_every_prompt_whole_under_the_former_keys(
    fake_native: type[FakeNativeServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKILLFIT_LOCAL_DECODING", "exact")
    monkeypatch.delenv("SKILLFIT_LOCAL_SLOTS", raising=False)
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    srv = server_mod.shared_server(path)
    srv.start()
    params = srv._server.params
    assert srv.options.exact and not srv.options.aligned_prefix and params.n_parallel == 1
    # Every prompt is read whole: a cached prefix is computed in other chunks than a fresh one.
    assert not params.cache_prompt and params.cache_ram_mib == 0
    assert LocalChatModel("local:x", srv).cache_namespace == "decoding=exact"


def test_batched_decoding_keeps_the_fast_paths_and_the_old_cache_keys(
    fake_native: type[FakeNativeServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKILLFIT_LOCAL_DECODING", "batched")
    monkeypatch.delenv("SKILLFIT_LOCAL_SLOTS", raising=False)
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    srv = server_mod.shared_server(path)
    srv.start()
    params = srv._server.params
    assert not srv.options.exact and params.n_parallel == 2 and params.cache_prompt
    assert LocalChatModel("local:x", srv).cache_namespace is None


def test_exact_decoding_with_several_slots_is_not_called_exact(
    fake_native: type[FakeNativeServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKILLFIT_LOCAL_DECODING", raising=False)
    monkeypatch.setenv("SKILLFIT_LOCAL_SLOTS", "2")
    options = server_mod.ServerOptions()
    assert options.slots == 2 and not options.exact


def test_unknown_decoding_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLFIT_LOCAL_DECODING", "fastest")
    with pytest.raises(server_mod.DecodingError, match="SKILLFIT_LOCAL_DECODING='fastest'"):
        server_mod.ServerOptions()
