"""Model strings → ChatModels. The one place that knows every provider.

local:qwen2.5-coder-0.5b (default) | local:qwen2.5-coder-1.5b | local:smollm2-135m
local:/path/to/model.gguf
openai:<model>[@<base_url>]    OpenAI, or any OpenAI-compatible server at base_url
azure:<deployment>             Azure OpenAI (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY,
                               OPENAI_API_VERSION)
anthropic:<model>[@<base_url>] Anthropic (ANTHROPIC_API_KEY; prompt caching of the system
                               prompt unless SKILLFIT_ANTHROPIC_PROMPT_CACHE=off)
scripted:echo | scripted:constant=<text> | scripted:/path/rules.json
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from skillfit.models.accounting import Ledger
from skillfit.models.base import ChatModel, ModelSpecError
from skillfit.models.cache import ReplyStore
from skillfit.models.credentials import optional_env, require_env
from skillfit.models.limits import limited_http_client
from skillfit.models.local.catalog import CATALOG, DEFAULT_LOCAL
from skillfit.models.redact import redact
from skillfit.models.retry import RetryPolicy, limiter
from skillfit.models.scripted import scripted_from_spec
from skillfit.models.stack import wrap

DEFAULT_MODEL = f"local:{DEFAULT_LOCAL}"

SPEC_FORMS = (
    f"local:<name> with <name> one of {', '.join(CATALOG)} (default {DEFAULT_MODEL})",
    "local:/path/to/model.gguf",
    "openai:<model>[@<base_url>]  (OpenAI or any OpenAI-compatible server; OPENAI_API_KEY)",
    "azure:<deployment>  (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION)",
    "anthropic:<model>  (ANTHROPIC_API_KEY)",
    "scripted:echo | scripted:constant=<text> | scripted:/path/rules.json  (tests)",
)

PROVIDERS = ("local", "openai", "azure", "anthropic", "scripted")


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str  # name, deployment, path or script, as written after the colon
    base_url: str | None = None

    @property
    def text(self) -> str:
        suffix = f"@{self.base_url}" if self.base_url else ""
        return f"{self.provider}:{self.model}{suffix}"

    @property
    def public(self) -> str:
        """`text` with any credential in the base URL masked: the model's name everywhere it
        is shown or stored (errors, the cache, the ledger). Only the client sees the URL."""
        return redact(self.text)


def _spec_error(spec: str, why: str) -> ModelSpecError:
    forms = "\n  ".join(SPEC_FORMS)
    return ModelSpecError(redact(f"{why} (model string {spec!r}). Valid forms:\n  {forms}"))


def parse_spec(spec: str) -> ModelSpec:
    """Split a model string into provider, model and optional base URL (no I/O)."""
    text = spec.strip()
    if text in ("", "local", "default"):
        return ModelSpec("local", DEFAULT_LOCAL)
    provider, colon, rest = text.partition(":")
    if not colon or provider not in PROVIDERS:
        hint = f"; did you mean local:{text}?" if text in CATALOG else ""
        raise _spec_error(spec, f"unknown model provider {provider!r}{hint}")
    if provider == "local":
        return ModelSpec("local", rest or DEFAULT_LOCAL)
    if provider == "scripted":
        return ModelSpec("scripted", rest)
    model, at, base_url = rest.partition("@")
    if not model:
        raise _spec_error(spec, f"{provider}: needs a model name")
    if at and provider == "azure":
        raise _spec_error(spec, "azure: takes its endpoint from AZURE_OPENAI_ENDPOINT, not @url")
    if at and not base_url.startswith(("http://", "https://")):
        raise _spec_error(spec, f"base URL {base_url!r} must start with http:// or https://")
    return ModelSpec(provider, model, base_url or None)


def _max_in_flight(default: int) -> int:
    value = os.environ.get("SKILLFIT_MAX_IN_FLIGHT", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


def _prompt_cache() -> bool:
    """SKILLFIT_ANTHROPIC_PROMPT_CACHE: `on` (the default) marks Anthropic system prompts for
    the API's prompt cache, `off` sends them plain."""
    value = (optional_env("SKILLFIT_ANTHROPIC_PROMPT_CACHE") or "on").lower()
    if value not in ("on", "off"):
        raise ModelSpecError(
            f"SKILLFIT_ANTHROPIC_PROMPT_CACHE={value!r}: use on (the default) or off"
        )
    return value == "on"


def _build(spec: ModelSpec) -> tuple[ChatModel, str | None, int]:
    """The bare provider, the key of its in-flight limiter and the limit."""
    if spec.provider == "scripted":
        return scripted_from_spec(spec.model), None, 0
    if spec.provider == "local":
        from skillfit.models.local.provider import local_model

        local = local_model(spec.model)
        # No more requests in flight than slots: queued work then waits here, not on a timer.
        return local, f"local:{local.server.model_path}", local.slots
    if spec.provider == "openai":
        import openai

        from skillfit.models.openai_compat import OpenAIChatModel

        if spec.base_url:
            # Self-hosted compatible servers often need no key.
            key = optional_env("OPENAI_API_KEY") or "not-needed"
        else:
            key = require_env("OPENAI_API_KEY", purpose=f"the model {spec.public}")
        client = openai.OpenAI(
            api_key=key,
            base_url=spec.base_url,
            max_retries=0,
            http_client=limited_http_client(openai),
        )
        model = OpenAIChatModel(
            spec.public, spec.model, client, use_max_completion_tokens=spec.base_url is None
        )
        return model, f"openai:{spec.base_url or 'api'}", _max_in_flight(8)
    if spec.provider == "azure":
        import openai

        from skillfit.models.openai_compat import OpenAIChatModel

        purpose = f"the model {spec.public}"
        endpoint = require_env("AZURE_OPENAI_ENDPOINT", purpose=purpose)
        client = openai.AzureOpenAI(
            azure_endpoint=endpoint,
            api_key=require_env("AZURE_OPENAI_API_KEY", purpose=purpose),
            api_version=require_env("OPENAI_API_VERSION", purpose=purpose),
            max_retries=0,
            http_client=limited_http_client(openai),
        )
        model = OpenAIChatModel(spec.public, spec.model, client, use_max_completion_tokens=True)
        return model, f"azure:{endpoint}", _max_in_flight(8)
    if spec.provider == "anthropic":
        import anthropic

        from skillfit.models.anthropic_provider import AnthropicChatModel

        key = require_env("ANTHROPIC_API_KEY", purpose=f"the model {spec.public}")
        aclient = anthropic.Anthropic(
            api_key=key,
            base_url=spec.base_url,
            max_retries=0,
            http_client=limited_http_client(anthropic),
        )
        return (
            AnthropicChatModel(spec.public, spec.model, aclient, prompt_cache=_prompt_cache()),
            f"anthropic:{spec.base_url or 'api'}",
            _max_in_flight(8),
        )
    raise _spec_error(spec.text, f"unknown model provider {spec.provider!r}")


def get_provider(spec: str) -> tuple[ChatModel, threading.BoundedSemaphore | None]:
    """The bare provider `spec` names (no cache, accounting or retries) and the in-flight
    limiter its calls share in this process (None: unlimited). `get_model` wraps the same."""
    model, limit_key, limit = _build(parse_spec(spec))
    return model, (limiter(limit_key, limit) if limit_key else None)


def get_model(
    spec: str,
    *,
    role: str = "default",
    cache: ReplyStore | None = None,
    ledger: Ledger | None = None,
    retry: RetryPolicy | None = None,
) -> ChatModel:
    """Build the model named by `spec`, wrapped in retries, accounting (`ledger`, under `role`)
    and the response cache. Local models start their server lazily, on the first call."""
    model, semaphore = get_provider(spec)
    return wrap(model, role=role, cache=cache, ledger=ledger, policy=retry, semaphore=semaphore)
