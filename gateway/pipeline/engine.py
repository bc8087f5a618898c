"""The proxy engine, the same for every surface: an exchange's upstream attempts.

    complete / open_stream -> _attempts (candidates, breakers, quotas) -> codec -> client

``with_fallbacks`` walks the routing decision's candidates in order: it skips models
whose circuit is open or whose provider has no key, falls back on retryable upstream
failures (connect, timeout, 408/409/429/5xx/529; not quota-exhausted 429s, not client
errors) but only before any byte reached the client, and honours ``retry-after`` within
a budget when it retries the same model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import GatewayConfig, ModelConfig
from ..errors import (
    BadRequest,
    GatewayError,
    ProviderNotConfigured,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamStatusError,
)
from ..providers.client import ProviderClient, UpstreamStream
from ..routing import requested_output
from ..runtime import Runtime
from ..sse import SSEEvent
from ..surfaces.base import Prepared, StreamTranslator
from ..translate.hub import CHAT_COMPLETIONS
from .exchange import Exchange

if TYPE_CHECKING:
    from ..limits.charges import Limits
    from ..limits.limiter import ProviderQuota

log = logging.getLogger("gateway")
# A stream's bytes per cache-entry byte past which its answer is no longer assembled
# (SSE framing is most of a stream: ~40 bytes of it carry one token of ~4 bytes).
ASSEMBLY_FACTOR = 64


T = TypeVar("T")
_SHAPE_ERRORS = (TypeError, KeyError, AttributeError, ValueError, IndexError)


def _shape_checked(provider: str, fn: Callable[..., T], *args: Any) -> T:
    """Run a translator on an upstream answer: valid JSON of the wrong shape (a number
    where an object belongs) is the upstream's fault, a 502, never our 500."""
    try:
        return fn(*args)
    except _SHAPE_ERRORS as exc:
        raise UpstreamBadResponse(f"upstream {provider} sent a response of an unexpected "
                                  f"shape ({type(exc).__name__})", provider=provider) from None


def _fallback_reason(e: GatewayError) -> str:
    return getattr(e, "kind", type(e).__name__)


_AFTER: set[asyncio.Task[None]] = set()  # strong references until they are done


def after_stream(work: Coroutine[Any, Any, Any]) -> None:
    """Run ``work`` (a stream's bookkeeping) in a task of its own: the client does not
    wait for it, and a cancelled stream (client gone, shutdown) does not cancel it."""

    async def run() -> None:
        try:
            await work
        except Exception:
            log.exception("after-stream work failed")

    task = asyncio.ensure_future(run())
    _AFTER.add(task)
    task.add_done_callback(_AFTER.discard)


class Engine:
    def __init__(self, rt: Runtime, limits: Limits | None = None) -> None:
        self.rt = rt
        self.limits = limits  # provider quotas

    # -- candidate iteration --------------------------------------------------
    async def _attempts(
        self, ex: Exchange
    ) -> AsyncGenerator[tuple[str, ModelConfig, ProviderClient], GatewayError | None]:
        """Yields (alias, model, client) to try, in order, with bounded retries."""
        cfg: GatewayConfig = ex.snap.cfg
        budget_s = cfg.server.retry_after_budget_s
        max_attempts = cfg.server.max_attempts
        unconfigured: list[ProviderClient] = []
        open_circuits: list[str] = []
        exhausted: list[RateLimited] = []
        tried = 0
        cands = ex.decision.candidates
        i = 0
        deadline = ex.t0 + cfg.server.attempts_deadline_s
        while i < len(cands) and tried < max_attempts:
            if tried and time.perf_counter() >= deadline:
                ex.attempts.append({"model": cands[i], "skipped": "attempts deadline passed"})
                break
            alias = cands[i]
            model = cfg.models[alias]
            client = ex.snap.providers[model.provider]
            if not client.configured:
                unconfigured.append(client)
                ex.attempts.append({"model": alias, "skipped": "provider has no API key"})
                i += 1
                continue
            breaker = self.rt.breakers[alias]
            if not breaker.allow():
                open_circuits.append(alias)
                ex.attempts.append({"model": alias, "skipped": "circuit open"})
                i += 1
                continue
            quota = self._quota(ex, model)
            quota_err = (await self._charge_quota(ex, alias, model, quota) if quota is not None
                         else None)
            if quota_err is not None:
                breaker.release_probe()
                exhausted.append(quota_err)
                i += 1
                continue
            tried += 1
            try:
                err = yield alias, model, client
            except GeneratorExit:
                # The caller stopped mid-attempt (served, client gone, cancelled): a
                # half-open probe without a verdict must not keep the circuit shut.
                breaker.release_probe()
                raise
            if err is None:
                return
            last_alias_retry = (i == len(cands) - 1)
            ra = getattr(err, "retry_after", None)
            if (last_alias_retry and ra is not None and ra <= budget_s and tried < max_attempts
                    and time.perf_counter() + ra < deadline):
                await asyncio.sleep(ra)  # same model again, after the wait it asked for
                continue
            i += 1
        if tried == 0:
            if exhausted:
                raise exhausted[0]
            if unconfigured:
                c = unconfigured[0]
                raise ProviderNotConfigured(
                    f"provider {c.name!r} has no API key configured: set {c.key_setting}")
            raise UpstreamStatusError(
                f"every candidate model is unavailable (circuit open: {', '.join(open_circuits)})",
                upstream_status=503, upstream_type=None, retryable=False)

    @staticmethod
    def _prepare(ex: Exchange, model: ModelConfig, client: ProviderClient) -> Prepared:
        unsupported = ex.drop_policy(model)
        try:
            prep = ex.surface.codec.prepare(ex.body, model, client.kind, ex.client_headers,
                                            unsupported)
            prep.input_estimate = ex.features.tokens
            ex.dropped = unsupported.dropped
            return prep
        except BadRequest as e:
            # What one provider type cannot take (n > 1 for Claude, an image URL for
            # Kimi) another candidate may serve: mark it so the engine falls back.
            e.provider_specific = True
            raise

    def _quota(self, ex: Exchange, model: ModelConfig) -> ProviderQuota | None:
        """The provider's shared quota, if it has one."""
        return self.limits.quota(ex, model.provider) if self.limits is not None else None

    async def _charge_quota(self, ex: Exchange, alias: str, model: ModelConfig,
                            quota: ProviderQuota) -> RateLimited | None:
        """Charge the provider's shared quota; an exhausted one is skipped, not hit."""
        limits = self.limits
        assert limits is not None
        f = ex.features
        try:
            adm = await quota.admit(f.tokens + requested_output(f, model))
        except RateLimited as e:
            limits.count_quota_rejection(e)
            ex.attempts.append({"model": alias, "skipped": "provider quota exhausted"})
            return e
        # Reconciled with the real usage when the exchange ends (Services.finish).
        limits.hold_quota(ex, model.provider, adm)
        return None

    def _observe_attempt(self, model: ModelConfig, seconds: float) -> None:
        """One upstream attempt's duration (failed ones too): its count counts attempts."""
        m = self.rt.metrics
        if m is not None:
            m.child(m.upstream_duration, model.provider, model.upstream).observe(seconds)

    def _charge_failed(self, ex: Exchange, model: ModelConfig, e: GatewayError,
                       since: float) -> None:
        """A failed attempt's upstream time: counted if the upstream was reached."""
        if isinstance(e, UpstreamError):
            spent = time.perf_counter() - since
            ex.upstream_s += spent
            self._observe_attempt(model, spent)

    def _send_failed(self, ex: Exchange, alias: str, e: GatewayError) -> bool:
        """Record a failed attempt; True if the engine should try the next candidate."""
        ex.attempts.append({"model": alias, "error": _fallback_reason(e), "status": e.status})
        m = self.rt.metrics
        if isinstance(e, UpstreamError):
            if m is not None:
                m.upstream_errors.labels(provider=ex.snap.cfg.models[alias].provider,
                                         kind=e.kind).inc()
            if e.retryable:
                self.rt.breakers[alias].failure()
            else:
                self.rt.breakers[alias].release_probe()
            return e.retryable
        self.rt.breakers[alias].release_probe()
        # A translation the provider type cannot take (e.g. an image URL for Kimi):
        # another candidate may well serve it.
        return isinstance(e, BadRequest) and e.provider_specific

    def _served(self, ex: Exchange, alias: str, model: ModelConfig) -> None:
        ex.alias = alias
        ex.provider = model.provider
        ex.upstream_model = model.upstream
        self.rt.breakers[alias].success()
        m = self.rt.metrics
        if m is not None and len(ex.attempts) > 1:
            prev = [a for a in ex.attempts[:-1] if "error" in a or "skipped" in a]
            if prev:
                m.fallbacks.labels(from_model=prev[0]["model"], to_model=alias,
                                   reason=prev[0].get("error") or "skipped").inc()

    # -- non-streaming -----------------------------------------------------------
    async def complete(self, ex: Exchange) -> dict[str, Any]:
        gen = self._attempts(ex)
        first_error: GatewayError | None = None
        try:
            alias, model, client = await gen.__anext__()
            while True:
                t_att = time.perf_counter()
                try:
                    prep = self._prepare(ex, model, client)
                    res = await client.post_json(prep.body, prep.headers or None)
                    ex.upstream_s += res.elapsed_s
                    self._observe_attempt(model, res.elapsed_s)
                    out = _shape_checked(client.name, ex.surface.codec.response,
                                         client.kind, res.body, prep, model.upstream)
                except GatewayError as e:
                    self._charge_failed(ex, model, e, t_att)
                    first_error = first_error or e
                    if not self._send_failed(ex, alias, e):
                        raise e from None
                    alias, model, client = await gen.asend(e)
                    continue
                ex.attempts.append({"model": alias, "status": 200})
                self._served(ex, alias, model)
                ex.usage = ex.surface.codec.usage(out)
                return out
        except StopAsyncIteration:
            assert first_error is not None
            raise first_error from None
        finally:
            await gen.aclose()

    # -- streaming --------------------------------------------------------------
    async def open_stream(self, ex: Exchange, cacheable: bool) -> tuple[
            UpstreamStream, StreamTranslator, AsyncIterator[SSEEvent], bytes]:
        """Open an upstream stream and read up to its first client bytes.

        Fallback is possible until this returns: nothing has reached the client yet.
        """
        gen = self._attempts(ex)
        first_error: GatewayError | None = None
        try:
            alias, model, client = await gen.__anext__()
            while True:
                up: UpstreamStream | None = None
                t_att = time.perf_counter()
                try:
                    prep = self._prepare(ex, model, client)
                    body = dict(prep.body)
                    body["stream"] = True
                    if client.kind == CHAT_COMPLETIONS:
                        # Moonshot and OpenAI-compatible servers report usage when asked.
                        body["stream_options"] = {"include_usage": True}
                    up = await client.open_stream(body, prep.headers or None)
                    tr = ex.surface.codec.stream(client.kind, prep, model.upstream, ex.body,
                                                 ex.request_id, cacheable)
                    events = up.events()
                    first = b""
                    async for ev in events:
                        first = _shape_checked(client.name, tr.feed, ev)
                        if first or tr.finished:
                            break
                    else:
                        raise UpstreamBadResponse(f"upstream {client.name} ended the stream "
                                                  "before sending anything", provider=client.name)
                    ex.upstream_s += time.perf_counter() - up.t0
                    ex.ttft_s = time.perf_counter() - ex.t0  # as the client sees it
                except GatewayError as e:
                    if up is not None:
                        await up.aclose()
                    self._charge_failed(ex, model, e, up.t0 if up is not None else t_att)
                    first_error = first_error or e
                    if not self._send_failed(ex, alias, e):
                        raise e from None
                    alias, model, client = await gen.asend(e)
                    continue
                except BaseException:
                    if up is not None:
                        await up.aclose()
                    raise
                ex.attempts.append({"model": alias, "status": 200})
                self._served(ex, alias, model)
                return up, tr, events, first
        except StopAsyncIteration:
            assert first_error is not None
            raise first_error from None
        finally:
            await gen.aclose()

    async def relay(self, ex: Exchange, up: UpstreamStream, tr: StreamTranslator,
                    events: AsyncIterator[SSEEvent], first: bytes,
                    on_end: Callable[[dict[str, Any] | None],
                                     Coroutine[Any, Any, Any]] | None = None,
                    ) -> AsyncIterator[bytes]:
        """The client's byte stream; closes the upstream on every path. ``on_end`` gets
        the assembled response of a stream that completed (None otherwise, or when the
        translator was not asked to assemble) and runs after the last byte.

        A stream still open when the graceful-shutdown period ends (``gateway.drain``)
        gets a final error event like any other failure after the headers went out.
        """
        t_body = time.perf_counter()
        completed = False
        provider = ex.provider or "upstream"
        drain = self.rt.drain
        cut = drain.watch()
        # A cacheable stream's answer is assembled in memory: only while the stream is
        # under ASSEMBLY_FACTOR times the cache's entry limit (an answer that large is
        # not stored anyway); past it the assembly is dropped and the stream relayed on.
        assembly_left = (ex.snap.cfg.cache.max_entry_bytes * ASSEMBLY_FACTOR
                         if hasattr(tr, "drop_assembly") else 0)
        try:
            if first:
                yield first
            while not tr.finished:
                if cut.expired:
                    cut.absorb_cancel()  # a cancel the upstream read swallowed, if any
                    raise GatewayError(drain.message(), status=503, code="shutting_down")
                cut.waiting = True  # only here may the drain cancel this task
                try:
                    ev = await events.__anext__()
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    if not cut.absorb_cancel():
                        raise
                    raise GatewayError(drain.message(), status=503,
                                       code="shutting_down") from None
                finally:
                    cut.waiting = False
                out = _shape_checked(provider, tr.feed, ev)
                if out:
                    if assembly_left > 0:
                        assembly_left -= len(out)
                        if assembly_left <= 0:
                            tr.drop_assembly()  # type: ignore[attr-defined]
                            log.info("stream %s: over %d bytes, its answer is not cached",
                                     ex.request_id, ex.snap.cfg.cache.max_entry_bytes
                                     * ASSEMBLY_FACTOR)
                    yield out
            if not tr.finished:
                raise UpstreamBadResponse(f"upstream {ex.provider} ended the stream early",
                                          provider=ex.provider or "")
            completed = True
            yield tr.close()
        except GatewayError as e:
            # Headers (200) are gone: the failure becomes the stream's last event.
            ex.error = e
            ex.status = e.status
            if isinstance(e, UpstreamError) and self.rt.metrics is not None:
                self.rt.metrics.upstream_errors.labels(provider=ex.provider or "",
                                                       kind=e.kind).inc()
            log.warning("stream %s failed after start: %s", ex.request_id, e.message)
            yield ex.surface.codec.error_event(e)
        finally:
            cut.close()
            ex.upstream_s += time.perf_counter() - t_body
            await up.aclose()
            ex.usage = tr.usage()
            if on_end is not None:
                after_stream(on_end(tr.assembled() if completed else None))
