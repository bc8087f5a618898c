"""Build the process's store from config, with Redis calls measured for metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import RedisConfig
from . import MemoryStore, RedisStore, ResilientStore, Store, StoreError

_TIMED = ("admit", "settle", "rate_acquire", "rate_adjust", "slot_refresh", "slot_release",
          "slot_count", "cache_get", "cache_set", "kv_get", "kv_set",
          "kv_delete", "ping")


class _TimedRedis:
    """Wraps a RedisStore: every call's latency and errors go to the metrics."""

    def __init__(self, inner: RedisStore, metrics: Any) -> None:
        self._inner = inner
        self._m = metrics
        for name in _TIMED:
            setattr(self, name, self._wrap(name, getattr(inner, name)))

    def _wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        hist = self._m.redis_duration.labels(command=name)
        errors = self._m.redis_errors.labels(command=name)

        async def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*a, **kw)
            except StoreError:
                errors.inc()
                raise
            finally:
                hist.observe(time.perf_counter() - t0)
        return timed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def build_store(cfg: RedisConfig, env_url: str = "", *, metrics: Any = None) -> Store:
    """Memory when no Redis URL is configured; else Redis with the configured fallback."""
    url = cfg.url or env_url
    if not url:
        return MemoryStore()
    primary: Any = RedisStore.from_url(url, timeout_s=cfg.timeout_ms / 1000)
    on_change: Callable[[bool], None] | None = None
    if metrics is not None:
        primary = _TimedRedis(primary, metrics)
        gauge = metrics.store_degraded
        # Set when Redis is lost or back, not only when /readyz happens to be polled.
        on_change = lambda degraded: gauge.set(1 if degraded else 0)
    return ResilientStore(primary, MemoryStore(), on_error=cfg.on_error, on_change=on_change)
