"""Stores for rate limits, concurrency slots and the response cache (see README.md)."""

from __future__ import annotations

from typing import Any

from .base import CONCURRENCY, LimitState, RateAdjust, RateCheck, RateDecision, Store, StoreError
from .memory import MemoryStore
from .redis import RedisStore, parse_store_url
from .resilient import OnError, ResilientStore

__all__ = [
    "CONCURRENCY",
    "LimitState",
    "MemoryStore",
    "RateAdjust",
    "RateCheck",
    "RateDecision",
    "RedisStore",
    "ResilientStore",
    "Store",
    "StoreError",
    "open_store",
    "parse_store_url",
]


def open_store(url: str | None, *, on_error: OnError = "fail_open", timeout_s: float = 0.25,
               retry_after_s: float = 1.0, **redis_kwargs: Any) -> Store:
    """The store for a configured URL: ``None``/``""``/``memory://`` gives a
    ``MemoryStore`` (single replica); any Redis URL gives a ``ResilientStore``."""
    if not url or url.startswith("memory:"):
        return MemoryStore()
    primary = RedisStore.from_url(url, timeout_s=timeout_s, **redis_kwargs)
    return ResilientStore(primary, MemoryStore(), on_error=on_error,
                          retry_after_s=retry_after_s)
