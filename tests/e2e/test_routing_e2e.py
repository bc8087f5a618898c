"""Routing end to end through the openai SDK: features, policies, fallbacks, breakers."""

from __future__ import annotations

import signal
import time

import httpx
import openai
import pytest

from gateway.config import load_config
from tests.support.gateway_process import GatewayProcess

EN = "Please summarise the history of the printing press in two sentences."
ZH = "请用两句话总结一下印刷术的历史，并说明它对欧洲的影响。"


def sdk(gw, key="any") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def ask(gw, content, model="auto", key="any", **kw):
    return sdk(gw, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}], **kw)


def test_chinese_to_kimi_english_to_claude(gateway, kimi, claude):
    r = ask(gateway, ZH)
    assert (r.headers["x-gateway-route"], r.headers["x-gateway-provider"]) == ("chinese", "kimi")
    assert kimi.control.last_request.json["messages"][-1]["content"] == ZH
    r = ask(gateway, EN)
    assert (r.headers["x-gateway-route"], r.headers["x-gateway-provider"]) == ("default", "claude")


def test_pii_goes_to_claude_only(gateway, kimi):
    before = len(kimi.control.requests)
    r = ask(gateway, ZH + " 我的邮箱是 zhang.wei@example.com，手机 13812345678。")
    assert r.headers["x-gateway-route"] == "chinese"
    assert r.headers["x-gateway-provider"] == "claude"
    assert len(kimi.control.requests) == before  # Kimi never saw it


def test_prompt_beyond_claudes_window_goes_to_kimi(gateway):
    big = "The quick brown fox jumps over the lazy dog. " * 21000  # ~210k tokens
    r = ask(gateway, big, max_tokens=100)
    assert r.headers["x-gateway-route"] == "long-context"
    assert r.headers["x-gateway-provider"] == "kimi"


def test_strict_policy_keeps_everything_on_claude_and_refuses_what_cannot_fit(make_gateway, kimi):
    gw = make_gateway(keys="""keys:
  - name: sec
    key: k-strict
    policy: strict
""")
    r = ask(gw, ZH, key="k-strict")
    assert r.headers["x-gateway-provider"] == "claude"
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw, "hi", model="kimi-k2", key="k-strict")
    big = "The quick brown fox jumps over the lazy dog. " * 21000
    with pytest.raises(openai.BadRequestError) as e:
        ask(gw, big, key="k-strict", max_tokens=100)
    assert "200000-token window" in e.value.message and "strict" in e.value.message


def test_header_policy_tightens_but_never_loosens(make_gateway):
    gw = make_gateway(keys="""keys:
  - name: sec
    key: k-strict
    policy: strict
  - name: free
    key: k-open
    policy: open
""")
    # open key + strict header: both must hold
    r = ask(gw, ZH, key="k-open", extra_headers={"x-gateway-policy": "strict"})
    assert r.headers["x-gateway-provider"] == "claude"
    # strict key + open header: still strict
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw, "hi", model="kimi-k2", key="k-strict", extra_headers={"x-gateway-policy": "open"})
    with pytest.raises(openai.BadRequestError):
        ask(gw, "hi", key="k-open", extra_headers={"x-gateway-policy": "nope"})


@pytest.mark.parametrize("status", [500, 503, 529, 429, 408])
def test_failing_kimi_falls_back_to_claude(gateway, kimi, claude, status):
    kimi.control.fail_next(status)
    r = ask(gateway, ZH)
    assert r.headers["x-gateway-route"] == "chinese"
    assert r.headers["x-gateway-provider"] == "claude"
    assert r.headers["x-gateway-attempts"] == "2"
    assert claude.control.last_request.json["messages"][-1]["content"][0]["text"] == ZH or \
        claude.control.last_request.json["messages"][-1]["content"] == ZH


def test_connection_failure_falls_back_and_stream_falls_back_before_first_byte(gateway, kimi):
    kimi.control.fault_next("reset_before")
    r = ask(gateway, ZH)
    assert r.headers["x-gateway-provider"] == "claude"
    kimi.control.fail_next(503)
    chunks = list(sdk(gateway).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": ZH}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_client_errors_and_quota_exhaustion_do_not_fall_back(gateway, kimi, claude):
    before = len(claude.control.requests)
    kimi.control.fail_next(429, error_type="exceeded_current_quota_error",
                           message="quota exhausted")
    with pytest.raises(openai.RateLimitError):
        ask(gateway, ZH)
    kimi.control.fail_next(400, message="bad thing")
    with pytest.raises(openai.BadRequestError):
        ask(gateway, ZH)
    assert len(claude.control.requests) == before


def test_retry_after_is_honoured_for_the_last_candidate(gateway, kimi):
    kimi.control.fail_next(429, retry_after=1)
    t0 = time.monotonic()
    r = ask(gateway, "hi", model="kimi-k2")
    assert r.headers["x-gateway-provider"] == "kimi"
    assert r.headers["x-gateway-attempts"] == "2"
    assert time.monotonic() - t0 >= 0.9  # it waited as asked, then succeeded


def test_retry_after_beyond_budget_is_passed_on(gateway, kimi):
    kimi.control.fail_next(429, retry_after=30)
    with pytest.raises(openai.RateLimitError) as e:
        ask(gateway, "hi", model="kimi-k2")
    assert e.value.response.headers.get("retry-after") == "30"


def test_provider_specific_refusal_falls_back(gateway, claude):
    # Kimi's vision takes only base64: an image URL in a Chinese prompt is served by Claude.
    r = sdk(gateway).chat.completions.with_raw_response.create(model="auto", messages=[{
        "role": "user", "content": [{"type": "text", "text": ZH},
                                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}])
    assert r.headers["x-gateway-provider"] == "claude"


def test_circuit_breaker_opens_and_recovers(make_gateway, kimi):
    # The cooldown outlasts the checks made while the circuit is open, even on a loaded
    # machine (at 1 s, the auto request below sometimes found it half-open already).
    gw = make_gateway(extra="server: {circuit_failures: 2, circuit_cooldown_s: 4}")
    kimi.control.fail_next(500, times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(gw, "hi", model="kimi-k2")
    seen = len(kimi.control.requests)
    with pytest.raises(openai.APIStatusError) as e:
        ask(gw, "hi", model="kimi-k2")
    assert e.value.status_code == 503 and "circuit open" in e.value.message
    assert len(kimi.control.requests) == seen  # not sent
    ready = httpx.get(gw.url + "/readyz").json()
    assert ready["circuits"]["kimi-k2"]["state"] == "open"
    assert 'gateway_circuit_state{model="kimi-k2"} 2.0' in httpx.get(gw.url + "/metrics").text
    # auto traffic meanwhile skips kimi for claude
    r = ask(gw, ZH)
    assert r.headers["x-gateway-provider"] == "claude"
    time.sleep(4.1)
    r = ask(gw, "hi", model="kimi-k2")  # the half-open probe succeeds
    assert r.headers["x-gateway-provider"] == "kimi"
    assert httpx.get(gw.url + "/readyz").json()["circuits"]["kimi-k2"]["state"] == "closed"


@pytest.mark.parametrize("content, kw", [
    (ZH, {}), (EN, {}), (ZH + " card 4111 1111 1111 1111", {}),
    ("The quick brown fox jumps over the lazy dog. " * 21000, {"max_tokens": 100}),
    ("hi", {"model": "kimi-k2"}),
])
def test_explain_matches_what_the_proxy_does(gateway, content, kw):
    model = kw.pop("model", "auto")
    body = {"model": model, "messages": [{"role": "user", "content": content}], **kw}
    ex = httpx.post(gateway.url + "/v1/gateway/route", json=body, timeout=30).json()
    r = ask(gateway, content, model=model, **kw)
    assert ex["rule"] == r.headers["x-gateway-route"]
    assert ex["provider"] == r.headers["x-gateway-provider"]
    assert ex["upstream_model"] == r.headers["x-gateway-model"]
    assert set(ex["features"]) >= {"tokens", "language", "pii"}
    assert ex["candidates"][0] == ex["model"]


def test_explain_returns_the_refusal_with_its_trace(make_gateway):
    gw = make_gateway()
    r = httpx.post(gw.url + "/v1/gateway/route", headers={"x-gateway-policy": "strict"},
                   json={"model": "kimi-k2", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 403
    body = r.json()
    assert body["error"]["type"] == "permission_denied" and body["trace"]


def test_config_edit_takes_effect_without_restart(make_gateway, kimi, claude, tmp_path):
    path = tmp_path / "gateway.yaml"
    text = _config_text(kimi.url + "/v1", claude.url, "[claude-opus, kimi-k2]")
    path.write_text(text)
    gw = make_gateway(cfg=load_config(path, {}), config_path=str(path), watch_config=True)
    assert ask(gw, EN).headers["x-gateway-provider"] == "claude"
    # a broken edit is refused; the old config keeps serving
    path.write_text(text.replace("routing:", "routing: [broken"))
    # Refused once the watcher has seen it stable (a poll, then two reads 0.25 s apart).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and 'gateway_config_reloads_total{result="failure"} 1.0' \
            not in httpx.get(gw.url + "/metrics").text:
        time.sleep(0.1)
    assert ask(gw, EN).headers["x-gateway-provider"] == "claude"
    path.write_text(_config_text(kimi.url + "/v1", claude.url, "[kimi-k2, claude-opus]"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if ask(gw, EN).headers["x-gateway-provider"] == "kimi":
            break
        time.sleep(0.2)
    assert ask(gw, EN).headers["x-gateway-provider"] == "kimi"
    assert 'gateway_config_reloads_total{result="failure"} 1.0' in httpx.get(gw.url + "/metrics").text


def _config_text(kimi_url: str, claude_url: str, default_to: str) -> str:
    return f"""
providers:
  kimi: {{type: openai, base_url: "{kimi_url}", api_key: sk-emu-kimi}}
  claude: {{type: anthropic, base_url: "{claude_url}", api_key: sk-ant-emu}}
models:
  kimi-k2: {{provider: kimi, upstream: kimi-k2-0905-preview, context_window: 262144}}
  claude-opus: {{provider: claude, upstream: claude-opus-4-5, context_window: 200000}}
policies: {{standard: {{pii_providers: [claude]}}}}
routing:
  default_policy: standard
  rules:
    - name: default
      to: {default_to}
"""


def test_sighup_reloads_a_running_process(kimi, claude):
    with GatewayProcess(_config_text(kimi.url + "/v1", claude.url, "[claude-opus]")) as gp:
        body = {"model": "auto", "messages": [{"role": "user", "content": EN}]}
        assert httpx.post(gp.url + "/v1/chat/completions", json=body).headers[
            "x-gateway-provider"] == "claude"
        gp.config_path.write_text(_config_text(kimi.url + "/v1", claude.url, "[kimi-k2]"))
        gp.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        prov = None
        while time.monotonic() < deadline:
            prov = httpx.post(gp.url + "/v1/chat/completions", json=body).headers["x-gateway-provider"]
            if prov == "kimi":
                break
            time.sleep(0.1)
        assert prov == "kimi"


def test_in_flight_stream_finishes_on_the_config_it_started_with(make_gateway, kimi, claude,
                                                                   tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(_config_text(kimi.url + "/v1", claude.url, "[claude-opus]"))
    gw = make_gateway(cfg=load_config(path, {}), config_path=str(path))
    claude.control.chunk_delay = 0.02
    with httpx.Client(timeout=30) as h, h.stream(
            "POST", gw.url + "/v1/chat/completions",
            json={"model": "auto", "stream": True,
                  "messages": [{"role": "user", "content": "word " * 60}]}) as r:
        it = r.iter_lines()
        first = next(it)
        assert r.headers["x-gateway-provider"] == "claude"
        path.write_text(_config_text(kimi.url + "/v1", claude.url, "[kimi-k2]"))
        assert gw.rt.reload().ok
        # a new request takes the new config ...
        assert ask(gw, EN).headers["x-gateway-provider"] == "kimi"
        # ... while the stream that started before goes on to its end on claude
        rest = [first, *it]
    assert rest[-1] == "data: [DONE]" or "data: [DONE]" in rest
    assert not any('"error"' in ln for ln in rest)


def test_no_fallback_starts_after_the_attempts_deadline(make_gateway, kimi, claude):
    gw = make_gateway(extra="server: {attempts_deadline_s: 0.5}",
                      timeouts="{connect_s: 1, total_s: 1, first_byte_s: 1, idle_s: 1}")
    kimi.control.fault_next("stall_before", seconds=2)
    before = len(claude.control.requests)
    with pytest.raises(openai.APIStatusError) as e:
        ask(gw, ZH)
    assert e.value.status_code == 504
    assert len(claude.control.requests) == before  # the deadline had passed: no fallback
