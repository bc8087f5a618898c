"""Per-key rpm through the openai SDK: exactly N, then OpenAI-shaped 429s."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.limits_support import keys_yaml, oai

MSG = [{"role": "user", "content": "hello limits"}]
RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens")



def test_exactly_n_then_429_with_openai_shape(make_gateway, claude, store_url):
    gw = make_gateway(keys=keys_yaml(a="{rpm: 5, tpm: 100000}"), redis_url=store_url)
    c = oai(gw)
    remaining = []
    for _ in range(5):
        raw = c.chat.completions.with_raw_response.create(model="claude-opus", messages=MSG)
        assert raw.parse().choices[0].message.content
        assert all(h in raw.headers for h in RATE_HEADERS), dict(raw.headers)
        assert raw.headers["x-ratelimit-limit-requests"] == "5"
        assert raw.headers["x-ratelimit-limit-tokens"] == "100000"
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [4, 3, 2, 1, 0]
    upstream_before = len(claude.control.requests)
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="claude-opus", messages=MSG)
    r = exc.value.response
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "rate_limit_exceeded" and err["code"] == "rate_limit_exceeded"
    assert "requests per minute (rpm)" in err["message"] and "limit 5" in err["message"]
    # GCRA: one request refills every 60/5 = 12 s.
    assert 1 <= int(r.headers["retry-after"]) <= 12
    assert all(h in r.headers for h in RATE_HEADERS)
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.headers["x-ratelimit-reset-requests"].endswith("s")
    # A refused request never reaches a provider.
    assert len(claude.control.requests) == upstream_before


def test_other_keys_are_not_limited_by_one_keys_use(make_gateway, store_url):
    gw = make_gateway(keys=keys_yaml(a="{rpm: 2}", b="{rpm: 2}"), redis_url=store_url)
    for _ in range(2):
        oai(gw, "ka").chat.completions.create(model="claude-opus", messages=MSG)
    with pytest.raises(openai.RateLimitError):
        oai(gw, "ka").chat.completions.create(model="claude-opus", messages=MSG)
    raw = oai(gw, "kb").chat.completions.with_raw_response.create(model="claude-opus",
                                                                   messages=MSG)
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"


def test_refused_request_consumes_nothing(make_gateway, store_url):
    """A request refused by tpm (it alone is too large) charges neither rpm nor tpm."""
    gw = make_gateway(keys=keys_yaml(a="{rpm: 3, tpm: 2000}"), redis_url=store_url)
    c = oai(gw)
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="claude-opus", messages=MSG, max_tokens=5000)
    err = exc.value.response.json()["error"]
    assert "tokens per minute (tpm)" in err["message"] and "2000" in err["message"]
    # Retrying cannot help a request larger than the limit: no retry-after.
    assert "retry-after" not in exc.value.response.headers
    for left in (2, 1, 0):
        raw = c.chat.completions.with_raw_response.create(model="claude-opus", messages=MSG,
                                                          max_tokens=100)
        assert raw.headers["x-ratelimit-remaining-requests"] == str(left)
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="claude-opus", messages=MSG, max_tokens=100)
    assert "rpm" in exc.value.response.json()["error"]["message"]


def test_key_without_limits_gets_no_rate_headers(make_gateway, store_url):
    gw = make_gateway(keys=keys_yaml(a="{}"), redis_url=store_url)
    raw = oai(gw).chat.completions.with_raw_response.create(model="claude-opus", messages=MSG)
    assert not [h for h in raw.headers if h.startswith("x-ratelimit")]
