"""The shipped dashboard and alerts against a real gateway, as deployed.

A real Prometheus scrapes a real ``gateway serve`` process (Redis store, both
emulators behind it) every second while the official SDKs send traffic that touches
every series: both providers and surfaces, streams and not, a fallback, an upstream
error, a cache hit, a rate-limit rejection, tokens and cost. Then every Grafana panel
query must return data and every alert and recording rule must evaluate without error.
The synthetic twin of this test (``test_deploy_prometheus.py``) feeds Prometheus from
a hand-filled registry; this one proves the gateway itself emits what the queries read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import anthropic
import openai
import pytest

from gateway.emulators import (
    EmulatorControl,
    EmulatorServer,
    create_anthropic_app,
    create_moonshot_app,
)
from tests.support.gateway_process import GatewayProcess
from tests.support.gateway_server import test_config_text as config_text
from tests.support.redis_server import RedisServer

from .prometheus_server import PrometheusServer
from .promql import RULES, all_queries

pytestmark = pytest.mark.timeout(60)

TEAM_KEY = "gw-live-team-key-0001"
TINY_KEY = "gw-live-tiny-key-0002"  # rpm 1: its second request is rejected
KEYS = f"""
keys:
  - name: team-a
    key: {TEAM_KEY}
    policy: standard
  - name: tiny
    key: {TINY_KEY}
    limits: {{rpm: 1}}
"""


@dataclass
class Stack:
    gateway: GatewayProcess
    prometheus: PrometheusServer
    kimi: EmulatorControl
    claude: EmulatorControl


def _traffic(stack: Stack, round_no: int) -> None:
    """One round of requests covering every series the dashboard and alerts read."""
    url = stack.gateway.url
    oa = openai.OpenAI(base_url=url + "/v1", api_key=TEAM_KEY, max_retries=0)
    an = anthropic.Anthropic(base_url=url, api_key=TEAM_KEY, max_retries=0)
    english = [{"role": "user", "content": "Tell me about the weather in Paris today."}]
    chinese = [{"role": "user", "content": "请用一句话介绍一下北京的天气情况。"}]

    # Claude (default rule), cacheable; the repeat is a cache hit.
    cached = [{"role": "user", "content": f"Name a colour, round {round_no}."}]
    for expected in ("miss", "hit"):
        raw = oa.chat.completions.with_raw_response.create(
            model="auto", messages=cached, temperature=0)
        assert raw.headers["x-gateway-cache"] == expected
    # Kimi (chinese rule), streamed with usage, so tokens and TTFT are recorded.
    chunks = list(oa.chat.completions.create(model="auto", messages=chinese, stream=True,
                                             stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    # The Anthropic surface, both ways.
    msg = an.messages.create(model="auto", max_tokens=64, messages=english)
    assert msg.content[0].type == "text"
    with an.messages.stream(model="kimi-k2", max_tokens=64, messages=english) as stream:
        assert "Paris" in stream.get_final_text()
    # A fallback: Claude answers 529, Kimi serves.
    stack.claude.fail_next(529)
    raw = oa.chat.completions.with_raw_response.create(model="auto", messages=english)
    assert raw.headers["x-gateway-provider"] == "kimi"
    assert raw.headers["x-gateway-attempts"] == "2"
    # An upstream error that reaches the client: the pinned model fails, no fallback.
    stack.claude.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        oa.chat.completions.create(model="claude-opus", messages=english)
    # A rate-limit rejection (rpm 1; GCRA spacing is 60 s, so round two is refused too).
    tiny = openai.OpenAI(base_url=url + "/v1", api_key=TINY_KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        for _ in range(2):
            tiny.chat.completions.create(model="auto", messages=english)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    kimi, claude = EmulatorControl(), EmulatorControl()
    with EmulatorServer(create_moonshot_app(kimi)) as kimi_server, \
            EmulatorServer(create_anthropic_app(claude)) as claude_server, \
            RedisServer() as redis:
        text = config_text(kimi_server.url + "/v1", claude_server.url, keys=KEYS,
                           extra=f"redis: {{url: '{redis.url}'}}\n"
                                 "cache: {enabled: true, mode: deterministic}\n")
        with GatewayProcess(text) as gw:
            target = gw.url.removeprefix("http://")
            with PrometheusServer([target], sorted(RULES.glob("*.rules.yml"))) as prom:
                s = Stack(gw, prom, kimi, claude)
                # Round one creates the series; round two, one scrape later, makes
                # every rate() and histogram_quantile() see an increase.
                prom.wait_scraped_after(time.time())
                _traffic(s, 1)
                prom.wait_scraped_after(time.time())
                _traffic(s, 2)
                prom.wait_scraped_after(time.time(), times=2)
                yield s


def test_prometheus_scrapes_the_gateway_process(stack: Stack) -> None:
    targets = stack.prometheus.get("/api/v1/targets")["data"]["activeTargets"]
    assert [(t["health"], t["lastError"]) for t in targets] == [("up", "")]
    result = stack.prometheus.query('up{job="llm-gateway"}')["data"]["result"]
    assert [r["value"][1] for r in result] == ["1"]


def test_traffic_reached_every_kind_of_series(stack: Stack) -> None:
    def total(expr: str) -> float:
        result = stack.prometheus.query(expr)["data"]["result"]
        return sum(float(r["value"][1]) for r in result)

    assert total('gateway_requests_total{provider="kimi",stream="true"}') >= 2
    assert total('gateway_requests_total{provider="claude",surface="messages"}') >= 2
    assert total('gateway_requests_total{status_class="5xx"}') >= 2
    assert total('gateway_fallbacks_total{from_model="claude-opus",to_model="kimi-k2"}') >= 2
    assert total('gateway_cache_lookups_total{result="hit"}') >= 2
    assert total('gateway_ratelimit_rejections_total{limit="rpm",key="tiny"}') >= 2
    assert total('gateway_upstream_errors_total{provider="claude",kind="5xx"}') >= 2
    assert total('gateway_tokens_total{kind="output"}') > 0
    assert total("gateway_cost_usd_total") > 0
    assert total("gateway_redis_command_duration_seconds_count") > 0


QUERIES = all_queries()


@pytest.mark.parametrize(("source", "expr"), QUERIES, ids=[s for s, _ in QUERIES])
def test_every_query_evaluates_against_the_live_gateway(stack: Stack, source: str,
                                                        expr: str) -> None:
    data = stack.prometheus.query(expr)
    assert data.get("status") == "success", f"{source}: {data.get('error')}\n{expr}"
    if source.startswith("gateway.json"):
        result = data["data"]["result"]
        assert result, f"{source}: no data\n{expr}"
        values = [float(r["value"][1]) for r in result]
        assert any(not math.isnan(v) for v in values), f"{source}: only NaN\n{expr}"


def test_every_rule_loads_healthy_in_prometheus(stack: Stack) -> None:
    groups = stack.prometheus.get("/api/v1/rules")["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert rules
    # Rules evaluate every second; give them one round after the last traffic.
    broken = {r["name"]: r.get("lastError") for r in rules if r.get("health") == "err"}
    assert not broken
