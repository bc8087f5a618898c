"""Per-key rate limits, concurrency and daily budget; per-provider upstream quotas.

``RateLimiter.admit`` is called before routing with an estimate (prompt tokens +
max_tokens, estimated cost); ``Admission.settle`` corrects tpm and budget with the real
usage afterwards and frees the concurrency slot (one store call each: the admission and
the settlement are one round trip apiece on Redis). The slot is freed exactly once on
every path (``settle``, or ``release`` where nothing is to be corrected). A
refused request consumes nothing.

Limits: rpm and tpm are GCRA over 60 s (burst = the limit, continuous refill); the
USD budget is a UTC calendar day (see ``gateway/stores/base.py`` for why).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import RateLimited, StoreUnavailable
from ..stores.base import CONCURRENCY, RateAdjust, RateCheck, RateDecision, Store, StoreError

log = logging.getLogger("gateway.ratelimit")
MINUTE, DAY = 60.0, 86400.0
_HEADER_SUFFIX = {"rpm": "requests", "tpm": "tokens"}
_DESCRIBE = {"rpm": "requests per minute (rpm)", "tpm": "tokens per minute (tpm)",
             "budget_usd": "daily budget in USD (budget_usd, resets 00:00 UTC)"}
_background: set[asyncio.Future[Any]] = set()  # keeps shielded releases alive
_SLOT_SALT = secrets.token_hex(6)
_slot_seq = itertools.count()


def _slot_id() -> str:
    """Unique across replicas and workers (random salt, pid), cheaper than uuid4."""
    return f"{_SLOT_SALT}{os.getpid():x}.{next(_slot_seq)}"


def fmt_duration(seconds: float) -> str:
    """OpenAI's reset format (Go durations): ``12ms``, ``1s``, ``1.5s``, ``6m0s``, ``1h2m3s``.
    Rounded up to the millisecond so a client waiting that long is never early."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    sec = f"{rest // 1000}" if rest % 1000 == 0 else f"{rest / 1000:.3f}".rstrip("0")
    return f"{h}h{m}m{sec}s" if h else f"{m}m{sec}s" if m else f"{sec}s"


def rate_headers(decision: RateDecision | None) -> dict[str, str]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` from a decision."""
    headers: dict[str, str] = {}
    for st in decision.states if decision else []:
        suffix = _HEADER_SUFFIX.get(st.name)
        if suffix:
            headers[f"x-ratelimit-limit-{suffix}"] = str(int(st.limit))
            headers[f"x-ratelimit-remaining-{suffix}"] = str(math.floor(st.remaining + 1e-9))
            headers[f"x-ratelimit-reset-{suffix}"] = fmt_duration(st.reset_s)
    return headers


def _num(x: float) -> str:
    # 15000 tokens, not 1.5e+04; $0.25, not 0.250000
    return str(int(x)) if float(x).is_integer() else f"{x:.6f}".rstrip("0")


def _refusal(decision: RateDecision, checks: list[RateCheck], *, who: str,
             code: str = "rate_limit_exceeded") -> RateLimited:
    name = decision.limited_by or "?"
    check = next(c for c in checks if c.name == name)
    what = _DESCRIBE.get(name, name)
    headers = rate_headers(decision)
    if math.isinf(decision.retry_after_s):
        # Retrying cannot help: no retry-after, so clients do not loop.
        msg = (f"Request too large for {what} on {who}: it needs {_num(check.cost)} but "
               f"the limit is {_num(check.limit)}. Reduce the prompt or max_tokens.")
    else:
        headers["retry-after"] = str(max(1, math.ceil(decision.retry_after_s - 1e-9)))
        headers["retry-after-ms"] = str(max(1, math.ceil(decision.retry_after_s * 1000 - 1e-6)))
        wait = fmt_duration(decision.retry_after_s)
        if name == "budget_usd":
            msg = (f"Daily budget of ${_num(check.limit)} reached on {who} (this request "
                   f"is estimated at ${_num(check.cost)}). It resets at 00:00 UTC, in {wait}.")
        else:
            msg = (f"Rate limit reached for {what} on {who}: limit {_num(check.limit)}, this "
                   f"request needs {_num(check.cost)}. Please try again in {wait}.")
    err = RateLimited(msg, code=code, headers=headers)
    err.limit_kind = name
    return err


def _concurrency_refusal(limit: int) -> RateLimited:
    err = RateLimited(
        f"Too many concurrent requests for this key: the limit is {limit} in flight. "
        "Retry when one finishes.",
        code="concurrency_limit_exceeded",
        headers={"retry-after": "1", "retry-after-ms": "1000"})
    err.limit_kind = "concurrency"
    return err


@dataclass(frozen=True, slots=True)
class KeyLimits:
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    budget_usd_per_day: float | None = None


async def _shielded(coro: Awaitable[object]) -> None:
    """Run a cleanup to completion even if the caller is being cancelled."""
    task: asyncio.Future[object] = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    await asyncio.shield(task)


async def _release_quietly(store: Store, bucket: str, slot_id: str) -> None:
    try:
        await _shielded(store.slot_release(bucket, slot_id))
    except (StoreError, StoreUnavailable) as exc:
        log.warning("slot release for %s failed (TTL will free it): %s", bucket, exc)


class Admission:
    """One admitted request: its headers, reconciliation and its concurrency slot."""

    def __init__(self, store: Store, bucket: str, limits: KeyLimits,
                 decision: RateDecision | None, slot_id: str | None, est_tokens: int,
                 est_cost_usd: float, clock: Callable[[], float] | None,
                 slot_ttl_s: float = 0.0) -> None:
        self.store, self.bucket, self.limits = store, bucket, limits
        self.decision = decision
        self.slot_id = slot_id
        self.est_tokens, self.est_cost_usd = est_tokens, est_cost_usd
        self._clock = clock
        self._reconciled = False
        self._released = slot_id is None
        # The slot's lease is renewed every third of its TTL while the request lives
        # (a timer, no task, until it fires): the TTL only frees the slots of a
        # replica that died holding them.
        self._ttl = slot_ttl_s
        self._renewal: asyncio.TimerHandle | None = None
        if slot_id is not None and slot_ttl_s > 0:
            self._arm_renewal()

    def _arm_renewal(self) -> None:
        self._renewal = asyncio.get_running_loop().call_later(self._ttl / 3, self._renew)

    def _renew(self) -> None:
        if self._released:
            return
        task = asyncio.ensure_future(self._renew_once())
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _renew_once(self) -> None:
        try:
            if not await self.refresh(self._ttl):
                log.warning("the concurrency slot of %s had lapsed before its renewal",
                            self.bucket)
        except (StoreError, StoreUnavailable) as exc:
            log.warning("renewing the concurrency slot of %s failed: %s", self.bucket, exc)
        if not self._released:
            self._arm_renewal()

    def _stop_renewal(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None

    def headers(self) -> dict[str, str]:
        return rate_headers(self.decision)

    async def settle(self, actual_tokens: int | None, actual_cost_usd: float) -> None:
        """The end of the request: reconcile with the real usage (``None`` keeps the
        estimate) and release the slot, in one store call that completes even if the
        caller is cancelled. A failure is logged, never raised: the response is out."""
        adjusts: list[RateAdjust] = []
        if not self._reconciled and actual_tokens is not None:
            self._reconciled = True
            lim = self.limits
            if lim.tpm and actual_tokens != self.est_tokens:
                adjusts.append(RateAdjust("tpm", lim.tpm, MINUTE, actual_tokens - self.est_tokens))
            if lim.budget_usd_per_day and actual_cost_usd != self.est_cost_usd:
                adjusts.append(RateAdjust("budget_usd", lim.budget_usd_per_day, DAY,
                                          actual_cost_usd - self.est_cost_usd, "fixed"))
        await self._end(adjusts, "settling")

    async def _end(self, adjusts: list[RateAdjust], what: str) -> None:
        """Apply ``adjusts`` and free the slot (if still held), in one store call that
        completes even if the caller is cancelled; a failure is logged."""
        slot_id = None if self._released else self.slot_id
        self._released = True
        self._stop_renewal()
        if not adjusts and slot_id is None:
            return
        now = self._clock() if self._clock else None
        try:
            await _shielded(self.store.settle(self.bucket, adjusts, now, slot_id=slot_id))
        except (StoreError, StoreUnavailable) as exc:
            log.warning("%s %s failed (%s); a held slot is freed by its TTL or when the "
                        "store is back", what, self.bucket, exc)

    def merge(self, decision: RateDecision, est_tokens: int, est_cost_usd: float) -> None:
        """Add a later token admission (``RateLimiter.admit_tokens``) to this one."""
        states = (self.decision.states if self.decision else []) + decision.states
        self.decision = RateDecision(True, states=states)
        self.est_tokens, self.est_cost_usd = est_tokens, est_cost_usd

    async def refresh(self, ttl_s: float) -> bool:
        """Extend the slot's TTL (long streams)."""
        if self._released or self.slot_id is None:
            return False
        now = self._clock() if self._clock else None
        return await self.store.slot_refresh(self.bucket, self.slot_id, ttl_s, now)

    async def refund(self) -> None:
        """Undo an admission that will not be served: its rpm unit back, its slot free."""
        adjusts = [RateAdjust("rpm", self.limits.rpm, MINUTE, -1)] if self.limits.rpm else []
        self._reconciled = True
        await self._end(adjusts, "refunding")

    async def release(self) -> None:
        """Free the concurrency slot; idempotent and completes even under cancellation."""
        if self._released:
            return
        self._released = True
        self._stop_renewal()
        await _release_quietly(self.store, self.bucket, self.slot_id or "")



class RateLimiter:
    def __init__(self, store: Store, limits: KeyLimits | None = None, *,
                 slot_ttl_s: float = 300.0, clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.limits = limits or KeyLimits()
        self.slot_ttl_s = slot_ttl_s
        self._clock = clock  # None: the store's clock (Redis server time)

    @staticmethod
    def bucket_for(tenant: str) -> str:
        return f"t:{tenant}"

    async def in_flight(self, tenant: str) -> int:
        """Concurrency slots currently held by ``tenant`` (for metrics and tests)."""
        now = self._clock() if self._clock else None
        return await self.store.slot_count(self.bucket_for(tenant), now)

    @staticmethod
    def checks(limits: KeyLimits, est_tokens: int, est_cost_usd: float) -> list[RateCheck]:
        out = []
        if limits.rpm:
            out.append(RateCheck("rpm", limits.rpm, MINUTE, 1))
        if limits.tpm:
            out.append(RateCheck("tpm", limits.tpm, MINUTE, max(0, est_tokens)))
        if limits.budget_usd_per_day:
            out.append(RateCheck("budget_usd", limits.budget_usd_per_day, DAY,
                                 max(0.0, est_cost_usd), "fixed"))
        return out

    async def admit(self, tenant: str, est_tokens: int, est_cost_usd: float, *,
                    limits: KeyLimits | None = None) -> Admission:
        """Admit or raise ``RateLimited``; ``limits`` overrides the defaults per key.
        Limits and concurrency slot are checked and taken in one store call."""
        limits = limits or self.limits
        bucket = self.bucket_for(tenant)
        now = self._clock() if self._clock else None
        checks = self.checks(limits, est_tokens, est_cost_usd)
        slot_id = _slot_id() if limits.concurrency else None
        if not checks and slot_id is None:
            return Admission(self.store, bucket, limits, None, None, est_tokens,
                             est_cost_usd, self._clock)
        try:
            decision = await self.store.admit(bucket, checks, now, slot_id=slot_id,
                                              slot_limit=limits.concurrency or 0,
                                              slot_ttl_s=self.slot_ttl_s)
        except BaseException:
            if slot_id:
                # Cancelled or failed mid-call: the script may have run anyway.
                await _release_quietly(self.store, bucket, slot_id)
            raise
        if not decision.allowed:
            if decision.limited_by == CONCURRENCY:
                raise _concurrency_refusal(limits.concurrency or 0)
            raise _refusal(decision, checks, who="this key")
        return Admission(self.store, bucket, limits, decision if checks else None, slot_id,
                         est_tokens, est_cost_usd, self._clock, self.slot_ttl_s)


    async def admit_requests(self, tenant: str, limits: KeyLimits) -> Admission:
        """The checks that need no body: rpm and the concurrency slot (before a body is
        read and parsed). ``admit_tokens`` adds tpm and the budget once it is."""
        adm = await self.admit(tenant, 0, 0.0, limits=KeyLimits(
            rpm=limits.rpm, concurrency=limits.concurrency))
        adm.limits = limits  # settled (tpm, budget) on the whole key's limits
        return adm

    async def admit_tokens(self, adm: Admission, est_tokens: int, est_cost_usd: float) -> None:
        """tpm and budget for a request ``admit_requests`` let in. A refusal gives back
        its rpm unit and its slot (one store call) before it is raised: a refused
        request consumes nothing."""
        lim = adm.limits
        checks = self.checks(KeyLimits(tpm=lim.tpm, budget_usd_per_day=lim.budget_usd_per_day),
                             est_tokens, est_cost_usd)
        if not checks:
            adm.est_tokens, adm.est_cost_usd = est_tokens, est_cost_usd
            return
        now = self._clock() if self._clock else None
        try:
            decision = await self.store.admit(adm.bucket, checks, now)
        except BaseException:
            await adm.refund()
            raise
        if not decision.allowed:
            await adm.refund()
            raise _refusal(decision, checks, who="this key")
        adm.merge(decision, est_tokens, est_cost_usd)


class ProviderAdmission:
    def __init__(self, quota: ProviderQuota, decision: RateDecision, est_tokens: int) -> None:
        self.quota, self.decision, self.est_tokens = quota, decision, est_tokens
        self._reconciled = False

    def headers(self) -> dict[str, str]:
        return rate_headers(self.decision)

    async def reconcile(self, actual_tokens: int) -> None:
        if self._reconciled or not self.quota.tpm or actual_tokens == self.est_tokens:
            return
        self._reconciled = True
        now = self.quota._clock() if self.quota._clock else None
        try:
            await self.quota.store.rate_adjust(self.quota.bucket, "tpm", self.quota.tpm, MINUTE,
                                               actual_tokens - self.est_tokens, now)
        except (StoreError, StoreUnavailable) as exc:
            log.warning("provider reconcile for %s lost: %s", self.quota.provider, exc)


class ProviderQuota:
    """The upstream account's rpm/tpm, shared by all replicas, so routing can skip a
    provider before the provider answers 429."""

    def __init__(self, store: Store, provider: str, *, rpm: int | None = None,
                 tpm: int | None = None, clock: Callable[[], float] | None = None) -> None:
        self.store, self.provider, self.rpm, self.tpm = store, provider, rpm, tpm
        self.bucket = f"p:{provider}"
        self._clock = clock

    def _checks(self, est_tokens: int) -> list[RateCheck]:
        return RateLimiter.checks(KeyLimits(rpm=self.rpm, tpm=self.tpm), est_tokens, 0.0)

    async def admit(self, est_tokens: int) -> ProviderAdmission:
        checks = self._checks(est_tokens)
        now = self._clock() if self._clock else None
        decision = (await self.store.rate_acquire(self.bucket, checks, now) if checks
                    else RateDecision(True))
        if not decision.allowed:
            raise _refusal(decision, checks, who=f"provider {self.provider}",
                           code="provider_quota_exhausted")
        return ProviderAdmission(self, decision, est_tokens)
