"""Per-process services the request pipeline uses: limits, cache, and the one finish
step that publishes each ended exchange to its sinks (metrics, access log, and any
added, such as the console's recent-decision ring)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, cast

from starlette.responses import Response

from ..auth import Caller
from ..cache.entries import CachedResponse
from ..cache.layer import CacheLayer
from ..errors import GatewayError
from ..http import Afterwards, json_response
from ..idle import defer, flush
from ..limits.charges import Limits, key_label, settled_tokens
from ..limits.limiter import Admission
from ..logs import log_access
from ..metrics import status_class
from ..runtime import Runtime
from ..sse import SSEResponse
from .engine import Engine, after_stream
from .exchange import Exchange

if TYPE_CHECKING:
    from prometheus_client import Gauge

log = logging.getLogger("gateway")
# Bodies up to this size are parsed before their admission (well under a millisecond),
# so a key's limits cost one store call; larger ones are admitted on rpm and concurrency
# first (docs/hardening.md, "Work before admission").
EARLY_ADMISSION_BYTES = 64 * 1024
access = logging.getLogger("gateway.access")
# Called with each ended exchange and its access record (``Services.finish``).
Sink = Callable[[Exchange, dict[str, Any]], None]


def cost_usd(ex: Exchange) -> float:
    if ex.alias is None:
        return 0.0
    m = ex.snap.cfg.models[ex.alias]
    p = m.price_per_mtok
    cached = ex.usage.cached
    cached_price = p.cached_input if p.cached_input is not None else p.input
    return ((ex.usage.input - cached) * p.input + cached * cached_price
            + ex.usage.output * p.output) / 1e6


def routing_record(ex: Exchange) -> dict[str, Any]:
    """What ``gateway replay`` needs to route the request again: the requested model,
    the decision's first choice, the policies in force and the features."""
    d = ex.decision
    return {"requested": ex.body.get("model"), "model": d.model,
            "provider": ex.snap.cfg.models[d.model].provider, "policy": list(d.policy.names),
            "features": ex.features.to_json()}


class Services:
    def __init__(self, rt: Runtime, *, log_prompts: bool = False) -> None:
        self.rt = rt
        self.metrics = rt.metrics
        self.log_prompts = log_prompts
        self.limits = Limits(rt.store, rt.metrics) if rt.store is not None else None
        self.cache = CacheLayer(rt.store, rt.metrics) if rt.store is not None else None
        self.engine = Engine(rt, self.limits)
        # Every ended exchange is published to each, in order (``finish``).
        self.sinks: list[Sink] = [self._measure, self._log]

    # -- limits -------------------------------------------------------------------
    async def admit(self, ex: Exchange, early: Admission | None = None) -> Admission | None:
        if self.limits is None:
            return None
        return await self.limits.admit(ex, early)

    async def admit_early(self, caller: Caller, headers: Mapping[str, str]) -> Admission | None:
        """rpm and concurrency before the body is read, unless its Content-Length says
        it is small (``EARLY_ADMISSION_BYTES``): parsing that costs less than a second
        store round trip, so it is admitted on all its limits at once after parsing."""
        if self.limits is None:
            return None
        cl = headers.get("content-length")
        if cl is not None and cl.isdigit() and int(cl) <= EARLY_ADMISSION_BYTES:
            return None
        return await self.limits.admit_early(caller, self.rt.snapshot.cfg)

    async def admit_requests(self, caller: Caller) -> Admission | None:
        """rpm and concurrency of a request that calls no upstream (explain, a token
        count): it spends no tokens; its slot is freed by ``Intake.release``."""
        if self.limits is None:
            return None
        return await self.limits.admit_early(caller, self.rt.snapshot.cfg)

    @staticmethod
    def limit_headers(admission: Admission | None) -> dict[str, str]:
        return admission.headers() if admission is not None else {}

    # -- cache --------------------------------------------------------------------
    def cache_lookup(self, ex: Exchange,
                     headers: Mapping[str, str]) -> Awaitable[CachedResponse | None] | None:
        """Start the cache lookup, to be awaited after ``admit`` (None: nothing to look
        up). When the admission also calls the store, the lookup runs beside it, so the
        two commands share one write and one round trip."""
        cache = self.cache
        if cache is None:
            ex.cache = "bypass"
            return None
        if not cache.prepare(ex, headers):
            return None
        if self.limits is not None and self.limits.applies(ex):
            return asyncio.ensure_future(cache.fetch(ex))
        return cache.fetch(ex)

    @staticmethod
    def drop_lookup(lookup: Awaitable[Any] | None) -> None:
        """A lookup started by ``cache_lookup`` that will not be awaited."""
        if isinstance(lookup, asyncio.Future):
            lookup.cancel()
        elif lookup is not None:
            cast(Coroutine[Any, Any, Any], lookup).close()

    def cache_store_wanted(self, ex: Exchange) -> bool:
        return self.cache is not None and self.cache.store_wanted(ex)

    def serve_cached(self, ex: Exchange, cached: CachedResponse, base: dict[str, str],
                     admission: Admission | None, inflight: Gauge | None = None
                     ) -> Response | SSEResponse:
        ex.provider = cached.provider
        ex.upstream_model = cached.upstream_model
        ex.dropped = cached.dropped
        body = cached.body
        headers = {**base, **ex.headers(), **self.limit_headers(admission),
                   "x-gateway-overhead-ms": f"{ex.overhead_ms:.2f}"}
        if ex.stream:
            parts = ex.surface.codec.replay(body, ex.body)

            async def gen() -> AsyncIterator[bytes]:
                try:
                    for p in parts:
                        yield p
                finally:
                    # After the last byte, in a task of its own (as a relayed stream).
                    after_stream(self.finish(ex, admission, inflight))
            return SSEResponse(gen(), headers)
        resp = json_response(body, 200, headers)
        resp.background = Afterwards(self.finish, ex, admission, inflight)
        return resp

    # -- finish: reconcile, release, observe -----------------------------------------
    async def finish(self, ex: Exchange, admission: Admission | None,
                     inflight: Gauge | None = None,
                     to_cache: dict[str, Any] | None = None) -> None:
        """Queue the exchange's record (metrics, access line, console: published off the
        next request's path, see ``idle.py``), then store the response ``to_cache`` (if
        any) and settle its limits, now: one store call for the key (reconcile + slot
        release), one per provider quota it was charged. The store calls go out
        together: each is queued before any is waited for (see resp.py's
        ``execute_later``)."""
        if inflight is not None:
            inflight.dec()
        # A cache hit cost nothing upstream.
        cost = ex.cost_usd = cost_usd(ex) if ex.cache != "hit" else 0.0
        steps: list[Awaitable[object]] = []
        try:
            # Deferred, the record is published while a later request waits on its
            # upstream. An exchange that called none (a cache hit, a refusal) says this
            # traffic may have no such wait to fill: published at once, after those
            # still queued (records stay in the order the exchanges ended), as a
            # deferral would only move it to the timer's turn (measured: cache hits at
            # c=1 lost ~30 us per request to that).
            t_end = time.perf_counter()  # its duration ends now
            if ex.provider is None or ex.cache == "hit":
                flush()
                self._publish(ex, t_end)
            else:
                defer(self._publish, ex, t_end)
        finally:
            if to_cache is not None and self.cache is not None and self.cache.store_wanted(ex):
                steps.append(self.cache.save(ex, to_cache))
            steps += self._settlements(ex, admission, cost)
            if len(steps) == 1:
                await steps[0]
            elif steps:
                for res in await asyncio.gather(*steps, return_exceptions=True):
                    if isinstance(res, BaseException):
                        log.warning("bookkeeping of %s failed: %r", ex.request_id, res)

    def _settlements(self, ex: Exchange, admission: Admission | None,
                     cost: float) -> list[Awaitable[object]]:
        quotas = self.limits if self.limits is not None and self.limits.holds_quota(ex) else None
        if quotas is None and admission is None:  # a key without limits: nothing to settle
            return []
        # A cache hit spent no upstream tokens: its estimate is refunded; a stream cut
        # before its usage report keeps its estimate (see settled_tokens).
        used = settled_tokens(ex)
        steps: list[Awaitable[object]] = []
        if quotas is not None:
            steps.append(quotas.settle_quotas(ex, used))
        if admission is not None:
            steps.append(admission.settle(used, cost))
        return steps

    def _publish(self, ex: Exchange, t_end: float) -> None:
        """The exchange's one record, to every sink (metrics, access log, console);
        ``t_end``: when it ended (``perf_counter``)."""
        caller = ex.caller
        rec: dict[str, Any] = {
            "request_id": ex.request_id, "surface": ex.surface.name,
            "key": caller.name,
            "route": ex.decision.rule,
            "provider": ex.provider, "model": ex.upstream_model, "alias": ex.alias,
            "status": ex.status, "stream": ex.stream, "cache": ex.cache,
            "tokens_in": ex.usage.input, "tokens_out": ex.usage.output,
            "tokens_cached": ex.usage.cached, "cost_usd": round(ex.cost_usd, 8),
            "duration_ms": round((t_end - ex.t0) * 1000, 2),
            "upstream_ms": round(ex.upstream_s * 1000, 2),
            # At its end, not now: the record may be published a while later (idle.py).
            "overhead_ms": round(ex.overhead_ms_at(t_end), 3),
            "ttft_ms": round(ex.ttft_s * 1000, 2) if ex.ttft_s is not None else None,
            "attempts": ex.attempts,
            "routing": routing_record(ex),
        }
        if ex.error is not None:
            rec["error"] = ex.error.message
        if self.log_prompts:
            # Chat and Messages bodies have `messages`, Responses bodies `input`.
            rec["prompt"] = ex.body.get("messages", ex.body.get("input"))
        for sink in self.sinks:
            sink(ex, rec)

    def _measure(self, ex: Exchange, rec: dict[str, Any]) -> None:
        m = self.metrics
        if m is None:
            return
        series = m.request_series(ex.surface.name, ex.provider or "none",
                                  ex.upstream_model or "none", ex.decision.rule, ex.status,
                                  ex.stream, key_label(ex.snap.cfg, ex.caller.tenant))
        series.requests.inc()
        series.duration.observe(rec["duration_ms"] / 1000)
        series.overhead.observe(rec["overhead_ms"] / 1000)
        if ex.provider and ex.cache != "hit":
            if ex.ttft_s is not None:
                series.observe_ttft(ex.ttft_s)
            u = ex.usage
            series.count_usage(u.input, u.output, u.cached, ex.cost_usd)

    @staticmethod
    def _log(ex: Exchange, rec: dict[str, Any]) -> None:
        log_access(access, rec)

    def count_early_error(self, surface: str, e: GatewayError,
                          request_id: str | None = None) -> None:
        if self.metrics is not None:
            self.metrics.requests.labels(surface=surface, provider="none", model="none",
                                         route="none", status_class=status_class(e.status),
                                         stream="false").inc()
        log_access(access, {"request_id": request_id, "surface": surface, "status": e.status,
                            "error": e.message})
