"""The model layer: one protocol, many providers, a cache, retries and accounting."""

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

__all__ = [
    "ChatModel",
    "InfraError",
    "Message",
    "MissingCredentialsError",
    "ModelSpecError",
    "Reply",
    "ResponseFormat",
    "SchemaValidationError",
    "SkillfitModelError",
    "Usage",
    "WeightsError",
]
