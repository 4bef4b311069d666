"""The model layer: one protocol, many providers, a cache, retries and accounting.

from skillfit.models import get_model, Ledger, ResponseCache
model = get_model("local:qwen2.5-coder-0.5b", role="target", cache=ResponseCache(), ledger=Ledger())
reply = model.complete([{"role": "user", "content": "2+2?"}], max_tokens=8)
"""

from skillfit.models.accounting import Ledger, Price
from skillfit.models.base import (
    ChatModel,
    InfraError,
    Message,
    MissingCredentialsError,
    ModelSpecError,
    Reply,
    ResponseFormat,
    SchemaValidationError,
    SkillfitModelError,
    Usage,
    WeightsError,
)
from skillfit.models.cache import CacheError, ResponseCache
from skillfit.models.local.catalog import LocalModelInfo, list_local_models
from skillfit.models.redact import redact
from skillfit.models.registry import DEFAULT_MODEL, get_model, parse_spec
from skillfit.models.retry import RetryPolicy
from skillfit.models.scripted import ScriptedModel
from skillfit.models.stack import wrap

__all__ = [
    "DEFAULT_MODEL",
    "CacheError",
    "ChatModel",
    "InfraError",
    "Ledger",
    "LocalModelInfo",
    "Message",
    "MissingCredentialsError",
    "ModelSpecError",
    "Price",
    "Reply",
    "ResponseCache",
    "ResponseFormat",
    "RetryPolicy",
    "SchemaValidationError",
    "ScriptedModel",
    "SkillfitModelError",
    "Usage",
    "WeightsError",
    "get_model",
    "list_local_models",
    "parse_spec",
    "redact",
    "wrap",
]
