"""`local:<name>` and `local:/path/model.gguf` as ChatModels talking to the shared server."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openai

from skillfit.models.base import Message, ModelSpecError, Reply, ResponseFormat
from skillfit.models.local.catalog import CATALOG, DEFAULT_LOCAL
from skillfit.models.local.server import LocalServer, ServerOptions, shared_server
from skillfit.models.local.weights import check_gguf, ensure_weights
from skillfit.models.openai_compat import OpenAIChatModel

# Generous: a 2-core CPU shared with other work may decode at a few tokens per second.
BASE_TIMEOUT = 120.0
SECONDS_PER_TOKEN = 0.5


class LocalChatModel:
    """A ChatModel on the embedded server. The server starts on the first call (or on the first
    read of `base_url`), and is shared with every other LocalChatModel of the same file."""

    def __init__(self, name: str, server: LocalServer) -> None:
        self._name = name
        self.server = server
        self._client: OpenAIChatModel | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def base_url(self) -> str:
        """Loopback root URL of the server (answers /v1/chat/completions, /v1/messages,
        /v1/responses) for external agent CLIs."""
        return self.server.base_url

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def slots(self) -> int:
        return self.server.options.slots

    @property
    def cache_namespace(self) -> str | None:
        """Exact replies are cached apart from those of batched decoding, whose replies depended
        on the server's load when they were made, and each exact mode apart from the other."""
        return self.server.options.cache_namespace

    def _provider(self) -> OpenAIChatModel:
        with self._lock:
            if self._client is None:
                client = openai.OpenAI(
                    api_key="local",  # the loopback server checks no key
                    base_url=self.openai_base_url,
                    max_retries=0,
                )
                self._client = OpenAIChatModel(
                    self._name,
                    "local",
                    client,
                    timeout=BASE_TIMEOUT,
                    timeout_per_token=SECONDS_PER_TOKEN,
                    strict_schema=False,  # llama.cpp compiles any JSON schema into a grammar
                    always_seed=True,
                )
            return self._client

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        response_format: ResponseFormat | None = None,
        sample: int = 0,
    ) -> Reply:
        provider = self._provider()
        prefix = self.server.aligned_prefix()
        if prefix is None:
            return provider.complete(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                response_format=response_format,
                sample=sample,
            )
        start = time.perf_counter()
        body = provider.request_body(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            response_format=response_format,
            sample=sample,
        )

        def chat(extra: Mapping[str, Any]) -> tuple[Reply, int | None]:
            reply, completion = provider.send(
                body,
                max_tokens=max_tokens,
                response_format=response_format,
                start=start,
                extra_body=dict(extra),
            )
            return reply, _reused_tokens(completion)

        return prefix.complete(body, chat)


def _reused_tokens(completion: Any) -> int | None:
    """How many prompt tokens llama.cpp reused from the slot (`timings.cache_n` of its reply),
    or None when the reply does not say."""
    timings = (getattr(completion, "model_extra", None) or {}).get("timings")
    if isinstance(timings, Mapping) and isinstance(timings.get("cache_n"), int):
        return int(timings["cache_n"])
    return None


def resolve_local(rest: str) -> Path:
    """The GGUF path for the part of a spec after `local:` (joining pinned weights if needed)."""
    name = rest or DEFAULT_LOCAL
    if name in CATALOG:
        return ensure_weights(CATALOG[name])
    if name.endswith(".gguf") or "/" in name or name.startswith("~"):
        return check_gguf(Path(name).expanduser())
    raise ModelSpecError(
        f"unknown local model {name!r}; named local models: {', '.join(CATALOG)}; "
        "or give a file: local:/path/to/model.gguf"
    )


def local_model(rest: str, options: ServerOptions | None = None) -> LocalChatModel:
    """Build `local:<rest>`; raises WeightsError/ModelSpecError before any server starts."""
    path = resolve_local(rest)
    name = f"local:{rest or DEFAULT_LOCAL}"
    return LocalChatModel(name, shared_server(path, options))
