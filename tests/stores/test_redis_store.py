"""Redis-only behaviour: scripts, key layout, URLs, TLS, faults and timeouts."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import SSLConnection
from redis.asyncio.cluster import RedisCluster as PyRedisCluster

from gateway.stores import RateCheck, RedisStore, StoreError, parse_store_url
from gateway.stores.redis import _RATE
from gateway.stores.resp import RespClient
from tests.support.redis_server import RedisCluster, RedisServer, TlsFiles

RPM = [RateCheck("rpm", 5, 60.0, 1)]


@pytest.mark.parametrize("url,plain,cluster", [
    ("redis://h:1/2", "redis://h:1/2", False),
    ("rediss://u:p@h:1?ssl_cert_reqs=none", "rediss://u:p@h:1?ssl_cert_reqs=none", False),
    ("redis+cluster://h:1", "redis://h:1", True),
    ("rediss+cluster://h:1", "rediss://h:1", True),
    ("redis://h:1?cluster=true&socket_keepalive=yes", "redis://h:1?socket_keepalive=yes", True),
    ("redis://h:1?cluster=false", "redis://h:1", False),
])
def test_parse_store_url(url: str, plain: str, cluster: bool) -> None:
    assert parse_store_url(url) == (plain, cluster)


def test_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="unsupported store URL scheme"):
        parse_store_url("http://h:1")


async def test_rediss_url_builds_a_tls_client() -> None:
    store = RedisStore.from_url("rediss://localhost:1", ssl_ca_certs="/nonexistent/ca.pem")
    client = store.client
    assert isinstance(client, RespClient)
    assert client.tls == {"ssl_ca_certs": "/nonexistent/ca.pem"}
    assert client.read_timeout_s == 0.25 and client.connect_timeout_s == 0.25
    with pytest.raises(StoreError, match="No such file"):  # the CA is really loaded
        await store.cache_get("x")
    cluster = RedisStore.from_url("rediss+cluster://localhost:1")
    assert isinstance(cluster.client, PyRedisCluster) and cluster.cluster
    await store.close()


async def test_options_only_redis_py_knows_use_redis_py() -> None:
    fast = RedisStore.from_url("redis://h:1/2?client_name=gw", password="p")
    assert isinstance(fast.client, RespClient)
    assert (fast.client.db, fast.client.password, fast.client.client_name) == (2, "p", "gw")
    slow = RedisStore.from_url("rediss://localhost:1?socket_keepalive=yes",
                               ssl_ca_certs="/nonexistent/ca.pem")
    assert slow.client.connection_pool.connection_class is SSLConnection
    assert slow.client.connection_pool.connection_kwargs["socket_timeout"] == 0.25
    forced = RedisStore.from_url("redis://h:1", client="redis-py")
    assert not isinstance(forced.client, RespClient)
    with pytest.raises(ValueError, match="client must be"):
        RedisStore.from_url("redis://h:1", client="hiredis")
    for store in (fast, slow, forced):
        await store.close()


async def test_real_tls_server(tls_redis: RedisServer, tls_files: TlsFiles, bucket: str) -> None:
    store = RedisStore.from_url(tls_redis.url, ssl_ca_certs=tls_files.ca)
    assert (await store.rate_acquire(bucket, RPM)).allowed
    await store.cache_set(bucket, b"secret", 10)
    assert await store.cache_get(bucket) == b"secret"
    await store.close()
    # Without our CA the certificate is not trusted: TLS is really verified.
    untrusted = RedisStore.from_url(tls_redis.url, timeout_s=1.0)
    with pytest.raises(StoreError, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.rate_acquire(bucket, RPM)
    await untrusted.close()


async def test_noscript_recovery(redis_server: RedisServer, bucket: str) -> None:
    store = RedisStore.from_url(redis_server.url)
    assert (await store.rate_acquire(bucket, RPM, 100.0)).allowed
    redis_server.cli("SCRIPT", "FLUSH")
    assert redis_server.cli("SCRIPT", "EXISTS", _RATE.sha).strip() == "0"
    d = await store.rate_acquire(bucket, RPM, 100.0)
    assert d.allowed and d.states[0].remaining == 3  # state kept, script reloaded
    assert redis_server.cli("SCRIPT", "EXISTS", _RATE.sha).strip() == "1"
    assert (await store.admit(bucket, [], slot_id="a", slot_limit=1, slot_ttl_s=10)).allowed
    await store.close()


async def test_noscript_recovery_on_cluster(redis_cluster: RedisCluster, bucket: str) -> None:
    store = RedisStore.from_url(redis_cluster.store_url)
    assert (await store.rate_acquire(bucket, RPM, 100.0)).allowed
    for node in redis_cluster.nodes:
        node.cli("SCRIPT", "FLUSH")
    assert (await store.rate_acquire(bucket, RPM, 100.0)).states[0].remaining == 3
    await store.close()


async def test_key_layout_shares_one_cluster_slot(redis_cluster: RedisCluster,
                                                  bucket: str) -> None:
    store = RedisStore.from_url(redis_cluster.store_url, timeout_s=2.0)
    names = [store.rate_key(bucket, "rpm"), store.rate_key(bucket, "tpm"),
             store.rate_key(bucket, "budget_usd"), store.slot_key(bucket)]
    assert names[0] == f"gw:{{{bucket}}}:rl:rpm" and names[3] == f"gw:{{{bucket}}}:slots"
    slots = {redis_cluster.nodes[0].cli("CLUSTER", "KEYSLOT", n).strip() for n in names}
    assert len(slots) == 1
    checks = [RateCheck("rpm", 5, 60, 1), RateCheck("tpm", 100, 60, 10),
              RateCheck("budget_usd", 1, 86400, 0.1, "fixed")]
    assert (await store.rate_acquire(bucket, checks)).allowed  # would be CROSSSLOT otherwise
    await store.close()


async def test_server_clock_is_used_by_default(redis_server: RedisServer, bucket: str) -> None:
    store = RedisStore.from_url(redis_server.url)
    await store.rate_acquire(bucket, [RateCheck("rpm", 2, 3600, 2)])
    t = float(redis_server.cli("HGET", store.rate_key(bucket, "rpm"), "t"))
    server_now = int(redis_server.cli("TIME").split()[0])
    assert abs(t - server_now) < 5
    ttl = int(redis_server.cli("PTTL", store.rate_key(bucket, "rpm")))
    assert 3_600_000 < ttl <= 3_601_000  # dropped once fully drained
    await store.close()


async def test_dead_server_raises_store_error_fast(own_redis: RedisServer, bucket: str) -> None:
    store = RedisStore.from_url(own_redis.url)
    assert await store.ping()
    own_redis.kill()
    for op in (store.rate_acquire(bucket, RPM), store.cache_get("x"),
               store.slot_release(bucket, "a")):
        with pytest.raises(StoreError):
            await op
    assert not await store.ping()
    own_redis.restart()  # empty again, scripts gone: NOSCRIPT path
    assert (await store.rate_acquire(bucket, RPM)).allowed
    await store.close()


async def test_sigstopped_server_fails_within_timeout(own_redis: RedisServer,
                                                      bucket: str) -> None:
    warm = RedisStore.from_url(own_redis.url, timeout_s=0.2)
    assert (await warm.rate_acquire(bucket, RPM)).allowed  # pooled connection + script
    own_redis.pause()
    try:
        cold = RedisStore.from_url(own_redis.url, timeout_s=0.2)  # must connect to it
        for store in (warm, cold):
            started = time.monotonic()
            with pytest.raises(StoreError):
                await store.rate_acquire(bucket, RPM)
            assert time.monotonic() - started < 0.9  # 0.2 s timeout; never hangs
    finally:
        own_redis.resume()
    assert (await warm.rate_acquire(bucket, RPM)).allowed
    await warm.close()
    await cold.close()


async def test_a_charge_queued_behind_a_stuck_command_is_fenced_by_the_connections_give_up(
        own_redis: RedisServer, bucket: str) -> None:
    """Pipelined commands share one connection, and its read timer runs from the oldest
    unanswered command: a charge sent behind a command a hung Redis already holds is
    given up on when that older command times out, earlier than its own timeout. Redis,
    woken right then, must not charge it (the fence is that give-up, not the charge's
    own timeout)."""
    store = RedisStore.from_url(own_redis.url, timeout_s=0.4)
    assert (await store.rate_acquire(bucket, RPM)).allowed  # script loaded, clock known
    own_redis.pause()
    try:
        stuck = asyncio.ensure_future(store.client.execute("PING"))  # held by the hung server
        await asyncio.sleep(0.3)  # the charge goes out 0.1 s before the connection gives up
        with pytest.raises(StoreError):
            await store.rate_acquire(bucket, RPM)
        with pytest.raises(Exception):
            await stuck
    finally:
        own_redis.resume()  # wakes before the charge's own timeout would have passed
    counted = RedisStore.from_url(own_redis.url)
    # The charge before the pause and this one: the one the gateway gave up on is not.
    assert int((await counted.rate_acquire(bucket, RPM)).states[0].remaining) == 3
    await store.close()
    await counted.close()
