"""The CLI: `gateway route` and `gateway serve --demo` as a newcomer runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import anthropic
import openai

from tests.support.gateway_process import GatewayProcess

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "config" / "gateway.yaml").read_text()
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def route(body: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "route", *args],
                          input=json.dumps(body), capture_output=True, text=True, env=ENV, cwd=ROOT)


def test_route_prints_the_decision_with_reasons():
    r = route({"model": "auto", "messages": [{"role": "user", "content": "你好，今天天气怎么样？"}]})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "kimi-k2" and out["rule"] == "chinese" and out["provider"] == "kimi"
    assert out["candidates"] == ["kimi-k2", "claude-opus"]
    assert out["features"]["language"] == "zh"
    assert any(t.get("rule") == "long-context" and t["matched"] is False for t in out["trace"])


def test_route_reports_the_error_the_request_would_get():
    r = route({"model": "kimi-k2", "messages": [{"role": "user", "content": "x"}]},
              "--policy", "strict")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["status"] == 403 and "strict" in out["error"]["message"]
    bad = subprocess.run([sys.executable, "-m", "gateway.cli", "route"], input="{oops",
                         capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert bad.returncode == 1 and "not valid JSON" in bad.stderr


def test_serve_demo_answers_without_any_key():
    env = {k: "" for k in ("KIMI_API_KEY", "ANTHROPIC_API_KEY", "REDIS_URL")}
    with GatewayProcess(SHIPPED, env=env, extra_args=["--demo"]) as gp:
        c = openai.OpenAI(base_url=gp.url + "/v1", api_key="anything", max_retries=0)
        raw = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Hello demo"}])
        assert raw.headers["x-gateway-demo"] == "true"
        assert "Hello demo" in raw.parse().choices[0].message.content
        chunks = list(c.chat.completions.create(
            model="kimi-k2", stream=True, messages=[{"role": "user", "content": "stream demo"}]))
        assert "stream demo" in "".join(ch.choices[0].delta.content or "" for ch in chunks
                                        if ch.choices)
        assert httpx.get(gp.url + "/readyz").status_code == 200
        log = gp.log()
    assert "DEMO MODE" in log


def test_serve_without_keys_warns_naming_the_setting():
    env = {k: "" for k in ("KIMI_API_KEY", "ANTHROPIC_API_KEY", "REDIS_URL")}
    with GatewayProcess(SHIPPED, env=env) as gp:
        r = httpx.post(gp.url + "/v1/chat/completions",
                       json={"model": "claude-opus", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 503
        assert "ANTHROPIC_API_KEY" in r.json()["error"]["message"]
        log = gp.log()
    assert "provider 'kimi' has no API key" in log and "KIMI_API_KEY" in log


def test_serve_refuses_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SHIPPED.replace("to: [kimi-k2]\n", "to: [ghost]\n", 1))
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--config", str(bad)],
                       capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=30)
    assert r.returncode == 1 and "routing.rules[0].to" in r.stderr


WEATHER_TOOLS = [
    {"type": "function", "function": {
        "name": "send_email", "description": "Send an email message to someone",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"}},
                       "required": ["to"]}}},
    {"type": "function", "function": {
        "name": "get_forecast", "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}},
]


def test_demo_calls_the_tool_the_user_asks_for_and_answers_its_result():
    """Tools defined, the tool not named: the demo model calls the one whose words match
    (else the first), with arguments from its schema; after the result it answers."""
    env = {k: "" for k in ("KIMI_API_KEY", "ANTHROPIC_API_KEY", "REDIS_URL")}
    with GatewayProcess(SHIPPED, env=env, extra_args=["--demo"]) as gp:
        c = openai.OpenAI(base_url=gp.url + "/v1", api_key="anything", max_retries=0)
        for model in ("kimi-k2", "claude-opus"):
            ask = [{"role": "user", "content": "What's the weather in Paris? Use the tool."}]
            msg = c.chat.completions.create(model=model, messages=ask,
                                            tools=WEATHER_TOOLS).choices[0].message
            assert msg.tool_calls and msg.tool_calls[0].function.name == "get_forecast", model
            assert json.loads(msg.tool_calls[0].function.arguments) == {"city": "Paris"}
            done = c.chat.completions.create(model=model, tools=WEATHER_TOOLS, messages=[
                *ask, msg.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "18 C, sunny"}])
            assert done.choices[0].finish_reason == "stop", model
            assert "18 C, sunny" in done.choices[0].message.content
            # Nothing matches: the first tool, its first string argument from backticks.
            other = c.chat.completions.create(model=model, tools=WEATHER_TOOLS, messages=[
                {"role": "user", "content": "Do it for `ann` now"}]).choices[0].message
            assert other.tool_calls and other.tool_calls[0].function.name == "send_email"
            assert json.loads(other.tool_calls[0].function.arguments) == {"to": "ann"}
            # tool_choice none: text, as asked.
            none = c.chat.completions.create(model=model, messages=ask, tools=WEATHER_TOOLS,
                                             tool_choice="none").choices[0].message
            assert not none.tool_calls and "Paris" in none.content
        claude = anthropic.Anthropic(base_url=gp.url, api_key="anything", max_retries=0)
        for model in ("kimi-k2", "claude-opus"):
            out = claude.messages.create(
                model=model, max_tokens=200,
                messages=[{"role": "user", "content": "Send a message to Bob by email"}],
                tools=[{"name": t["function"]["name"],
                        "description": t["function"]["description"],
                        "input_schema": t["function"]["parameters"]}
                       for t in reversed(WEATHER_TOOLS)])
            uses = [b for b in out.content if b.type == "tool_use"]
            assert out.stop_reason == "tool_use" and uses[0].name == "send_email", model
