"""The real Claude Code CLI (npm, pinned in tests/agents/package-lock.json) through
``gateway serve --demo``, on Claude, on Kimi and routed, with a Bash tool round trip."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.agents.support import run_claude
from tests.support.gateway_process import GatewayProcess

ROOT = Path(__file__).resolve().parents[2]
BASH = ("--allowedTools", "Bash(echo:*)")
ANSWER = re.compile(r"(Echo|Tool result): ")


@pytest.fixture(scope="module")
def demo() -> Iterator[GatewayProcess]:
    """The shipped config, served in demo mode (the emulators answer)."""
    text = (ROOT / "config" / "gateway.yaml").read_text()
    with GatewayProcess(text, extra_args=["--demo"],
                        env={"GATEWAY_KEY_TEAM_A": "", "REDIS_URL": ""}) as gw:
        yield gw


def _served(gw: GatewayProcess, provider: str, route: str) -> float:
    """Requests the gateway answered 2xx on the Anthropic surface, by provider and route."""
    text = httpx.get(gw.url + "/metrics").text
    total = 0.0
    for line in text.splitlines():
        if (line.startswith("gateway_requests_total{") and 'surface="messages"' in line
                and f'provider="{provider}"' in line and f'route="{route}"' in line
                and 'status_class="2xx"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _ok(result: object) -> str:
    out = result.stdout  # type: ignore[attr-defined]
    assert result.returncode == 0, f"claude exited {result.returncode}:\n{out}\n{result.stderr}"  # type: ignore[attr-defined]
    assert "API Error" not in out, out
    return out


@pytest.mark.parametrize("model,provider", [("claude-opus", "claude"), ("kimi-k2", "kimi")])
def test_claude_code_says_hello(demo: GatewayProcess, model: str, provider: str) -> None:
    before = _served(demo, provider, "pinned")
    out = _ok(run_claude(demo.url, model, "say hello"))
    # The demo model calls a tool when tools are defined and answers the result in
    # text, or echoes the user's text.
    assert ANSWER.match(out), out
    assert _served(demo, provider, "pinned") > before


def test_claude_code_auto_sends_chinese_to_kimi(demo: GatewayProcess) -> None:
    before = _served(demo, "kimi", "chinese")
    out = _ok(run_claude(demo.url, "auto", "请用中文简单介绍一下你自己"))
    assert out.strip(), out
    # The rule `chinese` picked Kimi: the English <system-reminder> blocks and system
    # prompt did not outvote the user's words, and noreply@anthropic.com is not PII.
    assert _served(demo, "kimi", "chinese") > before


@pytest.mark.parametrize("model,provider", [("claude-opus", "claude"), ("kimi-k2", "kimi")])
def test_claude_code_bash_round_trip(demo: GatewayProcess, model: str, provider: str) -> None:
    before = _served(demo, provider, "pinned")
    out = _ok(run_claude(demo.url, model, "Use the Bash tool to run `echo hello-from-bash`",
                         *BASH))
    # The model called Bash with the command, Claude Code ran it (allowed by
    # Bash(echo:*)) and sent its output back as a tool_result, and the model answered
    # that result in text.
    assert "Tool result: hello-from-bash" in out, out
    assert _served(demo, provider, "pinned") >= before + 2  # the call and the answer


def test_claude_code_with_its_own_model_ids_through_the_shipped_model_map(demo: GatewayProcess) -> None:
    # No ANTHROPIC_DEFAULT_*_MODEL: Claude Code asks for its own ids, which the shipped
    # model_map sends to auto (claude-sonnet-*) and claude-opus (claude-opus-*); with
    # model discovery on it first lists /v1/models in the Anthropic shape.
    unset: dict[str, str | None] = {k: None for k in (
        "ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
        "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_SMALL_FAST_MODEL")}
    before = _served(demo, "claude", "default")
    out = _ok(run_claude(demo.url, "claude-sonnet-4-6", "say hello",
                         env={**unset, "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}))
    assert ANSWER.match(out), out
    assert _served(demo, "claude", "default") > before
