"""Limits are exact across replicas: gateway processes sharing one Redis (standalone
and a 3-master cluster) admit exactly the limit in total, and leak no slot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.features import extract_features
from tests.e2e.limits_support import keys_yaml, process_config, redis_client, slot_key, wait_until
from tests.e2e.replicas import burst, replicas
from tests.support.gateway_process import GatewayProcess

RPM = 6  # refills one request per 10 s: far slower than a burst takes
ASK = {"model": "claude-opus", "max_tokens": 1000,
       "messages": [{"role": "user", "content": "how many of us get through"}]}
# tpm admission weighs prompt estimate + max_tokens; 4 fit, a 5th needs ~9 s of refill.
EST = extract_features(ASK, surface="chat_completions").tokens + ASK["max_tokens"]
TPM = 4 * EST + EST // 10
KEYS = keys_yaml(r=f"{{rpm: {RPM}}}", t=f"{{tpm: {TPM}}}", c="{concurrency: 3}")


@pytest.fixture(scope="module")
def procs(redis_session, _kimi_session, _claude_session) -> Iterator[list[GatewayProcess]]:
    text = process_config(_kimi_session.url, _claude_session.url, keys=KEYS,
                          redis_url=redis_session.url)
    with replicas(text, 3) as ps:
        yield ps


@pytest.mark.parametrize("n", [2, 3])
def test_rpm_exact_across_replicas(procs, redis_server, claude, n):
    b = burst([p.url for p in procs[:n]], 30, "kr", ASK)
    assert (b.count(200), b.count(429)) == (RPM, 30 - RPM), b.statuses
    assert len(claude.control.requests) == RPM
    refused = [body for status, body in zip(b.statuses, b.bodies) if status == 429]
    assert all(r["error"]["type"] == "rate_limit_exceeded" for r in refused)


def test_tpm_exact_across_replicas(procs, redis_server, claude):
    # Hold the admitted answers until every admission is decided, so no reconcile
    # (which would free tokens) runs during the burst.
    claude.control.fault_next("stall_before", seconds=1.5, times=4)
    b = burst([p.url for p in procs], 24, "kt", ASK)
    assert (b.count(200), b.count(429)) == (4, 20), b.statuses
    refused = [body for status, body in zip(b.statuses, b.bodies) if status == 429]
    assert all("tokens per minute" in r["error"]["message"] for r in refused)


def test_concurrency_exact_and_no_slot_leaks(procs, redis_server, claude):
    claude.control.chunk_delay = 0.05  # a 30-word stream lasts ~1.5 s
    body = {"model": "claude-opus", "stream": True,
            "messages": [{"role": "user", "content": " ".join(["slot"] * 30)}]}
    # Two in three clients leave after the first lines, the rest read to the end.
    b = burst([p.url for p in procs], 15, "kc", body, read_chunks=lambda i: 2 if i % 3 else 0)
    assert (b.count(200), b.count(429)) == (3, 12), b.statuses
    r = redis_client(redis_server.url)
    assert wait_until(lambda: r.zcard(slot_key("c")) == 0), r.zrange(slot_key("c"), 0, -1)
    assert wait_until(lambda: claude.control.active_streams == 0)
    # A second burst after the leavers: all three slots are free again.
    claude.control.chunk_delay = 0.05
    again = burst([p.url for p in procs], 6, "kc", body, read_chunks=2)
    assert again.count(200) == 3
    assert wait_until(lambda: r.zcard(slot_key("c")) == 0)


def test_rpm_exact_on_a_redis_cluster(redis_cluster, kimi, claude):
    text = process_config(kimi.url, claude.url, keys=keys_yaml(cl=f"{{rpm: {RPM}}}"),
                          redis_url=redis_cluster.store_url)
    r = redis_client(redis_cluster.store_url)
    for key in r.scan_iter("gw:{t:cl}*", target_nodes="all"):
        r.delete(key)
    with replicas(text, 3) as ps:
        b = burst([p.url for p in ps], 30, "kcl", ASK)
    assert (b.count(200), b.count(429)) == (RPM, 30 - RPM), b.statuses
    assert len(claude.control.requests) == RPM
    # The bucket lives on the cluster, on the node that owns its hash tag.
    assert r.hget("gw:{t:cl}:rl:rpm", "l") is not None
