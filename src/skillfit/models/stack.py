"""`wrap`: the standard stack around a provider: cache → accounting → retry/limit → provider."""

from __future__ import annotations

import threading

from skillfit.models.accounting import AccountedModel, Ledger
from skillfit.models.base import ChatModel
from skillfit.models.cache import CachedModel, ReplyStore
from skillfit.models.retry import RetryingModel, RetryPolicy


def wrap(
    model: ChatModel,
    *,
    role: str = "default",
    cache: ReplyStore | None = None,
    ledger: Ledger | None = None,
    policy: RetryPolicy | None = None,
    semaphore: threading.BoundedSemaphore | None = None,
) -> ChatModel:
    """Add retries (and an optional in-flight limit), accounting under `role` and the response
    cache to `model`. Cache hits are counted in the ledger and never reach the model."""
    stacked: ChatModel = RetryingModel(model, policy=policy, semaphore=semaphore)
    if ledger is not None:
        stacked = AccountedModel(stacked, ledger, role=role)
    if cache is not None:
        on_hit = (
            (lambda reply, key: ledger.record_hit(role, key=key, reply=reply))
            if ledger is not None
            else None
        )
        stacked = CachedModel(stacked, cache, on_hit=on_hit)
    return stacked
