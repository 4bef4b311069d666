"""Shared shape of the layers that wrap a ChatModel (cache, accounting, retry)."""

from __future__ import annotations

from skillfit.models.base import ChatModel


class ModelWrapper:
    """Forwards `name` and provider extras (such as the local model's `base_url`) to `inner`."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    def __getattr__(self, attr: str) -> object:
        inner = self.__dict__.get("inner")
        if inner is None or attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(inner, attr)
