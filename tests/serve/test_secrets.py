"""Secrets never leave the gateway: not in logs, /metrics, or any response.

The emulators here accept marked keys (``api_key=``), the gateway key comes from the
environment as in production, and Claude's key is deliberately wrong so the
upstream-401 path runs. Upstream error messages that quote the key, on both request
and stream paths, try hard to make the gateway repeat it. Every response (bodies and
headers, errors included), every exposition and the whole of stderr are then searched
for each secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from gateway.emulators import (
    EmulatorControl,
    EmulatorServer,
    create_anthropic_app,
    create_moonshot_app,
)
from tests.support.gateway_process import GatewayProcess

from .support import ENGLISH, access_line, config_text

pytestmark = pytest.mark.timeout(60)

KIMI_SECRET = "sk-kimi-SECRET-aa11bb22cc33"
CLAUDE_SECRET = "sk-ant-SECRET-dd44ee55ff66"  # what the emulator accepts
CLAUDE_WRONG = "sk-ant-WRONG-SECRET-778899"  # what the gateway is configured with
GATEWAY_SECRET = "gw-SECRET-team-a-0099887766"
SECRETS = (KIMI_SECRET, CLAUDE_SECRET, CLAUDE_WRONG, GATEWAY_SECRET)

KEYS = """
keys:
  - name: team-a
    key: ${GATEWAY_KEY_TEAM_A}
"""


@dataclass
class Setup:
    gw: GatewayProcess
    kimi: EmulatorControl
    claude: EmulatorControl
    seen: list[str] = field(default_factory=list)  # every response, as text

    def request(self, method: str, path: str, *, key: str | None = GATEWAY_SECRET,
                **kw: object) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        r = httpx.request(method, self.gw.url + path, headers=headers, timeout=10, **kw)
        self.seen.append(f"{r.status_code} {dict(r.headers)}\n{r.text}")
        return r


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    kimi, claude = EmulatorControl(), EmulatorControl()
    with EmulatorServer(create_moonshot_app(kimi, api_key=KIMI_SECRET)) as k, \
            EmulatorServer(create_anthropic_app(claude, api_key=CLAUDE_SECRET)) as c:
        text = config_text(k.url, c.url, keys=KEYS, kimi_key=KIMI_SECRET,
                           anthropic_key=CLAUDE_WRONG)
        # Prompts logged: a prompt quoting a key is the one way a secret reaches a log
        # line from outside, so the redactor has something to do.
        env = {"GATEWAY_KEY_TEAM_A": GATEWAY_SECRET, "GATEWAY_LOG_PROMPTS": "true"}
        with GatewayProcess(text, env=env) as gw:
            yield Setup(gw, kimi, claude)


def _chat(s: Setup, model: str, *, stream: bool = False, key: str | None = GATEWAY_SECRET,
          ) -> httpx.Response:
    return s.request("POST", "/v1/chat/completions", key=key,
                     json={"model": model, "messages": ENGLISH, "stream": stream})


def test_the_gateway_uses_the_keys_and_serves(setup: Setup) -> None:
    r = _chat(setup, "kimi-k2")
    assert r.status_code == 200 and "Paris" in r.json()["choices"][0]["message"]["content"]
    assert setup.kimi.last_request.headers["authorization"] == f"Bearer {KIMI_SECRET}"
    r = _chat(setup, "kimi-k2", stream=True)
    assert r.status_code == 200 and "data: [DONE]" in r.text


def test_upstream_401_names_the_setting_not_the_key(setup: Setup) -> None:
    r = _chat(setup, "claude-opus")
    assert r.status_code == 502
    assert "providers.claude.api_key" in r.json()["error"]["message"]
    assert setup.claude.last_request.headers["x-api-key"] == CLAUDE_WRONG
    r = setup.request("POST", "/v1/messages", json={"model": "claude-opus", "max_tokens": 16,
                                                    "messages": ENGLISH})
    assert r.status_code == 502 and r.json()["type"] == "error"


def test_upstream_messages_quoting_the_key_are_scrubbed(setup: Setup) -> None:
    quoted = f"Incorrect API key provided: {KIMI_SECRET}"
    setup.kimi.fail_next(401, message=quoted)
    assert _chat(setup, "kimi-k2").status_code == 502
    setup.kimi.fail_next(400, message=quoted)
    r = _chat(setup, "kimi-k2")
    assert r.status_code == 400 and "Incorrect API key provided" in r.text
    setup.kimi.fault_next("error_body_200", message=quoted)
    assert _chat(setup, "kimi-k2").status_code == 502
    setup.kimi.fault_next("error_event_mid_stream", message=quoted)
    r = _chat(setup, "kimi-k2", stream=True)
    assert r.status_code == 200 and '"error"' in r.text


def test_client_keys_are_not_echoed(setup: Setup) -> None:
    wrong = GATEWAY_SECRET + "-but-wrong"
    r = _chat(setup, "kimi-k2", key=wrong)
    assert r.status_code == 401
    assert wrong not in r.text and wrong not in str(r.headers)
    r = setup.request("POST", "/v1/gateway/route",
                      json={"model": "auto", "messages": ENGLISH})
    assert r.status_code == 200 and r.json()["model"]


def test_other_endpoints(setup: Setup) -> None:
    for path in ("/metrics", "/readyz", "/healthz", "/openapi.json"):
        assert setup.request("GET", path, key=None).status_code == 200, path
    for path in ("/v1/models",):
        assert setup.request("GET", path).status_code == 200, path
        assert setup.request("GET", path, key=None).status_code == 401, path
    assert 'key="team-a"' in setup.request("GET", "/metrics", key=None).text


def test_a_prompt_quoting_secrets_is_logged_redacted(setup: Setup) -> None:
    prompt = f"my keys are {GATEWAY_SECRET} and {KIMI_SECRET}, keep them safe"
    # Not recorded in `seen`: the emulator echoes the client's own text back.
    r = httpx.post(setup.gw.url + "/v1/chat/completions", timeout=10,
                   headers={"authorization": f"Bearer {GATEWAY_SECRET}", "x-request-id": "sec-p"},
                   json={"model": "kimi-k2", "messages": [{"role": "user", "content": prompt}]})
    assert r.status_code == 200 and GATEWAY_SECRET in r.text
    line = access_line(setup.gw, "sec-p")
    assert line["prompt"] == [{"role": "user", "content":
                               "my keys are [redacted] and [redacted], keep them safe"}]


# Runs last in the module: it reads what the tests above produced.
def test_no_secret_anywhere(setup: Setup) -> None:
    assert len(setup.seen) >= 15
    responses = "\n".join(setup.seen)
    log = setup.gw.log()
    for secret in SECRETS:
        assert secret not in responses, f"{secret} in a response"
        assert secret not in log, f"{secret} in the log"
    # The quoted key reached the gateway and was redacted, not silently dropped.
    assert "[redacted]" in responses
