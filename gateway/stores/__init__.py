"""Stores for rate limits, concurrency slots and the response cache (see README.md)."""

from __future__ import annotations

from .base import CONCURRENCY, LimitState, RateAdjust, RateCheck, RateDecision, Store, StoreError
from .memory import MemoryStore
from .redis import RedisStore, parse_store_url
from .resilient import ResilientStore

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
    "parse_store_url",
]

