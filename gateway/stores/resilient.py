"""Redis with a policy for when Redis is gone.

``fail_open``  : serve from an in-process ``MemoryStore``: limits keep being enforced,
                 per process (N replicas admit up to N x the limit), the cache is
                 bypassed (misses, writes dropped), ``degraded`` is reported.
``fail_closed``: raise ``StoreUnavailable`` (503) rather than admit unmetered traffic.

Key-value state (``kv_*``, stored Responses) is Redis's alone in both modes: reads and
deletes raise ``StoreUnavailable`` while Redis is unreachable, a write is dropped
(``fail_open``) or raises (``fail_closed``); see README.md, "Key-value state".

After a failure Redis is not retried for ``retry_after_s``; then one call at a time
probes it (others keep using the fallback, so a SIGSTOPped Redis costs one timeout
per back-off period, not one per request). The first success switches back: no
restart needed. Rate state is not copied between the two; each keeps its own.

A concurrency slot is released where it was acquired (the store remembers which).
Releasing or refreshing a slot never raises: failing an already-served response over
it helps nobody. A Redis slot that cannot be released now (Redis down or hung) is
released as soon as Redis answers again, so it does not block its key until its TTL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from ..errors import StoreUnavailable
from .base import LimitState, RateAdjust, RateCheck, RateDecision, RateKind, StoreError
from .memory import MemoryStore
from .redis import RedisStore

log = logging.getLogger("gateway.stores")
T = TypeVar("T")
OnError = Literal["fail_open", "fail_closed"]
MAX_PENDING_RELEASES = 10_000  # beyond that, the slots' TTL frees them


class ResilientStore:
    backend = "redis"

    def __init__(self, primary: RedisStore, fallback: MemoryStore | None = None, *,
                 on_error: OnError = "fail_open", retry_after_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[bool], None] | None = None) -> None:
        """``on_change(degraded)`` is called when Redis is lost or back (metrics)."""
        if on_error not in ("fail_open", "fail_closed"):
            raise ValueError(f"on_error must be fail_open or fail_closed, not {on_error!r}")
        self.primary = primary
        self.fallback = fallback if fallback is not None else MemoryStore()
        self.on_error = on_error
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down = False
        self._probing = False
        self._retry_at = 0.0
        self._error: str | None = None
        self._slot_home: dict[tuple[str, str], Literal["primary", "fallback"]] = {}
        self._on_change = on_change
        # Redis slots whose release failed: (key, slot_id), in order, released when
        # Redis is back. A dict is an ordered set.
        self._pending_releases: dict[tuple[str, str], None] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- state -----------------------------------------------------------------
    @property
    def degraded(self) -> bool:
        """True while requests are served from the in-process fallback."""
        return self._down and self.on_error == "fail_open"

    @property
    def down(self) -> bool:
        """True from a failed Redis call until one succeeds again (either mode)."""
        return self._down

    def will_try_primary(self) -> bool:
        """Would the next call go to Redis (up, or due for a probe)?"""
        return self._primary_usable()

    def status(self) -> dict[str, object]:
        """For /readyz; no I/O (``ping()`` probes)."""
        return {"store": "redis", "ok": not self._down, "degraded": self.degraded,
                "error": self._error, "on_error": self.on_error}

    def _mark_down(self, exc: StoreError) -> None:
        was_down = self._down
        if not was_down:
            log.warning("redis store unavailable (%s): %s", self.on_error, exc)
        self._down = True
        self._error = str(exc)
        self._retry_at = self._clock() + self.retry_after_s
        if not was_down and self._on_change is not None:
            self._on_change(self.degraded)

    def _mark_up(self) -> None:
        was_down = self._down
        if was_down:
            log.warning("redis store reachable again; leaving degraded mode")
        self._down = False
        self._error = None
        if was_down and self._on_change is not None:
            self._on_change(False)
        if was_down and self._pending_releases:
            task = asyncio.get_running_loop().create_task(self._release_pending())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _defer_release(self, key: str, slot_id: str) -> None:
        if len(self._pending_releases) < MAX_PENDING_RELEASES:
            self._pending_releases[(key, slot_id)] = None

    async def _release_pending(self) -> None:
        while self._pending_releases and not self._down:
            key, slot_id = next(iter(self._pending_releases))
            try:
                await self.primary.slot_release(key, slot_id)
            except StoreError as exc:
                self._mark_down(exc)  # kept: tried again when Redis is back
                return
            self._pending_releases.pop((key, slot_id), None)

    def _primary_usable(self) -> bool:
        return not self._down or (self._clock() >= self._retry_at and not self._probing)

    def _unavailable(self, exc: BaseException | None) -> StoreUnavailable:
        err = StoreUnavailable(f"Redis is unreachable ({self._error or exc}); the gateway is "
                               "configured to fail closed, so requests are refused until "
                               "it is back.")
        err.__cause__ = exc
        return err

    async def _route(self, on_primary: Callable[[], Awaitable[T]],
                     on_fallback: Callable[[], Awaitable[T]]) -> T:
        failure: StoreError | None = None
        if self._primary_usable():
            probing = self._down
            self._probing = self._probing or probing
            try:
                result = await on_primary()
            except StoreError as exc:
                self._mark_down(exc)
                failure = exc
            else:
                self._mark_up()
                return result
            finally:
                if probing:
                    self._probing = False
        if self.on_error == "fail_closed":
            raise self._unavailable(failure)
        return await on_fallback()

    # -- rate limits -----------------------------------------------------------
    async def rate_acquire(self, bucket_key: str, checks: list[RateCheck],
                           now: float | None = None, *, consume: bool = True) -> RateDecision:
        return await self._route(
            lambda: self.primary.rate_acquire(bucket_key, checks, now, consume=consume),
            lambda: self.fallback.rate_acquire(bucket_key, checks, now, consume=consume))

    async def rate_adjust(self, bucket_key: str, name: str, limit: float, period_s: float,
                          delta: float, now: float | None = None, *,
                          kind: RateKind = "gcra") -> LimitState:
        return await self._route(
            lambda: self.primary.rate_adjust(bucket_key, name, limit, period_s, delta, now,
                                             kind=kind),
            lambda: self.fallback.rate_adjust(bucket_key, name, limit, period_s, delta, now,
                                              kind=kind))

    async def admit(self, bucket_key: str, checks: list[RateCheck], now: float | None = None,
                    *, slot_id: str | None = None, slot_limit: int = 0,
                    slot_ttl_s: float = 0.0) -> RateDecision:
        home: list[Literal["primary", "fallback"]] = []

        async def on(where: Literal["primary", "fallback"]) -> RateDecision:
            store = self.primary if where == "primary" else self.fallback
            decision = await store.admit(bucket_key, checks, now, slot_id=slot_id,
                                         slot_limit=slot_limit, slot_ttl_s=slot_ttl_s)
            home.append(where)
            return decision

        decision = await self._route(lambda: on("primary"), lambda: on("fallback"))
        if slot_id is not None and decision.allowed:
            self._slot_home[(bucket_key, slot_id)] = home[-1]
        return decision

    async def settle(self, bucket_key: str, adjusts: list[RateAdjust],
                     now: float | None = None, *, slot_id: str | None = None) -> None:
        """Settled where the slot was taken. A Redis slot that cannot be released now is
        released when Redis is back; its corrections are lost (logged by the caller)."""
        if slot_id is None:
            await self._route(lambda: self.primary.settle(bucket_key, adjusts, now),
                              lambda: self.fallback.settle(bucket_key, adjusts, now))
            return
        await self._at_slot_home(
            bucket_key, slot_id,
            lambda store: store.settle(bucket_key, adjusts, now, slot_id=slot_id))

    async def _at_slot_home(self, key: str, slot_id: str,
                            call: Callable[[Any], Awaitable[T]]) -> T:
        """``call`` on the store the slot was taken in, which then forgets it. A Redis
        slot that cannot be released now (Redis down or failing) is released when Redis
        is back, and ``StoreError`` is raised."""
        if self._slot_home.pop((key, slot_id), None) == "fallback":
            return await call(self.fallback)
        if not self._primary_usable():
            self._defer_release(key, slot_id)
            raise StoreError(f"redis is down ({self._error}); slot release deferred")
        try:
            result = await call(self.primary)
        except StoreError as exc:
            self._defer_release(key, slot_id)
            self._mark_down(exc)
            raise
        self._mark_up()
        return result

    # -- concurrency slots -----------------------------------------------------
    async def slot_refresh(self, key: str, slot_id: str, ttl_s: float,
                           now: float | None = None) -> bool:
        if self._slot_home.get((key, slot_id)) == "fallback":
            return await self.fallback.slot_refresh(key, slot_id, ttl_s, now)
        if not self._primary_usable():
            return False
        try:
            return await self.primary.slot_refresh(key, slot_id, ttl_s, now)
        except StoreError as exc:
            self._mark_down(exc)
            return False

    async def slot_release(self, key: str, slot_id: str) -> bool:
        try:
            return await self._at_slot_home(key, slot_id,
                                            lambda store: store.slot_release(key, slot_id))
        except StoreError:
            return False  # deferred: released when Redis is back

    async def slot_count(self, key: str, now: float | None = None) -> int:
        return await self._route(lambda: self.primary.slot_count(key, now),
                                 lambda: self.fallback.slot_count(key, now))

    # -- cache (bypassed while degraded) -----------------------------------------
    async def cache_get(self, key: str) -> bytes | None:
        async def miss() -> None:
            return None
        return await self._route(lambda: self.primary.cache_get(key), miss)

    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None:
        async def drop() -> None:
            return None
        await self._route(lambda: self.primary.cache_set(key, value, ttl_s), drop)

    # -- key-value state (Redis only: see README.md, "Key-value state") ----------
    def _kv_unavailable(self) -> StoreUnavailable:
        return StoreUnavailable(f"Redis is unreachable ({self._error}); the state this "
                                "request needs (stored responses) is kept there: retry "
                                "when it is back.")

    async def _no_fallback(self) -> Any:
        raise self._kv_unavailable()

    async def _kv(self, on_primary: Callable[[], Awaitable[T]]) -> T:
        """Redis, never the in-process fallback (state kept there would be seen by one
        replica and lost from view when Redis is back): while Redis is unreachable, a
        ``StoreUnavailable`` (503) in both modes."""
        try:
            return await self._route(on_primary, self._no_fallback)
        except StoreUnavailable as exc:
            raise self._kv_unavailable() from exc.__cause__

    async def kv_get(self, key: str) -> bytes | None:
        return await self._kv(lambda: self.primary.kv_get(key))

    async def kv_set(self, key: str, value: bytes, ttl_s: float) -> None:
        """fail_open: a write Redis cannot take is dropped (logged), so the answer it
        belongs to still reaches its client; fail_closed: ``StoreUnavailable``."""
        try:
            await self._kv(lambda: self.primary.kv_set(key, value, ttl_s))
        except StoreUnavailable:
            if self.on_error == "fail_closed":
                raise
            log.warning("redis is unreachable: key-value entry %s not stored", key)

    async def kv_delete(self, key: str) -> bool:
        return await self._kv(lambda: self.primary.kv_delete(key))

    # -- lifecycle -------------------------------------------------------------
    async def ping(self) -> bool:
        """Probe Redis now, whatever the back-off, and update the state."""
        if await self.primary.ping():
            self._mark_up()
            return True
        self._mark_down(StoreError(self._error or "redis ping failed"))
        return False

    async def close(self) -> None:
        await self.primary.close()
        await self.fallback.close()
