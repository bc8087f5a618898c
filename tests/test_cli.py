"""The CLI: `gateway route` and `gateway serve --demo` as a newcomer runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
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
