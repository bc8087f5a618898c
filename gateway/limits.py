"""Per-key and per-provider limits applied to an exchange (see ``ratelimit.py``).

The estimate a request is admitted on is prompt tokens plus requested output (the
model's ``default_max_tokens`` when the request names none) on the first candidate,
and its cost at that model's prices; both are reconciled with the real usage when
the response or stream ends.
"""

from __future__ import annotations

from typing import Any

from .errors import RateLimited
from .proxy import Exchange
from .ratelimit import Admission, KeyLimits, ProviderQuota, RateLimiter
from .routing import requested_output
from .stores import Store


def estimate(ex: Exchange) -> tuple[int, float]:
    assert ex.decision is not None
    f = ex.features
    m = ex.snap.cfg.models[ex.decision.model]
    out = requested_output(f, m)
    cost = (f.tokens * m.price_per_mtok.input + out * m.price_per_mtok.output) / 1e6
    return f.tokens + out, cost


class Limits:
    def __init__(self, store: Store, metrics: Any = None) -> None:
        self.store = store
        self.limiter = RateLimiter(store)
        self.metrics = metrics
        self._quotas: dict[tuple[str, int | None, int | None], ProviderQuota] = {}

    async def admit(self, ex: Exchange) -> Admission | None:
        caller = ex.caller
        key = caller.key
        if key is None:
            return None
        lim = key.limits
        if not (lim.rpm or lim.tpm or lim.concurrency or lim.budget_usd_per_day):
            return None
        tokens, cost = estimate(ex)
        try:
            return await self.limiter.admit(
                caller.tenant, tokens, cost,
                limits=KeyLimits(lim.rpm, lim.tpm, lim.concurrency, lim.budget_usd_per_day))
        except RateLimited as e:
            if self.metrics is not None:
                self.metrics.ratelimit_rejections.labels(
                    limit=getattr(e, "limit_kind", "rpm"), key=caller.tenant).inc()
            raise

    def quota(self, ex: Exchange, provider: str) -> ProviderQuota | None:
        p = ex.snap.cfg.providers[provider].limits
        if p is None or not (p.rpm or p.tpm):
            return None
        k = (provider, p.rpm, p.tpm)
        q = self._quotas.get(k)
        if q is None:
            q = self._quotas[k] = ProviderQuota(self.store, provider, rpm=p.rpm, tpm=p.tpm)
        return q

    def count_quota_rejection(self, e: RateLimited) -> None:
        if self.metrics is not None:
            kind = getattr(e, "limit_kind", "rpm")
            self.metrics.ratelimit_rejections.labels(limit=f"provider_{kind}", key="-").inc()
