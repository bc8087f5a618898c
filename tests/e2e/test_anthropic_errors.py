"""Failures on /v1/messages: Anthropic's error body and the statuses the anthropic SDK
maps to its exception classes; stream failures as ``event: error``; disconnects."""

from __future__ import annotations

import anthropic
import httpx
import pytest

MSGS = [{"role": "user", "content": "hi"}]
KEYS = "keys:\n  - {name: team-a, key: sk-gw-good, policy: standard}"


def client(gw, api_key: str = "any", **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=api_key, max_retries=0, **kw)


def post(gw, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/messages", content=body, timeout=10,
                      headers={"content-type": "application/json", **headers})


def assert_anthropic_error(r: httpx.Response, status: int, etype: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == etype
    assert body["request_id"] == r.headers["x-request-id"]
    return body["error"]["message"]


# -- the client's mistakes ------------------------------------------------------------------

@pytest.mark.parametrize("body, status, etype, fragment", [
    (b"{not json", 400, "invalid_request_error", "JSON"),
    (b'{"model": "auto", "max_tokens": 5, "messages": [], "temperature": NaN}', 400,
     "invalid_request_error", "JSON"),
    (b'[]', 400, "invalid_request_error", "object"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}', 400,
     "invalid_request_error", "max_tokens"),
    (b'{"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}', 400,
     "invalid_request_error", "model"),
    (b'{"model": "auto", "max_tokens": 5, "messages": [{"role": 5, "content": "x"}]}',
     400, "invalid_request_error", "messages.0.role"),
    (b'{"model": "auto", "max_tokens": 0.5, "messages": [{"role": "user", "content": "x"}]}',
     400, "invalid_request_error", "max_tokens"),
    (b'{"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}',
     404, "not_found_error", "gpt-4o"),
])
def test_bad_requests_in_anthropic_shape(gateway, claude, body, status, etype, fragment):
    msg = assert_anthropic_error(post(gateway, body), status, etype)
    assert fragment in msg
    assert claude.control.requests == []


def test_sdk_exception_classes_for_client_errors(gateway):
    c = client(gateway)
    with pytest.raises(anthropic.NotFoundError) as e:
        c.messages.create(model="claude-2", max_tokens=5, messages=MSGS)
    assert e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError):
        c.messages.create(model="auto", max_tokens=5, messages=[{"role": "user", "content": 7}])


def test_unknown_path_under_messages_is_anthropic_shaped(gateway):
    r = httpx.post(gateway.url + "/v1/messages/batches", json={}, timeout=10)
    assert_anthropic_error(r, 404, "not_found_error")


# -- keys -----------------------------------------------------------------------------------

def test_bad_gateway_key_is_401_authentication_error(make_gateway):
    gw = make_gateway(keys=KEYS)
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(gw, "sk-gw-wrong").messages.create(model="auto", max_tokens=5, messages=MSGS)
    assert e.value.status_code == 401
    assert e.value.body["error"]["type"] == "authentication_error"
    r = post(gw, b'{"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}')
    assert_anthropic_error(r, 401, "authentication_error")


def test_key_accepted_as_bearer_and_as_x_api_key(make_gateway, claude):
    gw = make_gateway(keys=KEYS)
    # The SDK sends api_key as "Authorization: Bearer"; auth_token is the same header.
    assert client(gw, "sk-gw-good").messages.create(
        model="claude-opus", max_tokens=5, messages=MSGS).content
    bearer = anthropic.Anthropic(base_url=gw.url, auth_token="sk-gw-good", max_retries=0)
    assert bearer.messages.create(model="claude-opus", max_tokens=5, messages=MSGS).content
    body = b'{"model": "claude-opus", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}'
    assert post(gw, body, **{"x-api-key": "sk-gw-good"}).status_code == 200
    assert post(gw, body, authorization="Bearer sk-gw-good").status_code == 200
    assert_anthropic_error(post(gw, body, **{"x-api-key": "sk-gw-bad"}), 401,
                           "authentication_error")
    # The gateway key never travels upstream.
    assert all("sk-gw-good" not in str(r.headers) for r in claude.control.requests)


# -- policy ---------------------------------------------------------------------------------

def test_policy_refusal_is_403_permission_error(gateway, kimi):
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        client(gateway).messages.create(model="kimi-k2", max_tokens=5, messages=MSGS,
                                        extra_headers={"x-gateway-policy": "strict"})
    assert e.value.body["error"]["type"] == "permission_error"
    assert "strict" in e.value.message
    assert kimi.control.requests == []


# -- upstream failures -------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_upstream_overload_is_529_overloaded_error(gateway, claude, stream):
    claude.control.fail_next(529, times=5)
    body = b'{"model": "claude-opus", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]'
    body += b', "stream": true}' if stream else b"}"
    assert_anthropic_error(post(gateway, body), 529, "overloaded_error")
    claude.control.fail_next(529, times=5)
    with pytest.raises(anthropic.OverloadedError):
        client(gateway).messages.create(model="claude-opus", max_tokens=5, messages=MSGS)


def test_overload_stays_503_on_the_openai_surface(gateway, claude):
    claude.control.fail_next(529, times=5)
    r = httpx.post(gateway.url + "/v1/chat/completions", timeout=10,
                   json={"model": "claude-opus", "messages": MSGS})
    assert r.status_code == 503 and r.json()["error"]["type"] == "overloaded"


def test_upstream_429_is_rate_limit_error_with_retry_after(gateway, claude):
    claude.control.fail_next(429, retry_after=30, times=5)
    with pytest.raises(anthropic.RateLimitError) as e:
        client(gateway).messages.create(model="claude-opus", max_tokens=5, messages=MSGS)
    assert e.value.status_code == 429
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert e.value.response.headers["retry-after"] == "30"


@pytest.mark.parametrize("upstream, status, etype, exc", [
    (400, 400, "invalid_request_error", anthropic.BadRequestError),
    (500, 502, "api_error", anthropic.InternalServerError),
])
def test_other_upstream_statuses(gateway, claude, upstream, status, etype, exc):
    claude.control.fail_next(upstream, times=5)
    with pytest.raises(exc) as e:
        client(gateway).messages.create(model="claude-opus", max_tokens=5, messages=MSGS)
    assert e.value.status_code == status
    assert e.value.body["error"]["type"] == etype
    assert "sk-ant-emu" not in e.value.response.text


@pytest.mark.parametrize("model, emu_name", [("claude-opus", "claude"), ("kimi-k2", "kimi")])
def test_error_mid_stream_is_an_error_event_the_sdk_raises(gateway, kimi, claude, model, emu_name):
    emu = claude if emu_name == "claude" else kimi
    emu.control.fault_next("error_event_mid_stream", after_chunks=4)
    got = []
    prompt = [{"role": "user", "content": "a long enough answer to have many chunks " * 3}]
    with pytest.raises(anthropic.APIStatusError) as e, client(gateway).messages.stream(
            model=model, max_tokens=200, messages=prompt) as s:
        for ev in s:
            got.append(ev.type)
    assert "message_start" in got, "some events arrived before the error"
    assert "verloaded" in e.value.message
    assert e.value.body["type"] == "error"
    assert e.value.body["error"]["type"] in ("overloaded_error", "rate_limit_error")


def test_reset_mid_stream_ends_with_an_error_event(gateway, kimi):
    # Paced, so the first event surely reached the client before the connection drops.
    kimi.control.chunk_delay = 0.05
    kimi.control.fault_next("reset_mid_stream", after_chunks=3)
    r = httpx.post(gateway.url + "/v1/messages", timeout=10, json={
        "model": "kimi-k2", "max_tokens": 200, "stream": True,
        "messages": [{"role": "user", "content": "many words in this answer please " * 3}]})
    assert r.status_code == 200
    frames = [f for f in r.text.split("\n\n") if f.strip()]
    assert frames[-1].startswith("event: error\ndata: ")
    assert '"type":"api_error"' in frames[-1]
    assert not any(f.startswith("event: message_stop") for f in frames)


@pytest.mark.parametrize("model, emu_name", [("claude-opus", "claude"), ("kimi-k2", "kimi")])
def test_client_disconnect_mid_stream_closes_upstream(gateway, kimi, claude, model, emu_name):
    emu = claude if emu_name == "claude" else kimi
    emu.control.chunk_delay = 0.05
    with httpx.Client(timeout=10) as h, h.stream(
            "POST", gateway.url + "/v1/messages",
            json={"model": model, "max_tokens": 1000, "stream": True,
                  "messages": [{"role": "user", "content": "word " * 200}]}) as r:
        assert r.status_code == 200
        next(r.iter_raw())
    # The client is gone: the gateway must close its upstream stream promptly.
    assert emu.control.wait_for(lambda c: c.active_streams == 0, timeout=5)
    assert emu.control.streams_cancelled >= 1
    assert emu.control.streams_completed == 0


def test_sdk_stream_closed_early_closes_upstream(gateway, claude):
    claude.control.chunk_delay = 0.05
    with client(gateway).messages.stream(model="claude-opus", max_tokens=1000, messages=[
            {"role": "user", "content": "word " * 200}]) as s:
        for ev in s:
            if ev.type == "content_block_delta":
                break
    assert claude.control.wait_for(lambda c: c.active_streams == 0, timeout=5)
    assert claude.control.streams_cancelled >= 1
