"""Reduce a validated Moonshot (OpenAI-format) chat request to a neutral ``Prompt``
and an input-token estimate, the same way ``anthropic_prompt`` does for Claude."""

from __future__ import annotations

from typing import Any

import orjson

from .replies import Prompt, TokenMeter, ToolMode, ToolSpec

THINKING_MODELS = frozenset({"kimi-k2-thinking"})


def text_of(content: Any) -> str:
    """The text of a message's content (a string, or the text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def last_user_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trailing run of user/tool messages, ignoring a final assistant prefill.

    Anthropic folds tool results and the text after them into one user turn; taking
    the run makes both emulators look at the same messages. System messages inside
    or after the run (mid-conversation system turns) are skipped, as Anthropic's
    emulator skips its system turns.
    """
    end = len(messages)
    if end and messages[-1].get("role") == "assistant":
        end -= 1
    start = end
    while start > 0 and messages[start - 1].get("role") in ("user", "tool", "system"):
        start -= 1
    return [m for m in messages[start:end] if m.get("role") != "system"]


def build_prompt(body: dict[str, Any], text_override: str | None) -> Prompt:
    messages: list[dict[str, Any]] = body["messages"]
    turn = last_user_turn(messages)
    images = sum(
        1
        for m in messages
        if m.get("role") == "user" and isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and p.get("type") == "image_url"
    )
    tools = tuple(
        ToolSpec(t["function"]["name"], t["function"].get("parameters") or {},
                 t["function"].get("description") or "")
        for t in body.get("tools") or ()
        if t.get("type") == "function"
    )
    choice = body.get("tool_choice")
    mode: ToolMode = "auto"
    forced = None
    if choice == "none":
        mode = "none"
    elif isinstance(choice, dict):
        mode, forced = "tool", choice["function"]["name"]
    stop = body.get("stop")
    response_format = body.get("response_format") or {}
    schema = None
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return Prompt(
        last_user_text="\n".join(text_of(m.get("content")) for m in turn if m["role"] == "user"),
        tool_results=tuple(text_of(m.get("content")) for m in turn if m["role"] == "tool"),
        image_count=images,
        tools=tools,
        tool_mode=mode,
        forced_tool=forced,
        parallel=body.get("parallel_tool_calls") is not False,
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        max_tokens=max_tokens,
        json_schema=schema,
        json_mode=response_format.get("type") == "json_object",
        thinking=body["model"] in THINKING_MODELS,
        text_override=text_override,
    )


def input_tokens(body: dict[str, Any]) -> int:
    """Characters of everything the model reads / 4, images at a flat cost."""
    meter = TokenMeter()
    for message in body["messages"]:
        content = message.get("content")
        meter.add(text_of(content))
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    meter.add_image()
        for call in message.get("tool_calls") or ():
            function = call["function"]
            meter.add(function["name"])
            meter.add(_compact(function["arguments"]))
    for tool in body.get("tools") or ():
        function = tool["function"]
        meter.add(function["name"])
        meter.add(function.get("description") or "")
        meter.add_json(function.get("parameters") or {})
    return meter.tokens


def _compact(arguments: str) -> str:
    # Re-serialise compactly, as a translator to Anthropic's `input` object would.
    try:
        return orjson.dumps(orjson.loads(arguments)).decode()
    except orjson.JSONDecodeError:
        return arguments


def prior_tool_calls(body: dict[str, Any]) -> int:
    """How many tool calls the conversation already holds (K2 numbers ids globally)."""
    return sum(
        len(m.get("tool_calls") or ()) for m in body["messages"] if m.get("role") == "assistant"
    )
