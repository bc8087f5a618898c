"""Per-key and per-provider limits applied to an exchange (see ``limiter.py``).

The estimate a request is admitted on is prompt tokens plus requested output (the
model's ``default_max_tokens`` when the request names none; times ``n`` when it asks
for several choices) on the first candidate,
and its cost at that model's prices; both are reconciled with the real usage when
the response or stream ends (``settled_tokens`` says with what). A provider's quota
is charged per attempt on that model's estimate; the attempt that served the request
is reconciled the same way, failed attempts keep their estimate (the provider may
well have spent it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..auth import Caller
from ..config import GatewayConfig
from ..errors import RateLimited
from ..pipeline.exchange import Exchange
from .limiter import Admission, KeyLimits, ProviderAdmission, ProviderQuota, RateLimiter
from ..routing import requested_output
from ..stores import Store

if TYPE_CHECKING:
    from ..metrics import Metrics


def estimate(ex: Exchange) -> tuple[int, float]:
    f = ex.features
    m = ex.snap.cfg.models[ex.decision.model]
    n = ex.body.get("n") if ex.surface.name == "chat_completions" else None
    # n choices: n times the output (validated as an integer >= 1).
    out = requested_output(f, m) * (n if isinstance(n, int) and n > 1 else 1)
    cost = (f.tokens * m.price_per_mtok.input + out * m.price_per_mtok.output) / 1e6
    return f.tokens + out, cost


def key_label(cfg: GatewayConfig, tenant: str) -> str:
    """A metric's ``key`` label: the key's name, or "-" with ``metrics_key_labels`` off."""
    return tenant if cfg.server.metrics_key_labels else "-"


def _key_limits(caller: Caller) -> KeyLimits:
    assert caller.key is not None
    lim = caller.key.limits
    return KeyLimits(lim.rpm, lim.tpm, lim.concurrency, lim.budget_usd_per_day)


def settled_tokens(ex: Exchange) -> int | None:
    """The tokens an ended exchange really used, or None to keep the estimate.

    A cache hit and a request no upstream served used nothing (refunded). A served
    request whose upstream never reported output (a stream the client left or the
    upstream cut before its usage event, a client gone mid-request) keeps its
    estimate: the provider spent tokens nobody counted, and a refund would let a
    client that hangs up early use tokens for free.
    """
    if ex.cache == "hit":
        return 0
    if ex.status == 499:
        return None
    if ex.provider is None:
        return 0
    if ex.usage.output == 0:
        return None
    return ex.usage.total


class Limits:
    def __init__(self, store: Store, metrics: Metrics | None = None) -> None:
        self.store = store
        self.limiter = RateLimiter(store)
        self.metrics = metrics
        self._quotas: dict[tuple[str, int | None, int | None], ProviderQuota] = {}

    @staticmethod
    def applies(ex: Exchange) -> bool:
        """Does admitting ``ex`` check limits in the store (its key has some)?"""
        key = ex.caller.key
        if key is None:
            return False
        lim = key.limits
        return bool(lim.rpm or lim.tpm or lim.concurrency or lim.budget_usd_per_day)

    async def admit(self, ex: Exchange, early: Admission | None = None) -> Admission | None:
        """Admit ``ex`` on all its key's limits, or, after ``admit_early`` let it in, on
        its token limits (tpm, budget)."""
        if not self.applies(ex):
            return None
        caller = ex.caller
        tokens, cost = estimate(ex)
        with self._counted(key_label(ex.snap.cfg, caller.tenant)):
            if early is not None:
                await self.limiter.admit_tokens(early, tokens, cost)
                return early
            return await self.limiter.admit(caller.tenant, tokens, cost,
                                            limits=_key_limits(caller))

    async def admit_early(self, caller: Caller, cfg: GatewayConfig) -> Admission | None:
        """rpm and concurrency, before the body is read (None: the key has neither)."""
        key = caller.key
        if key is None or not (key.limits.rpm or key.limits.concurrency):
            return None
        with self._counted(key_label(cfg, caller.tenant)):
            return await self.limiter.admit_requests(caller.tenant, _key_limits(caller))

    @contextlib.contextmanager
    def _counted(self, label: str) -> Iterator[None]:
        try:
            yield
        except RateLimited as e:
            if self.metrics is not None:
                self.metrics.ratelimit_rejections.labels(
                    limit=getattr(e, "limit_kind", "rpm"), key=label).inc()
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

    def hold_quota(self, ex: Exchange, provider: str, adm: ProviderAdmission) -> None:
        """Remember an attempt's quota charge until the exchange ends."""
        ex.quota_holds.append((provider, adm))

    def holds_quota(self, ex: Exchange) -> bool:
        """Was ``ex`` charged to a provider quota that ``settle_quotas`` must settle?"""
        return bool(ex.quota_holds)

    async def settle_quotas(self, ex: Exchange, used: int | None) -> None:
        """Reconcile the charge of the attempt that served ``ex`` with ``used``."""
        held, ex.quota_holds = ex.quota_holds, []
        if not held or used is None or ex.provider is None or ex.cache == "hit":
            return
        served = [adm for provider, adm in held if provider == ex.provider]
        if served:
            await served[-1].reconcile(used)

    def count_quota_rejection(self, e: RateLimited) -> None:
        if self.metrics is not None:
            kind = getattr(e, "limit_kind", "rpm")
            self.metrics.ratelimit_rejections.labels(limit=f"provider_{kind}", key="-").inc()
