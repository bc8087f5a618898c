"""Hostile request bodies: every one is a clean 400 in the route's error shape, or served.

Never a 500, a RecursionError or a crashed connection. Decisions documented in
``gateway/jsonutil.py`` and ``docs/hardening.md``: duplicate keys, last one wins;
nesting deeper than 128 arrays/objects is a 400; integers beyond 64 bits parse as
floats (so a count such as ``max_tokens`` that large is a 400 naming the field).
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.jsonutil import MAX_DEPTH
from tests.support import gateway_server as gs

ROUTES = ["/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens",
          "/v1/gateway/route"]
MSG = b'[{"role": "user", "content": "hi"}]'


def post(gw, path: str, body: bytes) -> httpx.Response:
    return httpx.post(gw.url + path, content=body, timeout=30,
                      headers={"content-type": "application/json"})


def assert_refused(r: httpx.Response, path: str, *, contains: str = "") -> str:
    assert r.status_code == 400, (r.status_code, r.text[:300])
    body = r.json()
    if path.startswith("/v1/messages"):
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        message = body["error"]["message"]
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}
        message = body["error"]["message"]
    assert contains in message, message
    return message


@pytest.fixture(scope="module")
def refusing():
    """A gateway whose upstreams do not exist: what it refuses never needs one."""
    dead = f"http://127.0.0.1:{gs.free_port()}"
    with gs.GatewayServer(gs.test_config(dead + "/v1", dead)) as gw:
        yield gw


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


HOSTILE = {
    "invalid-utf8": b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
    "utf8-surrogate": b'{"model": "auto", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}',
    "escaped-lone-surrogate": b'{"model": "auto", "messages": [{"role": "user", "content": "\\ud800"}]}',
    "bom": b'\xef\xbb\xbf{"model": "auto", "messages": ' + MSG + b"}",
    "nul-in-string": b'{"model": "auto", "messages": [{"role": "user", "content": "a\x00b"}]}',
    "nan": b'{"model": "auto", "messages": ' + MSG + b', "temperature": NaN}',
    "infinity": b'{"model": "auto", "messages": ' + MSG + b', "temperature": Infinity}',
    "minus-infinity": b'{"model": "auto", "messages": ' + MSG + b', "top_p": -Infinity}',
    "overflow-to-infinity": b'{"model": "auto", "messages": ' + MSG + b', "metadata": {"x": 1e400}}',
    "nesting-100000": nested(100_000),
    "nesting-past-orjson-write-limit": b'{"model": "auto", "messages": ' + MSG
    + b', "metadata": {"x": ' + nested(300) + b"}}",
    "nesting-just-past-the-limit": b'{"model": "auto", "messages": ' + MSG
    + b', "metadata": {"x": ' + nested(MAX_DEPTH - 1) + b"}}",
    "empty": b"",
    "truncated": b'{"model": "auto", "messages": [{"role": "us',
    "trailing-garbage": b'{"model": "auto", "messages": ' + MSG + b"} {}",
}


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_body_is_a_clean_400(refusing, path, name):
    assert_refused(post(refusing, path, HOSTILE[name]), path)
    assert httpx.get(refusing.url + "/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/gateway/route"])
def test_deep_tool_schema_is_refused_by_depth_not_by_a_crash(refusing, path):
    # Deep enough to pass orjson's parser (1024) but not its writer (254): before the
    # depth check this reached the upstream request's serialization and was a 500.
    schema = b'{"type": "object", "properties": {"a": ' + b'{"x": ' * 300 + b"1" + b"}" * 300 + b"}}"
    body = (b'{"model": "claude-opus", "messages": ' + MSG + b', "tools": [{"type": "function", '
            b'"function": {"name": "f", "parameters": ' + schema + b"}}]}")
    assert_refused(post(refusing, path, body), path, contains="nested too deeply")


@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_nesting_within_the_limit_is_served_and_cached(gateway, model):
    schema = b'{"type": "string"}'
    for _ in range(55):  # 2 levels each: about 115 in all, under MAX_DEPTH
        schema = b'{"type": "object", "properties": {"a": ' + schema + b"}}"
    body = (b'{"model": "' + model.encode() + b'", "temperature": 0, "messages": ' + MSG
            + b', "tools": [{"type": "function", "function": {"name": "f", "parameters": '
            + schema + b"}}]}")
    first = post(gateway, "/v1/chat/completions", body)
    assert first.status_code == 200, first.text[:300]
    again = post(gateway, "/v1/chat/completions", body)
    assert again.status_code == 200 and again.headers["x-gateway-cache"] == "hit"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/gateway/route"])
def test_huge_numbers(gateway, path):
    # An integer beyond 64 bits parses as a float: a count that large is refused by name.
    r = post(gateway, path, b'{"model": "auto", "messages": ' + MSG + b', "max_tokens": 1'
             + b"0" * 30 + b"}")
    assert_refused(r, path, contains="max_tokens")
    # A huge but finite float where any number is fine is served (and cache-keyed:
    # the cache used to turn 1e300 into an int orjson cannot write, a 500).
    ok = post(gateway, path, b'{"model": "kimi-k2", "temperature": 0, "messages": ' + MSG
              + b', "tools": [{"type": "function", "function": {"name": "f", "parameters": '
              b'{"type": "object", "properties": {"n": {"type": "number", "maximum": 1e300}}}}}]}')
    assert ok.status_code == 200, ok.text[:300]


def test_duplicate_keys_last_wins_and_the_upstream_sees_one(gateway, kimi):
    body = (b'{"model": "claude-opus", "model": "kimi-k2", "messages": [{"role": "user", '
            b'"content": "first", "content": "second"}]}')
    r = post(gateway, "/v1/chat/completions", body)
    assert r.status_code == 200, r.text
    assert r.headers["x-gateway-provider"] == "kimi"
    assert r.json()["choices"][0]["message"]["content"] == "Echo: second"
    sent = kimi.control.last_request
    # Forwarded as parsed (re-serialized), never the raw bytes: no duplicate reaches it.
    assert sent.json["messages"] == [{"role": "user", "content": "second"}]
    assert sent.raw_length == len(orjson.dumps(sent.json))


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("body", [b"[]", b"null", b'"text"', b"42", b"true"])
def test_non_object_bodies(refusing, path, body):
    assert_refused(post(refusing, path, body), path)
