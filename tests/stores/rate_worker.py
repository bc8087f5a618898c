"""Subprocess for the cross-process exactness test (not collected by pytest).

usage: python -m tests.stores.rate_worker URL BUCKET LIMIT ATTEMPTS
Connects and loads the scripts, prints "ready", waits for a line on stdin (so all
workers fire together), fires ATTEMPTS concurrent acquisitions, prints JSON counts.
"""

from __future__ import annotations

import asyncio
import json
import sys

from gateway.stores import RateCheck, RedisStore


async def main(url: str, bucket: str, limit: int, attempts: int) -> None:
    store = RedisStore.from_url(url, timeout_s=2.0, max_connections=attempts)
    # A day-long period: refill during the test (1 per 86400/limit s) is nil, so the
    # server clock (TIME) can be used exactly as in production.
    checks = [RateCheck("rpm", limit, 86400.0, 1)]
    await store.rate_acquire(bucket, checks, consume=False)  # connect + SCRIPT LOAD
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    results = await asyncio.gather(*[store.rate_acquire(bucket, checks)
                                     for _ in range(attempts)], return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    allowed = sum(1 for r in results if not isinstance(r, BaseException) and r.allowed)
    print(json.dumps({"allowed": allowed, "errors": errors}), flush=True)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
