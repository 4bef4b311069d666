"""The embedded local model: pinned GGUF weights from pip packages, served in-process by
llama.cpp (xllamacpp) on 127.0.0.1."""

from skillfit.models.local.catalog import CATALOG, LocalModelInfo, list_local_models
from skillfit.models.local.provider import LocalChatModel, local_model
from skillfit.models.local.server import LocalServer, ServerOptions, shared_server
from skillfit.models.local.weights import ensure_weights

__all__ = [
    "CATALOG",
    "LocalChatModel",
    "LocalModelInfo",
    "LocalServer",
    "ServerOptions",
    "ensure_weights",
    "list_local_models",
    "local_model",
    "shared_server",
]
