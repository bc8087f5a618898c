"""Provider quotas: an exhausted provider is skipped for the next candidate, never
sent a request it would refuse; with no candidate left the client gets a 429."""

from __future__ import annotations

import openai
import pytest

from gateway.config import parse_config
from tests.e2e.limits_support import oai, process_config

ZH = [{"role": "user", "content": "请用一句话介绍一下你自己"}]  # the `chinese` rule: kimi first


@pytest.fixture(params=["memory", "redis"])
def gw(request: pytest.FixtureRequest, make_gateway, kimi, claude):
    url = "" if request.param == "memory" else request.getfixturevalue("redis_server").url
    text = process_config(kimi.url, claude.url, redis_url=url, kimi_limits="{rpm: 2}")
    return make_gateway(cfg=parse_config(text, {}))


def test_exhausted_provider_is_skipped_for_the_fallback(gw, kimi, claude):
    c = oai(gw)
    for _ in range(2):
        raw = c.chat.completions.with_raw_response.create(model="auto", messages=ZH)
        assert raw.headers["x-gateway-route"] == "chinese"
        assert raw.headers["x-gateway-provider"] == "kimi"
    raw = c.chat.completions.with_raw_response.create(model="auto", messages=ZH)
    assert raw.headers["x-gateway-provider"] == "claude"
    assert raw.headers["x-gateway-model"] == "claude-opus-4-5"
    assert raw.headers["x-gateway-attempts"] == "2"  # kimi skipped, claude served
    assert raw.parse().choices[0].message.content
    assert len(kimi.control.requests) == 2
    assert len(claude.control.requests) == 1
    metrics = gw.metrics.render()[0].decode()
    assert 'gateway_ratelimit_rejections_total{key="-",limit="provider_rpm"} 1.0' in metrics


def test_only_candidate_exhausted_is_a_429(gw, kimi):
    c = oai(gw)
    for _ in range(2):
        c.chat.completions.create(model="kimi-k2", messages=ZH)
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="kimi-k2", messages=ZH)
    r = exc.value.response
    err = r.json()["error"]
    assert err["type"] == "rate_limit_exceeded" and err["code"] == "provider_quota_exhausted"
    assert "provider kimi" in err["message"] and "rpm" in err["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 30
    assert len(kimi.control.requests) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_provider_tpm_is_reconciled_with_real_usage(make_gateway, store_url, kimi, claude,
                                                    stream):
    """Kimi's quota is charged prompt + max_tokens up front and corrected to the real
    usage afterwards: three 2000-token asks fit a 5000 tpm quota one after another."""
    text = process_config(kimi.url, claude.url, redis_url=store_url,
                          kimi_limits="{tpm: 5000}")
    gw = make_gateway(cfg=parse_config(text, {}))
    c = oai(gw)
    for _ in range(3):
        if stream:
            with c.chat.completions.with_streaming_response.create(
                    model="auto", messages=ZH, max_tokens=2000, stream=True) as resp:
                provider = resp.headers["x-gateway-provider"]
                list(resp.parse())
        else:
            raw = c.chat.completions.with_raw_response.create(model="auto", messages=ZH,
                                                              max_tokens=2000)
            provider = raw.headers["x-gateway-provider"]
        assert provider == "kimi"
    assert len(kimi.control.requests) == 3 and not claude.control.requests
