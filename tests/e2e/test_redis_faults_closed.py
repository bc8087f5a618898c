"""Redis dies under a fail_closed gateway: requests that need it get a clear 503
(at once when killed, within about a store timeout when hung), and it serves again
as soon as Redis is back."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.limits_support import keys_yaml, oai, wait_until

MSG = [{"role": "user", "content": "is the store there"}]


@pytest.fixture
def gw(make_gateway, own_redis):
    return make_gateway(keys=keys_yaml(a="{rpm: 100}"), redis_url=own_redis.url,
                        extra="redis: {on_error: fail_closed, timeout_ms: 250}")


def assert_store_503(gw) -> None:
    with pytest.raises(openai.InternalServerError) as exc:
        oai(gw, timeout=2.5).chat.completions.create(model="claude-opus", messages=MSG)
    r = exc.value.response
    assert r.status_code == 503
    err = r.json()["error"]
    assert err["code"] == "store_unavailable" and err["type"] == "service_unavailable"
    assert "Redis is unreachable" in err["message"] and "fail closed" in err["message"]


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_fail_closed_refuses_while_redis_is_down(gw, own_redis, claude, fault):
    oai(gw).chat.completions.create(model="claude-opus", messages=MSG)
    if fault == "kill":
        own_redis.kill()
    else:
        own_redis.pause()
    try:
        for _ in range(3):
            assert_store_503(gw)
        r = httpx.get(gw.url + "/readyz", timeout=5)
        assert r.status_code == 503 and "fail_closed" in r.json()["reason"]
        assert len(claude.control.requests) == 1  # nothing unmetered went upstream
    finally:
        if fault == "kill":
            own_redis.restart()
        else:
            own_redis.resume()
    assert wait_until(lambda: httpx.get(gw.url + "/readyz", timeout=5).status_code == 200,
                      timeout=10, step=0.2)
    raw = oai(gw).chat.completions.with_raw_response.create(model="claude-opus", messages=MSG)
    assert raw.headers["x-ratelimit-limit-requests"] == "100"
