"""Real redis-server processes for the gateway-level limit, cache and fault tests.

A session server is shared by tests that only read and write (each test flushes it
first, so no state leaks between tests); tests that kill or SIGSTOP Redis get their
own server. The 3-master cluster starts only when a test asks for it.
"""

from __future__ import annotations

import pytest

from tests.support.redis_server import RedisServer


@pytest.fixture
def redis_server(redis_session: RedisServer) -> RedisServer:
    """The shared server, emptied: limits and cache entries start from nothing."""
    redis_session.cli("FLUSHALL")
    return redis_session


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Run a test on the memory store and on the shared Redis: REDIS_URL or ''."""
    return "" if request.param == "memory" else request.getfixturevalue("redis_server").url
