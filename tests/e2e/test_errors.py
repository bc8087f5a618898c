"""Every failure gets OpenAI's error shape and the status the SDK expects."""

from __future__ import annotations

import socket
import time

import httpx
import openai
import pytest

MSG = [{"role": "user", "content": "hi"}]


def post(gw, body, **kw):
    return httpx.post(gw.url + "/v1/chat/completions", content=body, timeout=10,
                      headers={"content-type": "application/json", **kw.pop("headers", {})}, **kw)


def assert_openai_error(r, status, *, contains=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    if contains:
        assert contains in err["message"]
    return err


@pytest.mark.parametrize("body, status, contains, param", [
    (b"{not json", 400, "not valid JSON", None),
    (b'{"model": "auto", "messages": [{"role": "user", "content": NaN}]}', 400, "not valid JSON", None),
    (b'{"model": "auto", "messages": [], "temperature": Infinity}', 400, "not valid JSON", None),
    (b"\xff\xfe", 400, "not valid JSON", None),
    (b"[]", 400, "expected a JSON object", None),
    (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model", "model"),
    (b'{"model": "auto"}', 400, "messages", "messages"),
    (b'{"model": 5, "messages": []}', 400, "model", "model"),
    (b'{"model": "auto", "messages": "hi"}', 400, "messages", "messages"),
    (b'{"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}', 400, "role", "messages[0].role"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": 7}]}', 400, "content", "messages[0].content"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', 400, "temperature", "temperature"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}', 400, "max_tokens", "max_tokens"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 400, "stream", "stream"),
    (b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}', 404, "gpt-4o", "model"),
])
def test_bad_requests(gateway, body, status, contains, param):
    err = assert_openai_error(post(gateway, body), status, contains=contains)
    if param:
        assert err["param"] == param
    if status == 404:
        assert err["code"] == "model_not_found"


def test_unknown_model_via_sdk_is_not_found(gateway):
    c = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="nope", messages=MSG)


def test_body_over_limit_is_413_without_reading_it(make_gateway):
    gw = make_gateway(extra="server: {max_body_bytes: 2048}")
    r = post(gw, b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"x" * 4096 + b'"}]}')
    assert_openai_error(r, 413, contains="2048")


def test_chunked_body_over_limit_is_413(make_gateway):
    gw = make_gateway(extra="server: {max_body_bytes: 2048}")

    def gen():
        yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1024
        yield b'"}]}'
    r = httpx.post(gw.url + "/v1/chat/completions", content=gen(), timeout=10)
    assert_openai_error(r, 413)


def test_default_limit_admits_a_2m_token_prompt(gateway):
    from gateway.config import ServerConfig
    # 2M tokens of English is about 8 MB of text; the default is 32 MB.
    assert ServerConfig().max_body_bytes >= 8 * 1024 * 1024 * 3


def test_stalled_body_gets_408_and_frees_the_connection(make_gateway):
    gw = make_gateway(extra="server: {body_timeout_s: 0.5}")
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n{\"model\":")
    s.settimeout(5)
    t0 = time.monotonic()
    data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 408"), data[:100]
    assert time.monotonic() - t0 < 4
    s.close()
    # Others were never held up.
    assert httpx.get(gw.url + "/healthz").status_code == 200


@pytest.mark.parametrize("status, expect, etype", [
    (500, 502, None), (502, 502, None), (503, 503, None), (529, 503, None),
    (400, 400, "invalid_request_error"), (429, 429, None), (403, 403, None),
])
def test_upstream_status_mapped(gateway, claude, status, expect, etype):
    claude.control.fail_next(status, times=5)
    r = post(gateway, b'{"model": "claude-opus", "messages": [{"role": "user", "content": "x"}]}')
    err = assert_openai_error(r, expect)
    if etype:
        assert err["type"] == etype
    assert "sk-ant-emu" not in r.text


def test_upstream_401_is_our_misconfiguration_not_the_clients(make_gateway):
    gw = make_gateway(anthropic_key="sk-ant-wrong-key")
    r = post(gw, b'{"model": "claude-opus", "messages": [{"role": "user", "content": "x"}]}')
    err = assert_openai_error(r, 502, contains="claude")
    assert "sk-ant-wrong-key" not in r.text
    assert "api_key" in err["message"]


@pytest.mark.parametrize("kind, expect", [
    ("garbage", 502), ("truncated_json", 502), ("wrong_content_type", 502),
    ("reset_before", 502), ("error_body_200", 502),
])
def test_upstream_garbage_and_resets(gateway, kimi, kind, expect):
    kimi.control.fault_next(kind, times=5)
    r = post(gateway, b'{"model": "kimi-k2", "messages": [{"role": "user", "content": "x"}]}')
    assert_openai_error(r, expect)
    assert "Traceback" not in r.text


def test_upstream_timeout_is_504(make_gateway, kimi):
    gw = make_gateway(timeouts="{connect_s: 1, total_s: 1, first_byte_s: 1, idle_s: 1}")
    kimi.control.fault_next("stall_before", seconds=3, times=5)
    r = post(gw, b'{"model": "kimi-k2", "messages": [{"role": "user", "content": "x"}]}')
    assert_openai_error(r, 504)


def test_unreachable_upstream_is_502():
    from tests.support.gateway_server import GatewayServer, free_port, test_config
    dead = f"http://127.0.0.1:{free_port()}"
    with GatewayServer(test_config(dead + "/v1", dead)) as gw:
        r = post(gw, b'{"model": "kimi-k2", "messages": [{"role": "user", "content": "x"}]}')
        assert_openai_error(r, 502, contains="connect")


def test_provider_without_key_names_the_setting(make_gateway):
    gw = make_gateway(anthropic_key="")
    r = post(gw, b'{"model": "claude-opus", "messages": [{"role": "user", "content": "x"}]}')
    err = assert_openai_error(r, 503, contains="ANTHROPIC_API_KEY")
    assert err["code"] == "provider_not_configured"
    # auto still works through the other provider
    r = post(gw, b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}')
    assert r.status_code == 200 and r.headers["x-gateway-provider"] == "kimi"


def test_error_event_mid_stream_reaches_the_sdk(gateway, claude):
    claude.control.fault_next("error_event_mid_stream", after_chunks=4)
    c = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    got = []
    with pytest.raises(openai.APIError) as e:
        for ch in c.chat.completions.create(model="claude-opus", messages=[
                {"role": "user", "content": "a long enough answer to have many chunks " * 3}],
                stream=True):
            got.append(ch)
    assert got, "some chunks arrived before the error"
    assert "verloaded" in str(e.value)


def test_reset_mid_stream_ends_with_error_event(gateway, kimi):
    kimi.control.fault_next("reset_mid_stream", after_chunks=3)
    c = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIError):
        for _ in c.chat.completions.create(model="kimi-k2", stream=True, messages=[
                {"role": "user", "content": "many words in this answer please " * 3}]):
            pass


def test_client_disconnect_mid_stream_closes_upstream(gateway, claude):
    claude.control.chunk_delay = 0.05
    with httpx.Client(timeout=10) as h, h.stream(
            "POST", gateway.url + "/v1/chat/completions",
            json={"model": "claude-opus", "stream": True,
                  "messages": [{"role": "user", "content": "word " * 200}]}) as r:
        it = r.iter_raw()
        next(it)
    # client gone: the gateway must close its upstream stream promptly
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and claude.control.active_streams:
        time.sleep(0.05)
    assert claude.control.active_streams == 0
    assert claude.control.streams_cancelled >= 1


def test_unknown_path_and_method_are_openai_shaped(gateway):
    assert_openai_error(httpx.get(gateway.url + "/v1/nope"), 404)
    assert_openai_error(httpx.get(gateway.url + "/v1/chat/completions"), 405)


@pytest.mark.parametrize("rid", ['abc def"<script>', "x" * 300, "ünïcode", "a;b=c"])
def test_odd_request_ids_are_replaced_not_echoed(gateway, rid):
    r = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "auto", "messages": MSG},
                   headers={"x-request-id": rid.encode()})
    assert r.status_code == 200
    assert r.headers["x-request-id"] != rid
    assert len(r.headers["x-request-id"]) == 32


def test_control_characters_in_headers_are_refused_by_the_server(gateway):
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-request-id: a\x01b\r\n\r\n")
    s.settimeout(5)
    data = s.recv(4096)
    s.close()
    assert data.startswith(b"HTTP/1.1 400")
    assert b"a\x01b" not in data


def test_stream_stall_before_first_byte_is_504(make_gateway, claude):
    gw = make_gateway(timeouts="{connect_s: 1, total_s: 1, first_byte_s: 1, idle_s: 1}")
    claude.control.fault_next("stall_before", seconds=3, times=5)
    r = post(gw, b'{"model": "claude-opus", "stream": true, "messages": [{"role": "user", "content": "x"}]}')
    assert_openai_error(r, 504)


def test_stream_stall_between_chunks_ends_with_error_event(make_gateway, claude):
    gw = make_gateway(timeouts="{connect_s: 1, total_s: 1, first_byte_s: 1, idle_s: 0.5}")
    claude.control.fault_next("stall_between_chunks", seconds=3, after_chunks=3)
    r = post(gw, b'{"model": "claude-opus", "stream": true, "messages": [{"role": "user", "content": "many words here"}]}')
    assert r.status_code == 200
    last = [ln for ln in r.text.splitlines() if ln.startswith("data:")][-1]
    assert '"error"' in last and "timed out" in last
