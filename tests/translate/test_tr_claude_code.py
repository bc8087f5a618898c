"""What Claude Code 2.1 sends, translated for Kimi: mid-conversation system turns at
their place; thinking, effort, context_management and cache_control dropped; tool
results with images."""

from __future__ import annotations

from typing import Any

from gateway.translate import chat_to_kimi_request, messages_to_chat_request
from tests.translate.translate_helpers import assert_valid_chat_request

KIMI = "kimi-k2-0905-preview"
EPHEMERAL = {"type": "ephemeral"}
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
BASH = {"name": "Bash", "description": "Run", "defer_loading": False, "cache_control": EPHEMERAL,
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}


def tr(body: dict[str, Any]) -> dict[str, Any]:
    hub, _ = messages_to_chat_request({"model": "kimi-k2", "max_tokens": 32000, **body},
                                      upstream_model=KIMI)
    out = chat_to_kimi_request(hub, upstream_model=KIMI)  # the chat-completions adapter
    assert_valid_chat_request(out)
    assert chat_to_kimi_request(out, upstream_model=KIMI) == out
    return out


def test_claude_code_body() -> None:
    out = tr({
        "system": [{"type": "text", "text": "billing"},
                   {"type": "text", "text": "You are a CLI.", "cache_control": EPHEMERAL}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>x</system-reminder>",
                 "cache_control": EPHEMERAL},
                {"type": "text", "text": "say hello"}]},
            {"role": "system", "content": "# Environment"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "system", "content": [{"type": "text", "text": "late", "cache_control": EPHEMERAL}]},
            {"role": "user", "content": "again"},
        ],
        "tools": [BASH],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": '{"device_id":"d"}'},
        "stream": True,
    })
    assert [(m["role"], m["content"]) for m in out["messages"]] == [
        ("system", "billing\nYou are a CLI."),
        ("user", [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                  {"type": "text", "text": "say hello"}]),
        ("system", "# Environment"),
        ("assistant", "Hi"),
        ("system", "late"),
        ("user", "again"),
    ]
    assert out["tools"] == [{"type": "function", "function": {
        "name": "Bash", "description": "Run", "parameters": BASH["input_schema"]}}]
    for dropped in ("thinking", "context_management", "output_config", "reasoning_effort"):
        assert dropped not in out
    assert "cache_control" not in str(out) and "defer_loading" not in str(out)


def test_enabled_thinking_is_dropped_too() -> None:
    out = tr({"messages": [{"role": "user", "content": "x"}],
              "thinking": {"type": "enabled", "budget_tokens": 2048},
              "output_config": {"effort": "low"}})
    assert set(out) == {"model", "messages", "max_tokens"}


def test_tool_result_images_follow_the_tool_message() -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a.png"}}
    out = tr({"messages": [
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1",
             "content": [{"type": "image", "source": PNG}]},
            {"type": "text", "text": "what is it?"}]},
    ]})
    tool, user = out["messages"][2:]
    assert tool == {"role": "tool", "tool_call_id": "toolu_1",
                    "content": "[1 image, in the next user message]"}
    assert user == {"role": "user", "content": [
        {"type": "text", "text": "Images from tool result toolu_1:"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "text", "text": "what is it?"}]}


def test_tool_result_text_and_image() -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}
    out = tr({"messages": [
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": False,
             "content": [{"type": "text", "text": "a chart"}, {"type": "image", "source": PNG}]}]},
    ]})
    assert out["messages"][2]["content"] == "a chart"
    assert out["messages"][3]["content"][0] == {"type": "text", "text": "Images from tool result toolu_1:"}
