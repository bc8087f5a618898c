"""Per-request cache control: Cache-Control no-cache / no-store, x-gateway-cache-ttl,
and cache.max_entry_bytes, on the memory store and on Redis."""

from __future__ import annotations

import base64
import os
import time

import pytest

from tests.e2e.limits_support import chat, nonce


def body() -> dict:
    return {"model": "claude-opus", "temperature": 0,
            "messages": [{"role": "user", "content": f"control the cache {nonce()}"}]}


def answer(r) -> str:
    return r.json()["choices"][0]["message"]["content"]


@pytest.fixture
def gw(make_gateway, store_url):
    return make_gateway(extra="cache: {mode: deterministic, max_entry_bytes: 1024}",
                        redis_url=store_url)


def test_no_cache_skips_the_lookup_and_refreshes_the_entry(gw, claude):
    b = body()
    assert chat(gw, "any", b).headers["x-gateway-cache"] == "miss"
    claude.control.text_override = "a fresher answer"
    r = chat(gw, "any", b, headers={"cache-control": "no-cache"})
    assert r.headers["x-gateway-cache"] == "miss" and answer(r) == "a fresher answer"
    assert len(claude.control.requests) == 2
    claude.control.text_override = "never asked"
    hit = chat(gw, "any", b)
    assert hit.headers["x-gateway-cache"] == "hit" and answer(hit) == "a fresher answer"
    assert len(claude.control.requests) == 2


def test_no_store_skips_the_write(gw, claude):
    b = body()
    r = chat(gw, "any", b, headers={"cache-control": "no-store"})
    assert r.headers["x-gateway-cache"] == "miss"
    assert chat(gw, "any", b).headers["x-gateway-cache"] == "miss"
    assert chat(gw, "any", b).headers["x-gateway-cache"] == "hit"
    assert len(claude.control.requests) == 2


def test_no_store_still_reads_an_existing_entry(gw, claude):
    b = body()
    chat(gw, "any", b)
    r = chat(gw, "any", b, headers={"cache-control": "no-store"})
    assert r.headers["x-gateway-cache"] == "hit"


def test_ttl_header_sets_the_entry_lifetime(gw, claude):
    b = body()
    assert chat(gw, "any", b, headers={"x-gateway-cache-ttl": "1"}).headers[
        "x-gateway-cache"] == "miss"
    assert chat(gw, "any", b).headers["x-gateway-cache"] == "hit"
    time.sleep(1.5)
    assert chat(gw, "any", b).headers["x-gateway-cache"] == "miss"
    assert len(claude.control.requests) == 2


def test_entries_over_max_entry_bytes_are_not_stored(gw, claude):
    # Random base64 barely compresses: ~3 KB stays well over the 1024-byte cap.
    claude.control.text_override = base64.b64encode(os.urandom(2400)).decode()
    big = body()
    assert chat(gw, "any", big).headers["x-gateway-cache"] == "miss"
    assert chat(gw, "any", big).headers["x-gateway-cache"] == "miss"
    claude.control.text_override = "small"
    small = body()
    assert chat(gw, "any", small).headers["x-gateway-cache"] == "miss"
    assert chat(gw, "any", small).headers["x-gateway-cache"] == "hit"
    assert len(claude.control.requests) == 3
