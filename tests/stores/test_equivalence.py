"""The Lua scripts and the Python memory store implement the same arithmetic.

Random sequences of acquisitions, peeks and adjustments over injected time must get
identical decisions and states from both stores.
"""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.stores import MemoryStore, RateCheck, RedisStore
from tests.support.redis_server import RedisServer

LIMITS = {"rpm": (3, 60.0, "gcra"), "tpm": (1000, 60.0, "gcra"),
          "budget_usd": (10.0, 86400.0, "fixed")}

op = st.one_of(
    st.tuples(st.just("acquire"), st.booleans(), st.integers(0, 700), st.floats(0, 3),
              st.sampled_from([{"rpm"}, {"tpm"}, {"rpm", "tpm"}, {"budget_usd"},
                               {"rpm", "tpm", "budget_usd"}])),
    st.tuples(st.just("adjust"), st.sampled_from(sorted(LIMITS)), st.floats(-600, 600)),
    st.tuples(st.just("sleep"), st.floats(0, 15)),
)


def checks_for(names: set[str], tokens: int, usd: float) -> list[RateCheck]:
    cost = {"rpm": 1.0, "tpm": float(tokens), "budget_usd": usd}
    return [RateCheck(n, LIMITS[n][0], LIMITS[n][1], cost[n],
                      LIMITS[n][2])  # type: ignore[arg-type]
            for n in sorted(names)]


def close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=4, max_size=30))
@example(ops=[("acquire", True, 600, 4.0, {"rpm", "tpm", "budget_usd"})] * 4 + [("sleep", 7.5)]
         + [("acquire", True, 300, 0.5, {"rpm", "tpm"})] * 3 + [("adjust", "tpm", -450.0)]
         + [("acquire", False, 500, 0.0, {"tpm"}), ("sleep", 2000.0)]
         + [("acquire", True, 100, 3.0, {"budget_usd"})] * 2)
def test_memory_and_redis_agree(redis_server: RedisServer, ops: list[tuple]) -> None:
    async def run() -> None:
        redis = RedisStore.from_url(redis_server.url)
        memory = MemoryStore()
        bucket = uuid.uuid4().hex
        now = 20_000 * 86400.0 + 80_000  # near a UTC midnight, so windows roll over
        try:
            for o in ops:
                if o[0] == "sleep":
                    now += o[1]
                    continue
                if o[0] == "adjust":
                    limit, period, kind = LIMITS[o[1]]
                    a = await memory.rate_adjust(bucket, o[1], limit, period, o[2], now, kind=kind)
                    b = await redis.rate_adjust(bucket, o[1], limit, period, o[2], now, kind=kind)
                    assert close(a.remaining, b.remaining) and close(a.reset_s, b.reset_s)
                    continue
                _, consume, tokens, usd, names = o
                checks = checks_for(names, tokens, usd)
                a = await memory.rate_acquire(bucket, checks, now, consume=consume)
                b = await redis.rate_acquire(bucket, checks, now, consume=consume)
                assert (a.allowed, a.limited_by) == (b.allowed, b.limited_by), o
                assert close(a.retry_after_s, b.retry_after_s)
                for sa, sb in zip(a.states, b.states):
                    assert sa.name == sb.name
                    assert close(sa.remaining, sb.remaining) and close(sa.reset_s, sb.reset_s)
        finally:
            await redis.close()

    asyncio.run(run())
