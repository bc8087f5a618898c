"""Fixtures: real redis-server processes and the store implementations under test.

Session-scoped servers are shared by tests that only read and write (each test uses
its own uuid-named keys); tests that stop, kill or SIGSTOP a server get their own.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.stores import MemoryStore, RedisStore, Store
from tests.support.redis_server import RedisServer, TlsFiles, make_tls_files


@pytest.fixture(scope="session")
def redis_server(redis_session: RedisServer) -> RedisServer:
    """The shared server as it is: store tests use their own uuid-named keys."""
    return redis_session


@pytest.fixture(scope="session")
def tls_files() -> Iterator[TlsFiles]:
    directory = tempfile.mkdtemp(prefix="redis-tls-")
    yield make_tls_files(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_redis(tls_files: TlsFiles) -> Iterator[RedisServer]:
    with RedisServer(tls=tls_files) as server:
        yield server


@pytest.fixture
def bucket() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def _make(kind: str, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "redis":
        # Behaviour tests: a generous timeout so a loaded CI machine does not turn a slow
        # call into a failure; the fault tests build their stores with short ones.
        return RedisStore.from_url(request.getfixturevalue("redis_server").url, timeout_s=2.0)
    return RedisStore.from_url(request.getfixturevalue("redis_cluster").store_url, timeout_s=2.0)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Every cache/slot test runs on both implementations."""
    s = await _make(request.param, request)
    yield s
    await s.close()


@pytest.fixture(params=["memory", "redis", "cluster"])
async def rate_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Rate-limit tests also run on a 3-master cluster."""
    s = await _make(request.param, request)
    yield s
    await s.close()
