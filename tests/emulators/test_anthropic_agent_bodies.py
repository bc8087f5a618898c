"""The Anthropic emulator takes what the real API takes from Claude Code 2.1:
system-role turns in ``messages``, adaptive thinking (with ``display``),
``context_management``, ``output_config.effort``, ``defer_loading`` tools."""

from __future__ import annotations

from .conftest import CLAUDE_MODEL, Emulator, claude_headers

BETAS = ("claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
         "mid-conversation-system-2026-04-07,effort-2025-11-24")


def claude_code_body(**extra: object) -> dict[str, object]:
    return {
        "model": CLAUDE_MODEL,
        "max_tokens": 32000,
        "system": [{"type": "text", "text": "You are a CLI.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>\nContext.\n</system-reminder>"},
                {"type": "text", "text": "say hello"}]},
            {"role": "system", "content": "# Environment\nPlatform: linux"},
        ],
        "tools": [{"name": "Bash", "description": "Run a command", "defer_loading": False,
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                                    "required": ["command"]},
                   "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": '{"device_id":"d","session_id":"s"}'},
        **extra,
    }


def test_claude_code_body_is_answered(claude: Emulator) -> None:
    r = claude.http.post(claude.v1 + "/messages", json=claude_code_body(),
                         headers={**claude_headers(), "anthropic-beta": BETAS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "message"
    # The reply reads the user turn, not the system turn after it.
    assert "say hello" in "".join(b.get("text", "") for b in body["content"])


def test_system_turn_between_tool_use_and_result_keeps_pairing(claude: Emulator) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}
    messages = [{"role": "user", "content": "list"}, {"role": "assistant", "content": [use]},
                {"role": "user", "content": [result]},
                {"role": "system", "content": [{"type": "text", "text": "note"}]}]
    r = claude.http.post(claude.v1 + "/messages", json=claude_code_body(messages=messages),
                         headers=claude_headers())
    assert r.status_code == 200, r.text
    assert "a.txt" in "".join(b.get("text", "") for b in r.json()["content"])
