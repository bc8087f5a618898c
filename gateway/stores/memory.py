"""In-process store: the same semantics as ``RedisStore`` for a single process.

Used on its own for single-replica deployments and tests, and as ``ResilientStore``'s
fallback when Redis is down. Every method is ``async`` but never awaits, so each call
runs to completion without yielding: atomic with respect to other asyncio tasks on
the same loop (not thread-safe; the gateway runs one loop per process).

Memory stays bounded: buckets that have drained back to "empty" are the same as absent
and are swept; expired slots, cache and key-value entries are dropped; the cache and the
key-value state are each an LRU capped by total bytes.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from .base import CONCURRENCY, LimitState, RateAdjust, RateCheck, RateDecision, RateKind, fits


def measure(level: float, t: float | None, now: float, limit: float, period: float,
            kind: RateKind) -> tuple[float, float]:
    """Bring a stored (level, t) forward to ``now``; returns (level now, new t).

    For GCRA ``t`` is when ``level`` was measured; for a fixed window it is the
    window's index. The Lua scripts implement the same arithmetic.
    """
    if kind == "fixed":
        win = float(math.floor(now / period))
        return (level if t == win else 0.0), win
    if t is None:
        return 0.0, now
    # A clock that went backwards (another replica's skew in client-clock mode) drains
    # nothing, and t never moves back, so no interval is drained twice.
    drained = max(0.0, now - t) * limit / period
    return max(0.0, level - drained), max(t, now)


def reset_after(level: float, t: float, now: float, limit: float, period: float,
                kind: RateKind) -> float:
    if kind == "fixed":
        return (t + 1) * period - now
    return level * period / limit


def wait_for(level: float, cost: float, t: float, now: float, limit: float, period: float,
             kind: RateKind) -> float:
    if not fits(0.0, cost, limit):
        return math.inf  # the request alone is larger than the limit
    if kind == "fixed":
        return (t + 1) * period - now
    return max(0.0, (level + cost - limit) * period / limit)


class _Lru:
    """Values with a TTL, capped by total bytes: past the cap the least recently used go
    first; a value larger than the cap is not kept."""

    __slots__ = ("bytes", "entries", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # -> (v, exp)
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str, now: float) -> bytes | None:
        hit = self.entries.get(key)
        if hit is None:
            return None
        if hit[1] <= now:
            self.drop(key)
            return None
        self.entries.move_to_end(key)
        return hit[0]

    def set(self, key: str, value: bytes, ttl_s: float, now: float) -> None:
        self.drop(key)
        if ttl_s <= 0 or len(value) > self.max_bytes:
            return
        self.entries[key] = (value, now + ttl_s)
        self.bytes += len(value)
        while self.bytes > self.max_bytes:
            self.drop(next(iter(self.entries)))  # least recently used first

    def delete(self, key: str, now: float) -> bool:
        hit = self.entries.get(key)
        self.drop(key)
        return hit is not None and hit[1] > now

    def drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old[0])

    def sweep(self, now: float) -> None:
        for key in [k for k, (_, exp) in self.entries.items() if exp <= now]:
            self.drop(key)

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


class MemoryStore:
    backend = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 cache_max_bytes: int = 64 * 1024 * 1024,
                 kv_max_bytes: int = 64 * 1024 * 1024) -> None:
        # Wall clock, not monotonic: fixed windows must align to UTC days.
        self._clock = clock
        self._rates: dict[tuple[str, str], list[float]] = {}   # -> [level, t, expires_at]
        self._slots: dict[str, dict[str, float]] = {}          # -> {slot_id: expires_at}
        self._cache = _Lru(cache_max_bytes)
        self._kv = _Lru(kv_max_bytes)
        self._ops = 0

    # -- rate limits -----------------------------------------------------------
    async def rate_acquire(self, bucket_key: str, checks: list[RateCheck],
                           now: float | None = None, *, consume: bool = True) -> RateDecision:
        now = self._now(now)
        measured: list[tuple[float, float]] = []
        worst: tuple[float, str] | None = None
        for c in checks:
            st = self._rates.get((bucket_key, c.name))
            level, t = measure(st[0] if st else 0.0, st[1] if st else None, now,
                               c.limit, c.period_s, c.kind)
            measured.append((level, t))
            if not fits(level, c.cost, c.limit):
                wait = wait_for(level, c.cost, t, now, c.limit, c.period_s, c.kind)
                if worst is None or wait > worst[0]:
                    worst = (wait, c.name)
        allowed = worst is None
        states = []
        for c, (level, t) in zip(checks, measured):
            if allowed and consume:
                level += c.cost
            reset = reset_after(level, t, now, c.limit, c.period_s, c.kind)
            if allowed and consume:
                self._rates[(bucket_key, c.name)] = [level, t, now + reset]
            states.append(LimitState(c.name, c.limit, max(0.0, c.limit - level), reset))
        if worst is None:
            return RateDecision(True, None, 0.0, states)
        return RateDecision(False, worst[1], worst[0], states)

    async def rate_adjust(self, bucket_key: str, name: str, limit: float, period_s: float,
                          delta: float, now: float | None = None, *,
                          kind: RateKind = "gcra") -> LimitState:
        now = self._now(now)
        st = self._rates.get((bucket_key, name))
        level, t = measure(st[0] if st else 0.0, st[1] if st else None, now, limit, period_s,
                           kind)
        level = max(0.0, level + delta)
        reset = reset_after(level, t, now, limit, period_s, kind)
        self._rates[(bucket_key, name)] = [level, t, now + reset]
        return LimitState(name, limit, max(0.0, limit - level), reset)

    # Neither awaits anything: each runs to completion, atomic like the Lua script.
    async def admit(self, bucket_key: str, checks: list[RateCheck], now: float | None = None,
                    *, slot_id: str | None = None, slot_limit: int = 0,
                    slot_ttl_s: float = 0.0) -> RateDecision:
        now = self._now(now)
        if slot_id is not None:
            slots = self._live_slots(bucket_key, now)
            if slot_id not in slots and len(slots) >= slot_limit:
                return RateDecision(False, CONCURRENCY, 1.0)
        decision = await self.rate_acquire(bucket_key, checks, now)
        if slot_id is not None and decision.allowed:
            slots[slot_id] = now + slot_ttl_s
            self._slots[bucket_key] = slots
        return decision

    async def settle(self, bucket_key: str, adjusts: list[RateAdjust],
                     now: float | None = None, *, slot_id: str | None = None) -> None:
        for a in adjusts:
            await self.rate_adjust(bucket_key, a.name, a.limit, a.period_s, a.delta, now,
                                   kind=a.kind)
        if slot_id is not None:
            await self.slot_release(bucket_key, slot_id)

    # -- concurrency slots -----------------------------------------------------
    def _live_slots(self, key: str, now: float) -> dict[str, float]:
        slots = self._slots.get(key, {})
        for sid in [s for s, exp in slots.items() if exp <= now]:
            del slots[sid]
        return slots

    async def slot_refresh(self, key: str, slot_id: str, ttl_s: float,
                           now: float | None = None) -> bool:
        now = self._now(now)
        slots = self._live_slots(key, now)
        if slot_id not in slots:
            return False
        slots[slot_id] = now + ttl_s
        return True

    async def slot_release(self, key: str, slot_id: str) -> bool:
        slots = self._slots.get(key)
        if not slots or slots.pop(slot_id, None) is None:
            return False
        if not slots:
            del self._slots[key]
        return True

    async def slot_count(self, key: str, now: float | None = None) -> int:
        return len(self._live_slots(key, self._now(now)))

    # -- cache and key-value state ---------------------------------------------
    async def cache_get(self, key: str) -> bytes | None:
        return self._cache.get(key, self._now(None))

    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._cache.set(key, value, ttl_s, self._now(None))

    async def kv_get(self, key: str) -> bytes | None:
        return self._kv.get(key, self._now(None))

    async def kv_set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._kv.set(key, value, ttl_s, self._now(None))

    async def kv_delete(self, key: str) -> bool:
        return self._kv.delete(key, self._now(None))

    # -- housekeeping ----------------------------------------------------------
    def _now(self, now: float | None) -> float:
        now = self._clock() if now is None else now
        self._tick(now)
        return now

    def _tick(self, now: float) -> None:
        # Sweep once per max(1024, size) operations: amortised O(1) per call.
        self._ops += 1
        if self._ops < max(1024, len(self._rates) + len(self._slots) + len(self._cache)
                           + len(self._kv)):
            return
        self._ops = 0
        for k in [k for k, st in self._rates.items() if st[2] <= now]:
            del self._rates[k]
        for key in list(self._slots):
            if not self._live_slots(key, now):
                del self._slots[key]
        self._cache.sweep(now)
        self._kv.sweep(now)

    def sizes(self) -> dict[str, int]:
        """Entry counts, for tests and metrics."""
        return {"rates": len(self._rates), "slots": len(self._slots),
                "cache": len(self._cache), "cache_bytes": self._cache.bytes,
                "kv": len(self._kv), "kv_bytes": self._kv.bytes}

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._rates.clear()
        self._slots.clear()
        self._cache.clear()
        self._kv.clear()
