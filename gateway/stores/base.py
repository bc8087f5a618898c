"""The store interface shared by rate limiting and the response cache.

One protocol, two implementations: ``MemoryStore`` (one process) and ``RedisStore``
(shared by every replica, exact across them). ``ResilientStore`` wraps the two.

Rate limits
-----------
Each limit is a GCRA bucket kept in its equivalent "leaky bucket as a meter" form:
we store the bucket's *level* (cost units in use) and the time it was measured.
GCRA's theoretical arrival time is ``ts + level * period / limit``; storing the level
instead keeps integer costs exact in doubles, so "exactly N of M" holds (a 1e-9
relative tolerance only absorbs rounding of fractional costs such as USD). An idle
bucket admits ``limit`` units at once (burst = limit), then refills continuously at
``limit / period`` per second.

``kind="fixed"`` is an epoch-aligned window (``floor(now / period)``); with
``period_s=86400`` that is the UTC calendar day, which the daily USD budget uses.
Money is billed and reported per day, so "spent today" and "resets at 00:00 UTC"
are what operators and clients can reason about. A rolling GCRA would refill a few
cents every few minutes, so an exhausted key never gets a clear "out until X", and
neither option bounds every sliding 24 h to one budget anyway (GCRA allows burst +
refill, the calendar day allows spend on both sides of midnight).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

RateKind = Literal["gcra", "fixed"]


class StoreError(Exception):
    """Any failure of the backing store (connection, timeout, protocol, script)."""


@dataclass(frozen=True, slots=True)
class RateCheck:
    """One limit a request must pass, e.g. ``RateCheck("rpm", 60, 60.0, 1)``."""

    name: str          # "rpm" | "tpm" | "budget_usd" | ... (also the key suffix)
    limit: float       # units per period (also the burst)
    period_s: float
    cost: float        # units this request consumes (1 for rpm, tokens for tpm, USD)
    kind: RateKind = "gcra"

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.period_s <= 0 or self.cost < 0:
            raise ValueError(f"invalid rate check {self!r}")


@dataclass(frozen=True, slots=True)
class RateAdjust:
    """A correction of one limit once the real usage is known (negative = refund)."""

    name: str
    limit: float
    period_s: float
    delta: float
    kind: RateKind = "gcra"


# ``RateDecision.limited_by`` when a request is refused because its key's concurrency
# slots are all held (``Store.admit`` with a slot).
CONCURRENCY = "concurrency"


@dataclass(frozen=True, slots=True)
class LimitState:
    name: str
    limit: float
    remaining: float   # units left right now (after this request, if admitted)
    reset_s: float     # seconds until the bucket is back to full (window end for fixed)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limited_by: str | None = None
    retry_after_s: float = 0.0   # math.inf when the cost alone exceeds the limit
    states: list[LimitState] = field(default_factory=list)

    def state(self, name: str) -> LimitState | None:
        return next((s for s in self.states if s.name == name), None)


@runtime_checkable
class Store(Protocol):
    """Async store. ``now`` (seconds) overrides the clock; tests use it, production
    leaves it ``None`` (Redis then uses its server clock, memory the local clock)."""

    backend: str

    async def rate_acquire(self, bucket_key: str, checks: list[RateCheck],
                           now: float | None = None, *, consume: bool = True) -> RateDecision:
        """Admit only if every check allows; then consume from all, else from none.
        ``consume=False`` answers the same question without changing anything."""
        ...

    async def rate_adjust(self, bucket_key: str, name: str, limit: float, period_s: float,
                          delta: float, now: float | None = None, *,
                          kind: RateKind = "gcra") -> LimitState:
        """Add ``delta`` (negative = refund, floored at an empty bucket)."""
        ...

    async def admit(self, bucket_key: str, checks: list[RateCheck], now: float | None = None,
                    *, slot_id: str | None = None, slot_limit: int = 0,
                    slot_ttl_s: float = 0.0) -> RateDecision:
        """``rate_acquire`` plus, with ``slot_id``, a concurrency slot of ``bucket_key``,
        atomically: a full slot set refuses first (``limited_by == CONCURRENCY``, nothing
        charged); the slot is taken only if every check admits. One round trip."""
        ...

    async def settle(self, bucket_key: str, adjusts: list[RateAdjust],
                     now: float | None = None, *, slot_id: str | None = None) -> None:
        """Apply ``rate_adjust`` for each of ``adjusts`` and release ``slot_id``, in one
        round trip (the end of an admitted request)."""
        ...

    async def slot_refresh(self, key: str, slot_id: str, ttl_s: float,
                           now: float | None = None) -> bool: ...

    async def slot_release(self, key: str, slot_id: str) -> bool: ...

    async def slot_count(self, key: str, now: float | None = None) -> int: ...

    async def cache_get(self, key: str) -> bytes | None: ...

    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    # Key-value state that is not a cache (stored Responses): its own namespace, so a
    # cache key can never read or overwrite it, and its own outage rule in
    # ``ResilientStore`` (see README.md, "Key-value state").
    async def kv_get(self, key: str) -> bytes | None: ...

    async def kv_set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Stored once the call returns (a reader on any replica finds it); a
        ``ttl_s`` <= 0 stores nothing."""
        ...

    async def kv_delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


# Shared by both implementations so they answer identically.
EPS = 1e-9


def fits(level: float, cost: float, limit: float) -> bool:
    return level + cost <= limit + EPS * max(1.0, limit)
