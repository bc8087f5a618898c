"""The recent-decision ring: bounded, shared through Redis across replicas, no prompt text
unless prompt logging is on."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from gateway.console.ring import DecisionRing
from tests.support.gateway_server import GatewayServer
from tests.support.gateway_server import test_config as make_config

pytestmark = pytest.mark.timeout(90)

MARKER = "okapi-lantern-5521"


def send(gw: GatewayServer, n: int, prefix: str, content: str = "hello") -> list[str]:
    oa = openai.OpenAI(base_url=gw.url + "/v1", api_key="any", max_retries=0)
    ids = []
    for i in range(n):
        rid = f"{prefix}-{i}"
        oa.chat.completions.create(model="auto", messages=[{"role": "user", "content": content}],
                                   extra_headers={"x-request-id": rid})
        ids.append(rid)
    return ids


def recent(gw: GatewayServer, want: int | None = None, limit: int = 500) -> dict[str, Any]:
    """The ring, once it holds ``want`` records (a record is written after the response)."""
    deadline = time.monotonic() + 5
    while True:
        out: dict[str, Any] = httpx.get(f"{gw.url}/console/api/decisions?limit={limit}").json()
        if want is None or len(out["records"]) >= want or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def test_memory_ring_is_bounded_newest_first(kimi, claude) -> None:
    cfg = make_config(kimi.url + "/v1", claude.url, "console: {recent_decisions: 4}")
    with GatewayServer(cfg) as gw:
        ids = send(gw, 7, "mem")
        time.sleep(0.3)
        out = recent(gw)
        assert out["source"] == "memory" and out["size"] == 4
        assert [r["request_id"] for r in out["records"]] == ids[::-1][:4]


def test_redis_ring_is_shared_by_replicas_and_trimmed(kimi, claude, own_redis) -> None:
    cfg = make_config(kimi.url + "/v1", claude.url, "console: {recent_decisions: 5}")
    with GatewayServer(cfg, redis_url=own_redis.url) as a, \
            GatewayServer(cfg, redis_url=own_redis.url) as b:
        ids = send(a, 3, "ra")
        store = httpx.get(b.url + "/console/api/live").json()["store"]
        assert (store["store"], store["ok"]) == ("redis", True)  # Live's Redis state
        out = recent(b, 3)
        assert out["source"] == "redis"
        assert [r["request_id"] for r in out["records"]] == ids[::-1]
        ids += send(b, 40, "rb")
        time.sleep(0.3)
        out = recent(a)
        assert [r["request_id"] for r in out["records"]] == ids[::-1][:5]
        # LTRIM runs every 16th push: the list never holds more than size + 16.
        assert int(own_redis.cli("LLEN", "gw:console:decisions")) <= 5 + 16
        own_redis.stop()
        down = recent(a)
        assert down["source"] == "memory"  # this replica's own records, still answered
        assert down["records"][0]["request_id"] == "ra-2"


@pytest.mark.parametrize("log_prompts", [False, True])
def test_prompt_text_only_with_prompt_logging(kimi, claude, log_prompts: bool) -> None:
    with GatewayServer(make_config(kimi.url + "/v1", claude.url), log_prompts=log_prompts) as gw:
        send(gw, 1, "p", f"Please repeat the word {MARKER} back to me, thank you.")
        rec = recent(gw, 1)["records"][0]
        out = httpx.get(gw.url + "/console/api/decisions").text
        assert (MARKER in out) is log_prompts
        assert rec["routing"]["features"]["language"] == "en"
        assert ("prompt" in rec) is log_prompts


async def test_memory_ring_entries_are_the_records_with_their_time_first() -> None:
    ring = DecisionRing(None, 2)
    before = time.time()
    for i in range(3):
        ring.add({"request_id": f"r{i}", "status": 200})
    source, records = await ring.recent()
    assert source == "memory"
    assert [list(r.items())[1:] for r in records] == [[("request_id", "r2"), ("status", 200)],
                                                      [("request_id", "r1"), ("status", 200)]]
    for r in records:
        assert next(iter(r)) == "time" and r["time"] == round(r["time"], 3)
        assert before - 0.001 <= r["time"] <= time.time() + 0.001
    assert (await ring.recent(1))[1] == records[:1]
