"""The contract every model provider meets: messages in, a typed Reply out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, TypedDict, runtime_checkable

from pydantic import BaseModel


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens served from a provider-side prefix cache
    # Prompt tokens written to a provider-side prompt cache (Anthropic bills them above the
    # input price; OpenAI-style APIs cache without a charge and report none). Both counts are
    # parts of `prompt_tokens`.
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Usage:
        """A Usage from its stored form (`asdict`): a count the record lacks (one stored before
        it was counted) is 0, a key this version does not know is left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v or 0) for k, v in record.items() if k in known})

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Reply:
    """One model answer. `parsed` holds the validated object when a schema was requested."""

    text: str
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    cached: bool = False  # True when served from skillfit's response cache (no model call)
    model: str = ""
    finish_reason: str = "stop"
    parsed: Any = None


# A schema may be given as a pydantic model class (preferred: the reply is validated into it)
# or as a plain JSON-schema dict (the reply is parsed as JSON and checked against the schema).
ResponseFormat = type[BaseModel] | dict[str, Any]


@runtime_checkable
class ChatModel(Protocol):
    """What the rest of skillfit knows about a model."""

    @property
    def name(self) -> str:
        """The model string this model was built from, e.g. `local:qwen2.5-coder-0.5b`."""
        ...

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        response_format: ResponseFormat | None = None,
        sample: int = 0,
    ) -> Reply:
        """Answer `messages`. `sample` distinguishes repeated draws of the same prompt
        (it is part of the cache key and seeds sampling where the provider allows)."""
        ...


class SkillfitModelError(Exception):
    """Base of every error the model layer raises."""


class ModelSpecError(SkillfitModelError, ValueError):
    """A model string or model configuration that cannot be turned into a model."""


class MissingCredentialsError(SkillfitModelError):
    """An API key or endpoint the provider needs is not set in the environment."""


class InfraError(SkillfitModelError):
    """The model could not be reached or kept failing after retries (timeouts, 5xx, a dead
    server). This is never a wrong answer: callers must not score it as a task failure."""


class SchemaValidationError(InfraError):
    """The reply did not match the requested schema, even after retries."""

    raw_text: str = ""  # the offending reply, so callers can keep it (set by the model layer)


class WeightsError(SkillfitModelError):
    """Local weights are missing or do not match their pinned hash."""
