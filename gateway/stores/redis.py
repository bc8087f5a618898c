"""Redis store: exact rate limits and a shared cache across every gateway replica.

URLs
  redis://[user:pass@]host:port[/db]      standalone
  rediss://...                            standalone over TLS (ssl_* kwargs pass through)
  redis+cluster://host:port               Redis Cluster, seeded from one node
  rediss+cluster://host:port              Redis Cluster over TLS
  ...?cluster=true                        same as the +cluster scheme (for config systems
                                          that only allow redis:// and rediss://)

Every rate/slot operation is one Lua script (``rate.lua``, ``slot.lua`` beside this
file; a request's admission, its limits and its slot together, is one ``rate.lua`` call,
and so is its settlement) run by EVALSHA: loaded once with SCRIPT LOAD, reloaded if the
server answers NOSCRIPT (restart, failover, SCRIPT FLUSH). Scripts read the server clock (TIME) unless
the caller passes ``now``, so replicas with skewed clocks still share one timeline.

Key layout (prefix ``gw:`` by default; ``{...}`` is the cluster hash tag)
  gw:{<bucket>}:rl:<limit name>   hash {l, t}   one per limit of a bucket
  gw:{<key>}:slots                zset          slot_id -> expires_at
  gw:c:<cache key>                string        compressed cached response
  gw:kv:<key>                     string        key-value state (stored Responses)

Every redis-py error is raised as ``StoreError``; nothing else leaves this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from .base import (
    CONCURRENCY,
    LimitState,
    RateAdjust,
    RateCheck,
    RateDecision,
    RateKind,
    StoreError,
)
from .resp import RespClient

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}


def parse_store_url(url: str) -> tuple[str, bool]:
    """Split the gateway's URL into (plain redis-py URL, is_cluster)."""
    parts = urlsplit(url)
    scheme, cluster = parts.scheme.lower(), False
    if scheme.endswith("+cluster"):
        scheme, cluster = scheme.removesuffix("+cluster"), True
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "cluster":
            cluster = value.lower() in _TRUE
        else:
            query.append((name, value))
    if scheme not in ("redis", "rediss"):
        raise ValueError(f"unsupported store URL scheme {parts.scheme!r}: use redis://, "
                         "rediss://, redis+cluster:// or rediss+cluster://")
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), "")), cluster


class _Script:
    def __init__(self, name: str) -> None:
        self.name = name
        self.text = (resources.files(__package__) / f"{name}.lua").read_text()
        self.sha = hashlib.sha1(self.text.encode()).hexdigest()


_RATE = _Script("rate")
_SLOT = _Script("slot")
_TIME = "return redis.call('TIME')"
# How long a measured server clock offset is trusted, and how long before the
# caller gives up a call stops writing (the offset is measured at its lowest possible
# value, so the margin covers clock granularity and timer slack): a call that runs
# after the caller gave up never writes. (One that runs in that last moment answers
# 'stale' and counts as a failed call.)
OFFSET_TTL_S, FENCE_MARGIN_S = 60.0, 0.05


def _store_error(exc: BaseException) -> StoreError:
    return StoreError(f"redis {type(exc).__name__}: {exc}")


def _f(x: bytes | str) -> float:
    return float(x)


class RedisStore:
    backend = "redis"

    def __init__(self, client: aioredis.Redis | RedisCluster | RespClient, *, prefix: str = "gw:",
                 deadline_s: float = 0.5, cluster: bool = False,
                 read_timeout_s: float | None = None) -> None:
        self._r: Any = client
        self.prefix = prefix
        self.cluster = cluster
        # Hard cap on one operation, including a reconnect: socket timeouts alone
        # could add up (connect + handshake + command) on a half-dead server.
        self.deadline_s = deadline_s
        # The client's socket timeout: a reply not read within it is given up on.
        self.read_timeout_s = read_timeout_s or deadline_s
        self._resp = isinstance(client, RespClient)
        self._loaded: set[str] = set()
        self._offset: float | None = None  # server clock - local clock, seconds
        self._offset_until = 0.0
        self._offset_task: asyncio.Future[float] | None = None

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.25, deadline_s: float | None = None,
                 max_connections: int = 64, prefix: str = "gw:", client: str = "auto",
                 **redis_kwargs: Any) -> RedisStore:
        """``redis_kwargs`` as redis-py names them (``ssl_ca_certs``, ``ssl_certfile``,
        ``ssl_keyfile``, ``ssl_cert_reqs``, ``password``, ``client_name`` ...). A standalone
        server is spoken to by ``RespClient`` (pipelined, see resp.py) unless an option
        only redis-py knows is given, or ``client="redis-py"``; Redis Cluster always uses
        redis-py."""
        if client not in ("auto", "redis-py"):
            raise ValueError(f"client must be 'auto' or 'redis-py', not {client!r}")
        plain, cluster = parse_store_url(url)
        opts: dict[str, Any] = {
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            # redis-py retries 3x with back-off by default; a rate-limit check must
            # fail fast instead, and ResilientStore decides what failing means.
            "retry": Retry(NoBackoff(), 0),
            **redis_kwargs,
        }
        conn: aioredis.Redis | RedisCluster | RespClient
        if client == "auto" and not cluster and RespClient.supports(plain, redis_kwargs):
            # The hot path: pipelined, one connection (see resp.py).
            conn = RespClient.from_url(plain, **{"socket_timeout": timeout_s,
                                                   "socket_connect_timeout": timeout_s,
                                                   **redis_kwargs})
        elif cluster:
            conn = RedisCluster.from_url(plain, max_connections=max_connections, **opts)
        else:
            # Blocking pool: a burst waits (up to timeout_s) for a free connection
            # instead of failing with "Too many connections".
            pool = aioredis.BlockingConnectionPool.from_url(
                plain, max_connections=max_connections, timeout=timeout_s, **opts)
            conn = aioredis.Redis.from_pool(pool)
        return cls(conn, prefix=prefix, cluster=cluster,
                   deadline_s=deadline_s if deadline_s is not None else 2 * timeout_s,
                   read_timeout_s=opts["socket_timeout"])

    @property
    def client(self) -> Any:
        return self._r

    # -- plumbing --------------------------------------------------------------
    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """One command, every failure a ``StoreError``; bounded by the deadline, or by
        the read timeout alone on the pipelined client's live connection (``_fast``)."""
        try:
            if self._fast():
                return await fn()
            async with asyncio.timeout(self.deadline_s):
                return await fn()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            raise _store_error(exc) from exc

    def _fast(self) -> bool:
        """One command on the pipelined client's live connection: its reply is bounded
        by the read timeout (at most the deadline), so no deadline timer is needed."""
        return self._resp and self._r.connected

    async def _eval(self, script: _Script, keys: list[str], args: list[Any], *,
                    fence_at: int | None = None, later: bool = False) -> Any:
        """EVALSHA ``script``. ``fence_at``: the index in ``args`` that gets the server
        time after which the call must not write (see ``_fence``). ``later``: nobody
        waits for it (written with the next command; pipelined client only). This runs
        twice per request with limits: the usual case (connected, script loaded, clock
        offset known) is one command and no timer."""
        r = self._r
        offset = self._offset
        if (self._fast() and script.name in self._loaded
                and (fence_at is None
                     or (offset is not None and time.monotonic() < self._offset_until))):
            if fence_at is not None:
                assert offset is not None
                args[fence_at] = self._fence_arg(time.time() + self.deadline_s, offset)
            try:
                if later:
                    return await r.execute_later("EVALSHA", script.sha, len(keys), *keys,
                                                 *args)
                return await r.execute("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                self._loaded.discard(script.name)  # the slow path loads it again
            except (RedisError, OSError) as exc:
                raise _store_error(exc) from exc
        gives_up_at = time.time() + self.deadline_s
        try:
            async with asyncio.timeout(self.deadline_s):
                if script.name not in self._loaded:
                    await r.script_load(script.text)  # every primary, on a cluster
                    self._loaded.add(script.name)
                if fence_at is not None:
                    args[fence_at] = await self._fence(gives_up_at)
                try:
                    return await r.evalsha(script.sha, len(keys), *keys, *args)
                except NoScriptError:
                    # The server lost its script cache (restart, failover, SCRIPT FLUSH).
                    await r.script_load(script.text)
                    if fence_at is not None:
                        args[fence_at] = await self._fence(gives_up_at)
                    return await r.evalsha(script.sha, len(keys), *keys, *args)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            raise _store_error(exc) from exc

    def _fence_arg(self, gives_up_at: float, offset: float) -> str:
        # The pipelined client gives up on a command when the oldest one ahead of it
        # times out, which can be sooner than this command's own read timeout.
        wait = self._r.gives_up_in() if self._resp else self.read_timeout_s
        local = min(gives_up_at, time.time() + wait)
        return repr(local + offset - FENCE_MARGIN_S)

    async def _fence(self, gives_up_at: float) -> str:
        """The server time after which this call's caller has given up waiting.

        A hung Redis (SIGSTOP, a stall) keeps the commands sent to it in its socket
        and runs them when it wakes, long after we timed out and served the request
        from the fallback: the scripts refuse to write past this time, so such a
        request is neither counted twice nor left holding a concurrency slot. The
        caller gives up at the call's deadline or when the reply is not read within
        the socket timeout of sending, whichever comes first; on the pipelined client,
        also when an older command on the same connection times out.
        """
        offset = self._offset
        if offset is None or time.monotonic() >= self._offset_until:
            # One measurement at a time, shared by every call that needs it (a burst
            # at start-up must not open a connection each just to read the clock).
            if self._offset_task is None or self._offset_task.done():
                self._offset_task = asyncio.ensure_future(self._measure_offset())
                self._offset_task.add_done_callback(
                    lambda t: t.cancelled() or t.exception())  # retrieved, never "lost"
            if offset is None:
                offset = await asyncio.shield(self._offset_task)
        return self._fence_arg(gives_up_at, offset)

    async def _measure_offset(self) -> float:
        """Server clock minus local clock, taken at its lowest possible value: the
        server read its clock somewhere between sending and reading the reply, so
        ``server - t1`` never overstates it, however slow the round trip (a loaded
        event loop can take far longer than the fence margin to read a reply). An
        understated offset only moves the fence earlier, which is the safe side."""
        offset = -math.inf
        async with asyncio.timeout(self.deadline_s):
            for _ in range(2):  # again if the first sample paid for a (re)connect
                t0 = time.time()
                sec, usec = await self._r.eval(_TIME, 0)
                t1 = time.time()
                offset = max(offset, int(sec) + int(usec) / 1e6 - t1)
                if t1 - t0 < 0.005:
                    break
        self._offset, self._offset_until = offset, time.monotonic() + OFFSET_TTL_S
        return offset

    def rate_key(self, bucket_key: str, name: str) -> str:
        return f"{self.prefix}{{{bucket_key}}}:rl:{name}"

    def slot_key(self, key: str) -> str:
        return f"{self.prefix}{{{key}}}:slots"

    def cache_key(self, key: str) -> str:
        return f"{self.prefix}c:{key}"

    def kv_key(self, key: str) -> str:
        return f"{self.prefix}kv:{key}"

    @staticmethod
    def _now_arg(now: float | None) -> str:
        return "" if now is None else repr(float(now))

    # -- rate limits -----------------------------------------------------------
    async def rate_acquire(self, bucket_key: str, checks: list[RateCheck],
                           now: float | None = None, *, consume: bool = True) -> RateDecision:
        if not checks:
            return RateDecision(True)
        return await self._acquire(bucket_key, checks, now, "acquire" if consume else "peek")

    async def admit(self, bucket_key: str, checks: list[RateCheck], now: float | None = None,
                    *, slot_id: str | None = None, slot_limit: int = 0,
                    slot_ttl_s: float = 0.0) -> RateDecision:
        if slot_id is None:
            return await self.rate_acquire(bucket_key, checks, now)
        return await self._acquire(bucket_key, checks, now, "acquire",
                                   (slot_id, repr(float(slot_ttl_s)), int(slot_limit)))

    async def _run_rate(self, bucket_key: str, limits: list[RateCheck] | list[RateAdjust],
                        now: float | None, mode: str,
                        slot: tuple[str, str, int] = ("", "", 0), *,
                        later: bool = False) -> Any:
        """One rate.lua call: ``limits`` (checks, or corrections in mode 'adjust') and the
        slot ``(slot_id, ttl_s, limit)`` if ``slot_id``. Fenced when it charges (see
        ``_fence``); a late correction still belongs to the bucket it corrects."""
        keys = [self.rate_key(bucket_key, x.name) for x in limits]
        if slot[0]:
            keys.append(self.slot_key(bucket_key))
        args: list[Any] = [self._now_arg(now), mode, "", *slot]
        for x in limits:
            amount = x.delta if isinstance(x, RateAdjust) else x.cost
            args += [repr(float(x.limit)), repr(float(x.period_s)), repr(float(amount)), x.kind]
        return await self._eval(_RATE, keys, args, later=later,
                                fence_at=2 if mode == "acquire" and now is None else None)

    async def _acquire(self, bucket_key: str, checks: list[RateCheck], now: float | None,
                       mode: str, slot: tuple[str, str, int] = ("", "", 0)) -> RateDecision:
        out = await self._run_rate(bucket_key, checks, now, mode, slot)
        if out in (b"stale", "stale"):
            raise StoreError("redis ran the rate check after its deadline; nothing charged")
        allowed, worst = out[0] in (b"1", "1"), int(out[1])
        if worst == -1:
            return RateDecision(False, CONCURRENCY, _f(out[2]))
        states = [LimitState(c.name, c.limit, _f(out[3 + 2 * i]), _f(out[4 + 2 * i]))
                  for i, c in enumerate(checks)]
        return RateDecision(allowed, None if allowed else checks[worst - 1].name,
                            0.0 if allowed else _f(out[2]), states)

    async def rate_adjust(self, bucket_key: str, name: str, limit: float, period_s: float,
                          delta: float, now: float | None = None, *,
                          kind: RateKind = "gcra") -> LimitState:
        out = await self._run_rate(bucket_key, [RateAdjust(name, limit, period_s, delta, kind)],
                                   now, "adjust")
        return LimitState(name, limit, _f(out[3]), _f(out[4]))

    async def settle(self, bucket_key: str, adjusts: list[RateAdjust],
                     now: float | None = None, *, slot_id: str | None = None) -> None:
        # Nobody waits for a settlement: it goes out with the next command (see resp.py).
        if adjusts or slot_id is not None:
            await self._run_rate(bucket_key, adjusts, now, "adjust", (slot_id or "", "", 0),
                                 later=True)

    # -- concurrency slots -----------------------------------------------------
    # A slot is taken by ``admit`` (with or without rate checks), in rate.lua.
    async def slot_refresh(self, key: str, slot_id: str, ttl_s: float,
                           now: float | None = None) -> bool:
        out = await self._eval(_SLOT, [self.slot_key(key)],
                               [self._now_arg(now), "refresh", slot_id, repr(float(ttl_s))])
        return int(out) == 1

    async def slot_release(self, key: str, slot_id: str) -> bool:
        return int(await self._call(lambda: self._r.zrem(self.slot_key(key), slot_id))) == 1

    async def slot_count(self, key: str, now: float | None = None) -> int:
        return int(await self._eval(_SLOT, [self.slot_key(key)],
                                    [self._now_arg(now), "count"]))

    # -- cache -----------------------------------------------------------------
    async def cache_get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self._r.get(self.cache_key(key)))
        return None if value is None else bytes(value)

    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Written after the response it stores was sent: nobody waits for it, so it
        goes out with the next command (see resp.py)."""
        ms = int(ttl_s * 1000)
        if ms <= 0:
            return
        name = self.cache_key(key)
        await self._call(lambda: self._r.execute_later("SET", name, value, "PX", ms)
                         if self._resp else self._r.set(name, value, px=ms))

    # -- key-value state -------------------------------------------------------
    async def kv_get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self._r.get(self.kv_key(key)))
        return None if value is None else bytes(value)

    async def kv_set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Waits for the reply (unlike ``cache_set``): a follow-up sent to another
        replica right after must find the value."""
        ms = int(ttl_s * 1000)
        if ms > 0:
            await self._call(lambda: self._r.set(self.kv_key(key), value, px=ms))

    async def kv_delete(self, key: str) -> bool:
        return bool(await self._call(lambda: self._r.delete(self.kv_key(key))))

    # -- lifecycle -------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            return bool(await self._call(self._r.ping))
        except StoreError:
            return False

    async def close(self) -> None:
        try:
            await self._r.aclose()
        except (RedisError, RedisClusterException, OSError):
            pass  # closing a client whose server is gone must not raise
