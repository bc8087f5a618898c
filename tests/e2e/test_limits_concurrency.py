"""Concurrency slots: held by open streams, 429 while full, released on every path."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.limits_support import keys_yaml, nonce, oai, wait_until

# At 0.1 s between events a 60-word echo streams for ~6 s (held open unless the
# client leaves), a 10-word one for ~1 s.
LONG = " ".join(f"w{i}" for i in range(60))
SHORT = " ".join(f"s{i}" for i in range(10))


@pytest.fixture(params=["memory", "redis"])
def gw(request: pytest.FixtureRequest, make_gateway, claude):
    url = "" if request.param == "memory" else request.getfixturevalue("redis_server").url
    claude.control.chunk_delay = 0.1
    return make_gateway(keys=keys_yaml(a="{concurrency: 2}"), redis_url=url)


def in_flight(gw) -> int:
    return gw.call(gw.app.state.svc.limits.limiter.in_flight("a"))


def open_stream(gw, text: str = LONG):
    stream = oai(gw).chat.completions.create(
        model="claude-opus", messages=[{"role": "user", "content": text}], stream=True)
    it = iter(stream)
    next(it)  # headers and the first chunk are here: the slot is held
    return stream, it


def assert_full(gw) -> None:
    with pytest.raises(openai.RateLimitError) as exc:
        oai(gw).chat.completions.create(model="claude-opus",
                                        messages=[{"role": "user", "content": "one more"}])
    r = exc.value.response
    err = r.json()["error"]
    assert err["type"] == "rate_limit_exceeded" and err["code"] == "concurrency_limit_exceeded"
    assert "limit is 2 in flight" in err["message"]
    assert r.headers["retry-after"] == "1"


def test_open_streams_hold_slots_and_every_ending_frees_one(gw, claude):
    _s1, it1 = open_stream(gw, SHORT)
    s2, _ = open_stream(gw)
    assert in_flight(gw) == 2
    assert_full(gw)
    assert in_flight(gw) == 2  # the refused request held nothing

    # a stream read to its end
    text = "".join(c.choices[0].delta.content or "" for c in it1 if c.choices)
    assert "s9" in text
    assert wait_until(lambda: in_flight(gw) == 1)
    s3, _ = open_stream(gw)
    assert_full(gw)

    # client disconnect mid-stream
    s2.close()
    assert wait_until(lambda: in_flight(gw) == 1)

    # a stream the upstream cuts: the client gets an error event, the slot comes back
    claude.control.fault_next("reset_mid_stream", after_chunks=2)
    with pytest.raises(openai.APIError):
        for _ in open_stream(gw, SHORT)[1]:
            pass
    assert wait_until(lambda: in_flight(gw) == 1)
    s3.close()
    assert wait_until(lambda: in_flight(gw) == 0)
    assert wait_until(lambda: claude.control.active_streams == 0)


def test_errors_release_the_slot(gw, claude):
    # upstream refuses before any byte: a 5xx the client sees as an error
    claude.control.fail_next(500, times=2)  # one per request: a pinned model
    with pytest.raises(openai.APIStatusError):
        oai(gw).chat.completions.create(model="claude-opus", stream=True,
                                        messages=[{"role": "user", "content": "fail"}])
    with pytest.raises(openai.APIStatusError):
        oai(gw).chat.completions.create(model="claude-opus",
                                        messages=[{"role": "user", "content": "fail"}])
    assert in_flight(gw) == 0
    # the client gives up while the upstream has not answered yet
    claude.control.fault_next("stall_before", seconds=1.0)
    with pytest.raises(httpx.ReadTimeout), httpx.stream(
            "POST", gw.url + "/v1/chat/completions", timeout=0.3,
            headers={"authorization": "Bearer ka"},
            json={"model": "claude-opus", "stream": True,
                  "messages": [{"role": "user", "content": "slow"}]}) as r:
        r.read()
    assert wait_until(lambda: in_flight(gw) == 0 and claude.control.active_streams == 0)
    # both slots are usable again
    s1, _ = open_stream(gw)
    s2, _ = open_stream(gw)
    assert in_flight(gw) == 2
    s1.close()
    s2.close()
    assert wait_until(lambda: in_flight(gw) == 0)


@pytest.mark.parametrize("shape", ["json", "json-cached", "stream-cached"])
@pytest.mark.parametrize("store", ["memory", "redis"])
def test_back_to_back_requests_find_their_slot_released(store, shape, make_gateway, claude,
                                                        request):
    # The slot is released after the response is sent (background settlement, with the
    # cache write when the answer is stored); the settlement is issued before the next
    # request is read, so a client sending its requests one after another at
    # concurrency 1 is never refused.
    url = "" if store == "memory" else request.getfixturevalue("redis_server").url
    claude.control.chunk_delay = 0.0
    gw = make_gateway(keys=keys_yaml(a="{concurrency: 1}"), redis_url=url,
                      extra="cache: {mode: deterministic}")
    client = oai(gw)
    cached = shape != "json"
    for i in range(40):
        kw = {"model": "claude-opus",
              "messages": [{"role": "user", "content": f"turn {i} {nonce()}"}],
              **({"temperature": 0} if cached else {})}
        if shape.startswith("stream"):
            text = "".join(c.choices[0].delta.content or ""
                           for c in client.chat.completions.create(stream=True, **kw)
                           if c.choices)
        else:
            text = client.chat.completions.create(**kw).choices[0].message.content
        assert text
    assert wait_until(lambda: in_flight(gw) == 0)
