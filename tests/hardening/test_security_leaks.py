"""No leaks: a session with marked secrets and a marked prompt, then every response
body and header, ``/metrics`` and the process's logs are searched for the markers.

Provider keys and gateway keys must appear nowhere a client or an operator can read;
the prompt must not appear in logs or metrics (``GATEWAY_LOG_PROMPTS`` off). Image
URLs are passed on, never fetched by the gateway.
"""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from typing import ClassVar

import httpx
import pytest

from gateway.emulators import (
    EmulatorControl,
    EmulatorServer,
    create_anthropic_app,
    create_moonshot_app,
)
from tests.support import gateway_server as gs
from tests.support.gateway_process import GatewayProcess

RUN = uuid.uuid4().hex[:10]
KIMI_KEY = f"sk-MARK-kimi-{RUN}"
CLAUDE_KEY = f"sk-ant-MARK-claude-{RUN}"
GATEWAY_KEY = f"gk-MARK-gateway-{RUN}"
PROMPT = f"MARK-PROMPT-{RUN} tell me a story"
SECRETS = [KIMI_KEY, CLAUDE_KEY, GATEWAY_KEY]


@pytest.fixture(scope="module")
def marked() -> Iterator[tuple[GatewayProcess, EmulatorControl, EmulatorControl]]:
    kc, cc = EmulatorControl(), EmulatorControl()
    kimi = EmulatorServer(create_moonshot_app(kc, api_key=KIMI_KEY))
    claude = EmulatorServer(create_anthropic_app(cc, api_key=CLAUDE_KEY))
    kimi.start()
    claude.start()
    text = gs.test_config_text(
        kimi.url + "/v1", claude.url, kimi_key="${KIMI_API_KEY}",
        anthropic_key="${ANTHROPIC_API_KEY}",
        keys="keys:\n  - {name: team, key: '${GATEWAY_KEY_TEAM}', policy: open}\n",
        timeouts="{connect_s: 1, total_s: 3, first_byte_s: 2, idle_s: 2}")
    env = {"KIMI_API_KEY": KIMI_KEY, "ANTHROPIC_API_KEY": CLAUDE_KEY,
           "GATEWAY_KEY_TEAM": GATEWAY_KEY, "GATEWAY_LOG_LEVEL": "debug"}
    try:
        with GatewayProcess(text, env=env) as gp:
            yield gp, kc, cc
    finally:
        kimi.stop()
        claude.stop()


def _session(gp: GatewayProcess, kc: EmulatorControl, cc: EmulatorControl) -> list[httpx.Response]:
    auth = {"authorization": f"Bearer {GATEWAY_KEY}", "x-api-key": GATEWAY_KEY}
    chat = {"messages": [{"role": "user", "content": PROMPT}]}
    msgs = {"max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}]}
    out: list[httpx.Response] = []
    with httpx.Client(base_url=gp.url, timeout=20) as c:
        def post(path: str, body: dict, headers: dict | None = None) -> None:
            out.append(c.post(path, json=body, headers=headers if headers is not None else auth))

        for model in ("claude-opus", "kimi-k2", "auto"):
            for stream in (False, True):
                post("/v1/chat/completions", {**chat, "model": model, "stream": stream})
                post("/v1/messages", {**msgs, "model": model, "stream": stream})
        post("/v1/messages/count_tokens", {**msgs, "model": "auto"})
        post("/v1/gateway/route", {**chat, "model": "auto"})
        # Refusals: a wrong key (a near miss of the real one), a bad body, a bad model.
        post("/v1/chat/completions", {**chat, "model": "auto"},
             {"authorization": f"Bearer {GATEWAY_KEY[:-1]}"})
        post("/v1/chat/completions", {"model": "auto", "messages": PROMPT})
        post("/v1/chat/completions", {**chat, "model": "gpt-unknown"})
        # Upstream errors, some of which echo the gateway's own provider key back.
        cc.fail_next(401)
        post("/v1/chat/completions", {**chat, "model": "claude-opus"})
        cc.fail_next(400, message=f"invalid x-api-key {CLAUDE_KEY}")
        post("/v1/messages", {**msgs, "model": "claude-opus"})
        kc.fail_next(500, message=f"key {KIMI_KEY} is not allowed")
        post("/v1/chat/completions", {**chat, "model": "kimi-k2"})
        kc.fail_next(429, message=f"quota of {KIMI_KEY} exceeded", retry_after=1, times=3)
        post("/v1/messages", {**msgs, "model": "kimi-k2"})
        # ... also inside a stream, after it started.
        for path, body in (("/v1/chat/completions", chat), ("/v1/messages", msgs)):
            cc.fault_next("error_event_mid_stream", after_chunks=2,
                          message=f"overloaded, key {CLAUDE_KEY}")
            post(path, {**body, "model": "claude-opus", "stream": True})
            kc.fault_next("error_event_mid_stream", after_chunks=2,
                          message=f"overloaded, key {KIMI_KEY}")
            post(path, {**body, "model": "kimi-k2", "stream": True})
        for path in ("/v1/models", "/metrics", "/healthz", "/readyz", "/openapi.json"):
            out.append(c.get(path, headers=auth))
    return out


def _text(r: httpx.Response) -> str:
    return "\n".join(f"{k}: {v}" for k, v in r.headers.items()) + "\n" + r.text


def test_marked_secrets_and_prompt_do_not_leak(marked):
    gp, kc, cc = marked
    responses = _session(gp, kc, cc)
    assert {r.status_code for r in responses} >= {200, 401, 400, 404, 502}
    assert any(PROMPT in r.text for r in responses)  # the echo: the search can find it
    # The upstream errors that quoted a provider key reached the client, scrubbed
    # (3 before a stream, 4 inside one): the search below is not vacuous.
    assert sum("[redacted]" in r.text for r in responses) >= 7
    for r in responses:
        for secret in SECRETS:
            assert secret not in _text(r), (r.request.url, secret)
    metrics = httpx.get(gp.url + "/metrics").text
    assert "gateway_requests_total" in metrics
    log = gp.log()
    assert '"logger":"gateway.access"' in log  # the access log was written
    for leak in [*SECRETS, f"MARK-PROMPT-{RUN}"]:
        assert leak not in metrics, leak
        assert leak not in log, leak
    # The client's gateway key is never forwarded upstream.
    for rec in kc.requests + cc.requests:
        assert GATEWAY_KEY not in repr(rec.headers) and GATEWAY_KEY not in repr(rec.json)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.end_headers()
        self.wfile.write(b"\x89PNG\r\n\x1a\n")

    def log_message(self, *args: object) -> None:
        pass


def test_image_urls_are_never_fetched(make_gateway):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/cat.png"
    gw = make_gateway()
    try:
        statuses = []
        for model in ("claude-opus", "kimi-k2", "auto"):
            for stream in (False, True):
                r = httpx.post(gw.url + "/v1/chat/completions", timeout=20, json={
                    "model": model, "stream": stream, "messages": [{"role": "user", "content": [
                        {"type": "text", "text": f"describe {url}"},
                        {"type": "image_url", "image_url": {"url": url}}]}]})
                statuses.append(r.status_code)
                r = httpx.post(gw.url + "/v1/messages", timeout=20, json={
                    "model": model, "stream": stream, "max_tokens": 32, "messages": [
                        {"role": "user", "content": [
                            {"type": "image", "source": {"type": "url", "url": url}},
                            {"type": "text", "text": "describe it"}]}]})
                statuses.append(r.status_code)
        assert 200 in statuses  # the requests were served, so the URL went somewhere
        assert _Recorder.hits == []
    finally:
        server.shutdown()
