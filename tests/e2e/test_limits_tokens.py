"""tpm and the daily USD budget: admitted on the estimate, reconciled with real usage."""

from __future__ import annotations

import openai
import pytest

from gateway.features import extract_features
from tests.e2e.limits_support import keys_yaml, nonce, oai, requests_done, wait_until

TPM = 6000  # refills 100 tokens/s: far slower than the gap the tests depend on


def remaining_tokens(raw) -> int:
    return int(raw.headers["x-ratelimit-remaining-tokens"])


def test_tpm_estimate_is_prompt_plus_requested_output(make_gateway, store_url):
    gw = make_gateway(keys=keys_yaml(a=f"{{tpm: {TPM}}}"), redis_url=store_url)
    msgs = [{"role": "user", "content": "count my tokens please"}]
    raw = oai(gw).chat.completions.with_raw_response.create(model="claude-opus", messages=msgs,
                                                            max_tokens=1000)
    estimate = TPM - remaining_tokens(raw)
    # prompt estimate (a handful of tokens) + the 1000 requested
    assert 1000 < estimate < 1100
    assert raw.headers["x-ratelimit-limit-tokens"] == str(TPM)


@pytest.mark.parametrize("stream", [False, True])
def test_reconcile_charges_real_usage_not_the_estimate(make_gateway, store_url, stream):
    gw = make_gateway(keys=keys_yaml(a=f"{{tpm: {TPM}}}"), redis_url=store_url)
    c = oai(gw)
    msgs = [{"role": "user", "content": f"reconcile me {nonce()}"}]
    if stream:
        with c.chat.completions.with_streaming_response.create(
                model="claude-opus", messages=msgs, max_tokens=1000, stream=True,
                stream_options={"include_usage": True}) as resp:
            first = remaining_tokens(resp)
            chunks = list(resp.parse())
        actual = chunks[-1].usage.total_tokens
    else:
        raw = c.chat.completions.with_raw_response.create(model="claude-opus", messages=msgs,
                                                          max_tokens=1000)
        first = remaining_tokens(raw)
        actual = raw.parse().usage.total_tokens
    estimate = TPM - first
    assert 0 < actual < estimate - 500
    raw2 = c.chat.completions.with_raw_response.create(model="claude-opus", messages=msgs,
                                                       max_tokens=1000)
    # The first request now weighs its real usage: with its estimate still charged the
    # second would see TPM - 2 * estimate, about 1000 tokens (10 s of refill) less.
    assert remaining_tokens(raw2) >= TPM - actual - estimate


def test_tpm_refuses_what_real_usage_left_no_room_for(make_gateway, store_url, claude):
    """A long real answer is charged in full; the next estimate that does not fit in
    what is left gets a tpm 429, which itself consumes nothing."""
    gw = make_gateway(keys=keys_yaml(a="{tpm: 3000}"), redis_url=store_url)
    c = oai(gw)
    claude.control.text_override = "abcd " * 1200  # the emulator counts chars / 4
    msgs = [{"role": "user", "content": "say a lot"}]
    raw = c.chat.completions.with_raw_response.create(model="claude-opus", messages=msgs,
                                                      max_tokens=2000)
    prompt_est = 3000 - remaining_tokens(raw) - 2000
    actual = raw.parse().usage.total_tokens
    assert actual > 1400
    claude.control.text_override = None
    free = 3000 - actual - prompt_est  # what is left after the reconcile (plus refill)
    # 300 tokens over: about 6 s of refill at 3000/min, far more than the test takes.
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="claude-opus", messages=msgs, max_tokens=free + 300)
    r = exc.value.response
    assert r.json()["error"]["type"] == "rate_limit_exceeded"
    assert "tokens per minute (tpm)" in r.json()["error"]["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["x-ratelimit-limit-tokens"] == "3000"
    assert len(claude.control.requests) == 1  # the refused one never went upstream
    # The refusal charged nothing: a request that fits in what is left still passes.
    c.chat.completions.create(model="claude-opus", messages=msgs, max_tokens=free - 100)


def test_daily_budget_reconciled_and_refused(make_gateway, store_url):
    """claude-opus costs $5/$25 per Mtok: 1000 requested output tokens are $0.025."""
    gw = make_gateway(keys=keys_yaml(a="{budget_usd_per_day: 0.05}"), redis_url=store_url)
    c = oai(gw)
    words = " ".join(["budget"] * 40)
    msgs = [{"role": "user", "content": words}]
    c.chat.completions.create(model="claude-opus", messages=msgs, max_tokens=1000)
    # Admitted only because the first was reconciled from $0.025 to its real ~$0.002.
    c.chat.completions.create(model="claude-opus", messages=msgs, max_tokens=1900)
    # Fits the budget alone, not on top of what was really spent: refused until midnight.
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="claude-opus", messages=msgs, max_tokens=1960)
    r = exc.value.response
    assert r.json()["error"]["type"] == "rate_limit_exceeded"
    msg = r.json()["error"]["message"]
    assert "Daily budget of $0.05 reached" in msg and "00:00 UTC" in msg
    assert 1 <= int(r.headers["retry-after"]) <= 86400
    # A request too expensive for any day gets no retry-after.
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="claude-opus", messages=msgs, max_tokens=4000)
    assert "retry-after" not in exc.value.response.headers
    assert "budget" in exc.value.response.json()["error"]["message"]


def test_cache_hit_counts_a_request_but_refunds_its_tokens(make_gateway, store_url, claude):
    gw = make_gateway(keys=keys_yaml(a=f"{{rpm: 10, tpm: {TPM}}}"), redis_url=store_url)
    c = oai(gw)
    msgs = [{"role": "user", "content": f"cache and limits {nonce()}"}]
    kw = {"model": "claude-opus", "messages": msgs, "max_tokens": 1000, "temperature": 0}
    miss = c.chat.completions.with_raw_response.create(**kw)
    assert miss.headers["x-gateway-cache"] == "miss"
    estimate = TPM - remaining_tokens(miss)
    actual = miss.parse().usage.total_tokens
    hits = [c.chat.completions.with_raw_response.create(**kw) for _ in range(3)]
    assert [h.headers["x-gateway-cache"] for h in hits] == ["hit"] * 3
    assert len(claude.control.requests) == 1
    # Each hit counts against rpm...
    assert [h.headers["x-ratelimit-remaining-requests"] for h in hits] == ["8", "7", "6"]
    # ...but its estimate is refunded: every hit sees only the miss's real usage plus
    # its own estimate, never the earlier hits' estimates.
    for h in hits:
        assert remaining_tokens(h) >= TPM - actual - estimate


def test_stream_left_before_usage_keeps_its_estimate(make_gateway, store_url, kimi):
    """A client that leaves a Kimi stream before its usage report gets nothing back:
    the upstream spent tokens nobody counted, so the estimate stays charged."""
    gw = make_gateway(keys=keys_yaml(a=f"{{tpm: {TPM}}}"), redis_url=store_url)
    kimi.control.chunk_delay = 0.05
    c = oai(gw)
    msgs = [{"role": "user", "content": " ".join(["leave"] * 40)}]
    estimate = extract_features({"messages": msgs}, surface="chat_completions").tokens + 2000
    stream = c.chat.completions.create(model="kimi-k2", messages=msgs, max_tokens=2000,
                                       stream=True)
    next(iter(stream))
    stream.close()
    # Counted in the metrics once its reconcile (or not) is done.
    assert wait_until(lambda: requests_done(gw) == 1)
    kimi.control.chunk_delay = 0
    raw = c.chat.completions.with_raw_response.create(model="kimi-k2", messages=msgs,
                                                      max_tokens=2000)
    # Both estimates are charged (give or take 10 s of refill), not just this one's.
    assert remaining_tokens(raw) < TPM - 2 * estimate + 1000
