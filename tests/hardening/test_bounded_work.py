"""Issue 18.1: work before admission is bounded.

A key over its rpm or concurrency is refused before its (large) body is parsed; explain
and count_tokens count against the key's rpm and concurrency; a body's structure
(values, messages, parts) is bounded before it becomes Python objects.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from gateway.bounds import count_nodes, parse_bounded
from gateway.errors import PayloadTooLarge
from tests.e2e.limits_support import keys_yaml
from tests.support.gateway_process import GatewayProcess
from tests.support.gateway_server import test_config_text as config_text

MB = 1024 * 1024


def post(gw: Any, path: str, content: bytes, key: str = "ka") -> httpx.Response:
    return httpx.post(gw.url + path, content=content, timeout=30,
                      headers={"authorization": f"Bearer {key}", "x-api-key": key,
                               "content-type": "application/json"})


def small_chat(model: str = "claude-opus") -> bytes:
    return orjson.dumps({"model": model, "max_tokens": 16,
                         "messages": [{"role": "user", "content": "hi"}]})


def test_over_rpm_large_body_refused_before_it_is_parsed(make_gateway: Any) -> None:
    """The second request is over rpm 1: a 1 MB body that is not even JSON gets the
    429 (not the parser's 400): the body was never parsed."""
    gw = make_gateway(keys=keys_yaml(a="{rpm: 1}"))
    assert post(gw, "/v1/chat/completions", small_chat()).status_code == 200
    junk = b"{" + b"x" * MB
    r = post(gw, "/v1/chat/completions", junk)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_tpm_refusal_after_early_admission_gives_back_rpm_and_slot(make_gateway: Any) -> None:
    """A large body admitted early on rpm/concurrency, then refused on tpm, consumes
    neither: the key's next request (rpm 1, concurrency 1) still gets in."""
    gw = make_gateway(keys=keys_yaml(a="{rpm: 1, tpm: 1000, concurrency: 1}"))
    big = orjson.dumps({"model": "claude-opus", "max_tokens": 16,
                        "messages": [{"role": "user", "content": "word " * 40_000}]})
    assert len(big) > 64 * 1024
    r = post(gw, "/v1/chat/completions", big)
    assert r.status_code == 429 and "tokens per minute" in r.json()["error"]["message"], r.text
    r = post(gw, "/v1/chat/completions", small_chat())
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/v1/gateway/route", "/v1/messages/count_tokens"])
def test_explain_and_count_tokens_count_against_rpm(make_gateway: Any, path: str) -> None:
    gw = make_gateway(keys=keys_yaml(a="{rpm: 2}"))
    codes = [post(gw, path, small_chat()).status_code for _ in range(3)]
    assert codes == [200, 200, 429], codes


def test_explain_under_concurrency_releases_its_slot(make_gateway: Any) -> None:
    gw = make_gateway(keys=keys_yaml(a="{concurrency: 1}"))
    for _ in range(3):  # each one's slot is free again when it ends
        assert post(gw, "/v1/gateway/route", small_chat()).status_code == 200
    assert gw.call(gw.app.state.svc.limits.limiter.in_flight("a")) == 0


def test_millions_of_tiny_values_refused_fast_and_small(gateway: Any) -> None:
    """32 MB of ``{}`` to count_tokens: a 413 naming the limit, in well under 100 ms per
    MB (it took 7.5 s and 1.6 GB before)."""
    body = b'{"model":"claude-opus","messages":[],"junk":[' + b"{}," * (10 * MB) + b"{}]}"
    t = time.perf_counter()
    r = post(gateway, "/v1/messages/count_tokens", body)
    took = time.perf_counter() - t
    assert r.status_code == 413, r.text
    assert "server.max_json_nodes" in r.json()["error"]["message"]
    assert took < 0.1 * len(body) / MB, took


def test_a_million_messages_refused(gateway: Any) -> None:
    body = orjson.dumps({"model": "claude-opus",
                         "messages": [{"role": "user", "content": "w"}] * 1_000_000})
    t = time.perf_counter()
    r = post(gateway, "/v1/chat/completions", body)
    assert r.status_code == 413, r.text
    assert time.perf_counter() - t < 0.1 * len(body) / MB


def test_limits_one_past() -> None:
    ok = orjson.dumps({"messages": [{"role": "user", "content": [{}] * 5}] * 4})
    # values: the object, 1 member... counted exactly: at the limit passes, one less fails
    n = count_nodes(ok, 10**9)
    assert count_nodes(ok, n - 1) == n  # past the limit, the exact count stops there
    parse_bounded(ok, n, 4, 5)
    with pytest.raises(PayloadTooLarge, match="max_json_nodes"):
        parse_bounded(ok, n - 1, 4, 5)
    with pytest.raises(PayloadTooLarge, match="max_messages"):
        parse_bounded(ok, n, 3, 5)
    with pytest.raises(PayloadTooLarge, match="max_content_parts"):
        parse_bounded(ok, n, 4, 4)


def test_commas_and_brackets_in_strings_are_not_values() -> None:
    text = orjson.dumps({"messages": [{"role": "user",
                                       "content": 'a, b, [c], {d}, \\", \\\\' * 10_000}]})
    assert count_nodes(text, 10) == count_nodes(orjson.dumps(
        {"messages": [{"role": "user", "content": ""}]}), 10) == 4
    parse_bounded(text, 10, 1, 1)


def test_default_limits_take_a_large_real_session() -> None:
    """A 2,000-turn tool-using session (about 14 values a turn) is well inside."""
    turn = [{"role": "assistant", "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "t1", "name": "read", "input": {"path": "a.py"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": "x = [1, 2, 3]"}]}]
    raw = orjson.dumps({"model": "claude-opus", "max_tokens": 100, "messages": turn * 1000})
    body = parse_bounded(raw, 100_000, 10_000, 1_000)
    assert len(body["messages"]) == 2000


def _rss_mb(pid: int, field: str) -> float:
    for line in open(f"/proc/{pid}/status").read().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(field)


def test_memory_per_request_is_a_small_multiple_of_the_body() -> None:
    """Against a real `gateway serve` process: 32 MB of `{}` raised its peak RSS from
    118 MB to 1.73 GB; now by about twice the body (bench/hardening_measure.py)."""
    body = b'{"model":"claude-opus","messages":[],"junk":[' + b"{}," * (10 * MB) + b"{}]}"
    with GatewayProcess(config_text("http://127.0.0.1:9/v1", "http://127.0.0.1:9")) as gp:
        assert gp.proc is not None
        before = _rss_mb(gp.proc.pid, "VmRSS")
        r = post(gp, "/v1/messages/count_tokens", body)
        assert r.status_code == 413
        grew = _rss_mb(gp.proc.pid, "VmHWM") - before
    assert grew < 3 * len(body) / MB, grew
