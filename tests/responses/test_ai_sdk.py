"""The Vercel AI SDK (npm `ai` + `@ai-sdk/openai`, pinned in tests/agents-js): its
default provider speaks the Responses API. generateText, streamText with a tool,
generateObject, on both providers (script: tests/agents-js/ai-sdk.mjs)."""

from __future__ import annotations

import json
import subprocess

import pytest

from .js_support import JS, demo, js_tool  # noqa: F401  (demo is a fixture)


@pytest.mark.parametrize("model", ["kimi-k2", "claude-opus"])
def test_generate_text_stream_text_with_a_tool_and_generate_object(demo, model):  # noqa: F811
    js_tool("codex")  # the npm ci ran (the AI SDK has no bin of its own)
    run = subprocess.run(["node", "ai-sdk.mjs", demo.url + "/v1", model], cwd=JS,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "hello from the AI SDK" in out["text"] and out["textFinish"] == "stop"
    assert out["toolCalled"] == "Paris"
    assert out["toolResults"] == ["18C and sunny in Paris"]
    assert isinstance(out["object"]["city"], str)
    assert isinstance(out["object"]["temperature"], (int, float))
