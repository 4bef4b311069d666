"""One in-process llama.cpp server per model file per process, started on first use.

The server listens on 127.0.0.1 only, on a free port, with `slots` parallel sequences of
`ctx_per_slot` tokens each. In batched decoding the prompt-prefix cache is on, so requests that
share a prefix (the skill comes first in every prompt) skip re-reading it.

Decoding is exact by default: a request's reply depends on the request alone, not on what else
the server was doing or did before. Two things break that on a CPU, measured with
`bench/determinism.py --probe`: requests sharing a batch (two slots: 3 of 8 replies as when sent
one by one), and a prompt whose prefix comes from the prompt cache, computed in other chunks
than the same prompt read whole (one slot: 7 of 8; turning off flash attention, repacked
weights and the host-memory prompt cache still left 11 of 12). So exact decoding is one slot
with llama.cpp's prompt cache off (8 of 8 in every order).

The default, `exact-prefix`, reads the skill once anyway: the server reads in ubatches of
`SKILLFIT_LOCAL_UBATCH` tokens (64), and each request's system prefix, cut to a multiple of
that, is saved to a slot file and restored before the request, so the rest falls into the
chunks of a whole read (`prefix.py`, `bench/prefix_reuse.md`: every probability equal to the
whole read's, about half its time). `SKILLFIT_LOCAL_DECODING=exact` reads every prompt whole at
llama.cpp's default ubatch (512; the default until this release; its replies differ in floats and
sometimes in a token, so each mode is cached apart); `batched` brings two slots and the prompt
cache back (fastest, not reproducible).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from skillfit.models.base import InfraError, ModelSpecError, WeightsError
from skillfit.models.local import logs
from skillfit.models.local.prefix import AlignedPrefix
from skillfit.models.retry import TransientError


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        return default


_LEVELS = {"error": 1, "warn": 2, "info": 3, "debug": 4}


def _log_level() -> int:
    return _LEVELS.get(os.environ.get("SKILLFIT_LOCAL_LOG_LEVEL", "info").strip().lower(), 3)


def gguf_header_problem(path: Path) -> str | None:
    """What is wrong with a GGUF file's fixed header (magic, version, tensor and metadata
    counts), or None. Asked only after the server failed to start: the native log that says
    why may have gone elsewhere (any code that owns file descriptor 2, such as a test runner's
    capture, takes it)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(24)
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read the file: {exc}"
    if len(head) < 24 or head[:4] != b"GGUF":
        return "not a GGUF file (no GGUF header)"
    version = int.from_bytes(head[4:8], "little")
    n_tensors = int.from_bytes(head[8:16], "little")
    n_kv = int.from_bytes(head[16:24], "little")
    if version not in (2, 3):
        return f"unsupported GGUF version {version}"
    if n_tensors > size or n_kv > size:
        return f"truncated or corrupt header ({n_tensors} tensors, {n_kv} metadata entries)"
    return None


DECODINGS = ("exact", "exact-prefix", "batched")
DEFAULT_DECODING = "exact-prefix"


class DecodingError(ModelSpecError):
    """SKILLFIT_LOCAL_DECODING names no decoding mode."""


def _decoding() -> str:
    value = os.environ.get("SKILLFIT_LOCAL_DECODING", "").strip().lower() or DEFAULT_DECODING
    if value not in DECODINGS:
        raise DecodingError(
            f"SKILLFIT_LOCAL_DECODING={value!r}: use exact-prefix (the default), exact or batched"
        )
    return value


def _slots() -> int:
    # Exact decoding runs one request at a time; batched decoding shares batches across slots.
    return max(1, _env_int("SKILLFIT_LOCAL_SLOTS", 2 if _decoding() == "batched" else 1))


@dataclass(frozen=True)
class ServerOptions:
    """Defaults come from SKILLFIT_LOCAL_DECODING (exact-prefix|exact|batched),
    SKILLFIT_LOCAL_SLOTS, SKILLFIT_LOCAL_CTX, SKILLFIT_LOCAL_THREADS, SKILLFIT_LOCAL_MAX_PREDICT,
    SKILLFIT_LOCAL_UBATCH (exact-prefix only) and SKILLFIT_LOCAL_LOG_LEVEL
    (error|warn|info|debug, of the server log file).

    Exact decoding (`exact`, `exact-prefix`) holds only with one slot: with more, requests
    share batches again."""

    decoding: str = field(default_factory=_decoding)
    slots: int = field(default_factory=_slots)
    ctx_per_slot: int = field(
        default_factory=lambda: max(512, _env_int("SKILLFIT_LOCAL_CTX", 4096))
    )
    threads: int = field(
        default_factory=lambda: max(1, _env_int("SKILLFIT_LOCAL_THREADS", os.cpu_count() or 2))
    )
    log_level: int = field(default_factory=_log_level)
    # The most tokens any reply may take: skillfit's requests ask for fewer; an agent CLI may
    # ask for none (or 32,000), and a small model stuck in a loop would decode for minutes.
    max_predict: int = field(
        default_factory=lambda: max(64, _env_int("SKILLFIT_LOCAL_MAX_PREDICT", 4096))
    )
    # exact-prefix: the server's ubatch (n_ubatch), the unit a saved prefix is cut to.
    ubatch: int = field(default_factory=lambda: max(1, _env_int("SKILLFIT_LOCAL_UBATCH", 64)))

    @property
    def n_ctx(self) -> int:
        return self.slots * self.ctx_per_slot  # llama.cpp splits n_ctx evenly across slots

    @property
    def exact(self) -> bool:
        """Whether a reply depends on its request alone (see the module docstring)."""
        return self.decoding in ("exact", "exact-prefix") and self.slots == 1

    @property
    def aligned_prefix(self) -> bool:
        """Whether requests restore a saved, ubatch-aligned system prefix (exact-prefix)."""
        return self.decoding == "exact-prefix" and self.slots == 1

    @property
    def n_batch(self) -> int:
        """exact-prefix: the logical batch, a multiple of the ubatch (at least 512 tokens), so
        every chunk of a read starts at a multiple of the ubatch."""
        return -(-512 // self.ubatch) * self.ubatch

    @property
    def cache_namespace(self) -> str | None:
        """Where replies are cached apart: each exact mode by itself (exact-prefix's replies
        are whole reads at its ubatch, whose floats differ from the default ubatch's)."""
        if not self.exact:
            return None
        if self.decoding == "exact-prefix":
            return f"decoding=exact-prefix-u{self.ubatch}"
        return "decoding=exact"


class LocalServer:
    """A lazily started xllamacpp server for one GGUF file. Thread-safe."""

    def __init__(self, model_path: Path, options: ServerOptions | None = None) -> None:
        self.model_path = model_path
        self.options = options or ServerOptions()
        self._lock = threading.Lock()
        self._server: Any = None
        self._slots_dir: Path | None = None
        self.prefix: AlignedPrefix | None = None  # exact-prefix decoding, once started
        self.load_seconds: float | None = None
        self.log_path: Path | None = None

    @property
    def started(self) -> bool:
        return self._server is not None

    def _params(self) -> Any:
        import xllamacpp  # imported late: loading the native library takes a moment

        p = xllamacpp.CommonParams()
        p.model.path = str(self.model_path)
        p.n_parallel = self.options.slots
        p.n_ctx = self.options.n_ctx
        p.cpuparams.n_threads = self.options.threads
        p.cpuparams_batch.n_threads = self.options.threads
        # Exact decoding reads every prompt whole: a prompt whose prefix came from the cache is
        # computed in other chunks than one read fresh, and the floats (then the tokens) differ.
        p.cache_prompt = self.options.decoding == "batched"
        if self.options.decoding != "batched":
            p.cache_ram_mib = 0  # no prompt states kept in host memory to restore either
        if self.options.aligned_prefix:
            # Nothing reuses a prefix of unaligned length: only the prefixes this server saves,
            # restores and checks (prefix.py) are reused, by requests that ask for the cache.
            p.cache_idle_slots = False
            p.n_ctx_checkpoints = 0
            p.n_cache_reuse = 0
            p.n_ubatch = self.options.ubatch
            p.n_batch = self.options.n_batch
            # llama.cpp joins this path and a file name as strings: without the separator its
            # slot files would land beside the folder, and nothing would ever remove them.
            p.slot_save_path = f"{self._slots_dir}{os.sep}"
        # skillfit's own requests always send a temperature; agent CLIs may send none, and
        # llama.cpp's default (0.8) would make their runs differ from one try to the next.
        p.sampling.temp = 0.0
        p.n_predict = self.options.max_predict
        p.warmup = False
        p.hostnames = ["127.0.0.1"]  # never reachable from another machine
        p.port = 0
        p.verbosity = self.options.log_level
        return p

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            import xllamacpp

            self.log_path = logs.route_native_log()
            offset = logs.size(self.log_path)
            if self.options.aligned_prefix and self._slots_dir is None:
                self._slots_dir = Path(tempfile.mkdtemp(prefix="skillfit-slots-"))
            params = self._params()
            begin = time.perf_counter()
            try:
                server = xllamacpp.Server(params)
            except Exception as exc:
                # Only this start's part of the log: earlier failures must not be blamed.
                log = logs.since(self.log_path, offset)
                where = f" (full log: {self.log_path})" if self.log_path else ""
                header = gguf_header_problem(Path(self.model_path))
                if header or "failed to load model" in log or "magic" in log:
                    raise WeightsError(
                        f"{self.model_path} could not be loaded as a GGUF model{where}:\n"
                        + (f"{header}\n" if header else "")
                        + logs.errors(log)
                    ) from exc
                raise InfraError(
                    f"the local model server did not start for {self.model_path}: {exc}{where}\n"
                    + logs.errors(log)
                ) from exc
            self.load_seconds = time.perf_counter() - begin
            self._server = server
            if self.options.aligned_prefix and self._slots_dir is not None:
                base = str(server.listening_address).rstrip("/")
                self.prefix = AlignedPrefix(
                    lambda path, body: _post(base, path, body), self.options.ubatch, self._slots_dir
                )

    def ensure_context(self, ctx_per_slot: int) -> None:
        """Give each slot at least `ctx_per_slot` tokens (agent CLIs send long prompts). Only
        before the server starts: a started server keeps its context, and saying so is an
        InfraError naming SKILLFIT_LOCAL_CTX."""
        with self._lock:
            if self.options.ctx_per_slot >= ctx_per_slot:
                return
            if self._server is not None:
                raise InfraError(
                    f"the local model server for {self.model_path.name} started with "
                    f"{self.options.ctx_per_slot} tokens per slot, fewer than {ctx_per_slot}: "
                    f"set SKILLFIT_LOCAL_CTX={ctx_per_slot}"
                )
            self.options = replace(self.options, ctx_per_slot=ctx_per_slot)

    @property
    def base_url(self) -> str:
        """The loopback root URL, e.g. http://127.0.0.1:40123 (starts the server if needed).
        OpenAI clients use `<base_url>/v1`; Anthropic clients use `<base_url>` itself."""
        self.start()
        return str(self._server.listening_address).rstrip("/")

    def handle_chat_completions(self, request: dict[str, Any]) -> Any:
        """In-process request without HTTP (no timeout is possible on this path)."""
        self.start()
        return self._server.handle_chat_completions(request)

    def aligned_prefix(self) -> AlignedPrefix | None:
        """exact-prefix decoding's per-request logic (starts the server), or None."""
        if not self.options.aligned_prefix:
            return None
        self.start()
        return self.prefix

    def close(self) -> None:
        with self._lock:
            self._server = None  # the native destructor stops the server threads
            self.prefix = None
            if self._slots_dir is not None:
                shutil.rmtree(self._slots_dir, ignore_errors=True)
                self._slots_dir = None


# Server-side calls of exact-prefix decoding (tokenize, slot files, a prefix read): a prefix
# read on a busy 2-core machine may take a while; the chat request has its own deadline.
SERVER_CALL_TIMEOUT = 600.0
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy from env


def _post(base: str, path: str, body: Mapping[str, Any]) -> Any:
    """POST JSON to the loopback server. A refusal (HTTP error) is an InfraError naming the
    path; a connection failure or timeout is transient."""
    request = urllib.request.Request(
        base + path,
        data=json.dumps(dict(body)).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with _LOOPBACK.open(request, timeout=SERVER_CALL_TIMEOUT) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise InfraError(f"local model server: {path}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TransientError(f"local model server: {path}: {exc}") from exc


_servers: dict[Path, LocalServer] = {}
_servers_lock = threading.Lock()


def shared_server(model_path: Path, options: ServerOptions | None = None) -> LocalServer:
    """The one LocalServer of this process for `model_path` (the first caller's options win)."""
    key = model_path.resolve()
    with _servers_lock:
        if key not in _servers:
            _servers[key] = LocalServer(key, options)
        return _servers[key]


def shared_servers() -> list[LocalServer]:
    """This process's shared servers (to read, e.g., exact-prefix decoding's `prefix.stats`)."""
    with _servers_lock:
        return list(_servers.values())


@atexit.register
def _close_all() -> None:
    # Stop servers before the interpreter tears down the modules their destructor needs.
    with _servers_lock:
        for server in _servers.values():
            server.close()
