"""The Vercel AI SDK (npm ``ai`` + ``@ai-sdk/anthropic``, pinned in the lockfile) with
its default ``max_tokens`` (128000 for a model id it does not know): capped at the
model's ``max_output_tokens`` for Claude, served on Kimi and by ``auto``."""

from __future__ import annotations

import json

import pytest

from tests.agents.support import HERE, run_node

SCRIPT = (HERE / "ai_sdk_probe.mjs").read_text()


def _run(gateway, model: str, prompt: str = "hello from the ai sdk") -> dict:
    result = run_node(SCRIPT, {"GATEWAY_URL": gateway.url, "MODEL": model, "PROMPT": prompt})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# The SDK's default max_tokens: 128000 for claude-* ids it has no table entry for,
# 4096 otherwise; claude-opus's max_output_tokens is 64000.
@pytest.mark.parametrize("model,provider,sent_max", [("claude-opus", "claude", 64000),
                                                     ("kimi-k2", "kimi", 4096),
                                                     ("auto", "claude", 4096)])
def test_ai_sdk_generate_and_stream(gateway, kimi, claude, model, provider, sent_max):
    out = _run(gateway, model)
    assert "error" not in out and "streamError" not in out, out
    assert out["text"] == "Echo: hello from the ai sdk"
    assert out["streamed"] == out["text"]
    upstream = claude if provider == "claude" else kimi
    assert upstream.control.last_request.json["max_tokens"] == sent_max


def test_ai_sdk_claude_id_mapped_to_auto_falls_back_to_kimi(make_gateway, kimi, claude):
    gw = make_gateway(extra="model_map: {claude-opus-4-*: auto}")
    claude.control.fail_next(529, times=2)  # the generate call and the stream call
    out = _run(gw, "claude-opus-4-7")  # an id the SDK gives max_tokens 128000
    assert "error" not in out and "streamError" not in out, out
    assert out["text"] == out["streamed"] == "Echo: hello from the ai sdk"
    # The SDK asked for more than claude-opus can give: capped there, not refused,
    # and the fallback to Kimi carried the request as asked.
    assert claude.control.requests[0].json["max_tokens"] == 64000
    assert kimi.control.last_request.json["max_tokens"] > 64000
