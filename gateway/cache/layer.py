"""The response cache applied to an exchange (see ``cache.py`` for keys and entries).

- Mode ``deterministic`` caches requests with temperature 0 or a seed; ``all`` every
  request; ``off`` none. ``Cache-Control: no-cache`` skips the lookup (and refreshes
  the entry), ``no-store`` skips the write; ``x-gateway-cache-ttl: SECONDS`` sets the
  entry's TTL.
- The key covers the canonical request, the forwarded headers that can change the
  answer (`anthropic-version`, `anthropic-beta`), the chosen upstream model and the tenant
  (the gateway key's name, or ``cache.shared_namespace``), so tenants never share.
- Only a response from the model the key names is stored (not a fallback's), and a
  stream only when it completed.
- While Redis is unreachable the cache is bypassed (``x-gateway-cache: bypass``), also
  for the request whose lookup found it gone; once Redis is due for a probe a lookup
  tries it again, so the cache comes back without a restart even for keys without
  limits (whose requests make no other store call).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .entries import CachedResponse, ResponseCache, cache_key, is_cacheable
from ..config import CacheConfig
from ..pipeline.exchange import Exchange
from ..stores import Store
from ..translate.usage import openai_usage

if TYPE_CHECKING:
    from ..metrics import Metrics

MAX_TTL_S = 30 * 86400


class CacheLayer:
    def __init__(self, store: Store, metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self._caches: dict[tuple[int, int], ResponseCache] = {}

    def _cache(self, cfg: CacheConfig) -> ResponseCache:
        k = (cfg.ttl_s, cfg.max_entry_bytes)
        c = self._caches.get(k)
        if c is None:
            c = self._caches[k] = ResponseCache(self.store, ttl_s=cfg.ttl_s,
                                                max_entry_bytes=cfg.max_entry_bytes)
        return c

    def _count(self, result: str) -> None:
        m = self.metrics
        if m is not None:
            m.child(m.cache_lookups, result).inc()

    def _store_down(self) -> bool:
        """Redis is known to be unreachable (a ``ResilientStore`` after a failure)."""
        return bool(getattr(self.store, "down", False))

    def _store_skipped(self) -> bool:
        """Down and not yet due for a probe: the next call would not even try Redis."""
        will_try = getattr(self.store, "will_try_primary", None)
        return self._store_down() and will_try is not None and not will_try()

    def _bypass(self, ex: Exchange) -> None:
        ex.cache = "bypass"
        ex.cache_store = False
        self._count("bypass")

    def prepare(self, ex: Exchange, headers: Mapping[str, str]) -> bool:
        """The lookup's decisions, without I/O: bypass, no-cache (a miss), or the key
        to ``fetch`` (True). ``Services.cache_lookup`` runs the two."""
        cfg = ex.snap.cfg.cache
        mode = cfg.mode if cfg.enabled else "off"
        if mode == "off" or self._store_skipped() or not is_cacheable(ex.body, mode):
            self._bypass(ex)
            return False
        cc = headers.get("cache-control", "").lower()
        model = ex.snap.cfg.models[ex.decision.model]
        caller = ex.caller
        tenant = cfg.shared_namespace or caller.tenant
        forwarded = {h: v for h, v in ex.client_headers.items() if v}
        ex.cache_key = cache_key(ex.body, upstream_model=model.upstream,
                                 tenant=tenant, surface=ex.surface.name, headers=forwarded)
        ex.cache_model = model.upstream
        ex.cache_store = "no-store" not in cc
        ex.cache_ttl = _ttl(headers.get("x-gateway-cache-ttl"), cfg.ttl_s)
        ex.cache = "miss"
        if "no-cache" in cc:
            self._count("miss")
            return False
        return True

    async def fetch(self, ex: Exchange) -> CachedResponse | None:
        """The entry ``prepare`` keyed, or None (a miss, or a bypass if Redis is gone)."""
        hit = await self._cache(ex.snap.cfg.cache).get(ex.cache_key)
        if self._store_down():
            # This lookup found Redis gone (or it still is): nothing was looked up and
            # nothing will be stored, which is a bypass, not a miss.
            self._bypass(ex)
            return None
        if hit is None or hit.surface != ex.surface.name or not self._drops_allowed(ex, hit):
            self._count("miss")
            return None
        ex.cache = "hit"
        self._count("hit")
        return hit

    @staticmethod
    def _drops_allowed(ex: Exchange, hit: CachedResponse) -> bool:
        """An answer made by dropping fields serves only a caller allowed to drop them
        (keys sharing a namespace may differ): for the others it is a miss, and their
        request gets its 400."""
        if not hit.dropped:
            return True
        allowed = ex.drop_policy(ex.snap.cfg.models[ex.decision.model])
        return all(allowed.allows(name) for name in hit.dropped)

    def store_wanted(self, ex: Exchange) -> bool:
        return ex.cache == "miss" and ex.cache_store

    async def save(self, ex: Exchange, out: dict[str, Any]) -> None:
        if not self.store_wanted(ex) or ex.upstream_model != ex.cache_model:
            return
        if ex.surface.name == "chat_completions" and not out.get("usage") and ex.usage.total:
            # A stream assembled without include_usage has no usage chunk; a later
            # non-stream hit (or a replay asking for usage) must still report it.
            u = ex.usage
            out = {**out, "usage": openai_usage(u.input, u.output, u.cached)}
        entry = CachedResponse(body=out, provider=ex.provider or "",
                               upstream_model=ex.upstream_model or "",
                               surface=ex.surface.name, created=time.time(),
                               dropped=ex.dropped)
        await self._cache(ex.snap.cfg.cache).put(ex.cache_key, entry,
                                                 ex.cache_ttl)


def _ttl(header: str | None, default: int) -> int:
    if header and header.strip().isdigit():
        return max(1, min(int(header.strip()), MAX_TTL_S))
    return default
