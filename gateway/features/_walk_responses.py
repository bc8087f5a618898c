"""Walk an OpenAI Responses body (``surface="responses"``) for the feature sink.

Same rules as ``_walk``: every string goes to the sink as it is, shapes it does not
recognise are skipped. ``instructions`` and system/developer messages are system
text; user messages are the user's (language); assistant text, tool calls, tool
outputs (``function_call_output``, ``custom_tool_call_output``) and reasoning
(summary and content) count for tokens and PII only, as on the chat walker.

Messages are counted as the chat body the gateway makes of the input
(``translate/responses_request.py``) has them: an assistant message and the function
calls after it are one assistant turn, as are consecutive calls; a reasoning item starts
a new one (its text becomes that turn's ``reasoning_content``).
"""

from __future__ import annotations

from typing import Any

from ._walk import Sink, _openai_content, count_definitions, definition, output_schema

# What the last input item left open on the chat side: no assistant turn, an assistant
# turn with text only (more text joins it), or one with tool calls (more calls join it).
_NONE, _TEXT, _CALLS = 0, 1, 2


def _item(item: dict[str, Any], sink: Sink, turn: int) -> int:
    """Walks one input item; returns the assistant turn it leaves open."""
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role == "assistant":
            if turn != _TEXT:
                sink.message()
            _openai_content(item.get("content"), sink, user=False, system=False)
            return _TEXT
        sink.message()
        _openai_content(item.get("content"), sink, user=role == "user",
                        system=role in ("system", "developer"))
        return _NONE
    if kind in ("function_call", "custom_tool_call"):
        if turn == _NONE:
            sink.message()
        sink.tool()
        for key in ("name", "arguments", "input"):
            if isinstance(item.get(key), str):
                sink.text(item[key])
        return _CALLS
    if kind in ("function_call_output", "custom_tool_call_output"):
        sink.message()
        sink.tool()
        _openai_content(item.get("output"), sink, user=False, system=False)
        return _NONE
    if kind == "reasoning":
        thought = False
        for key in ("summary", "content"):
            parts = item.get(key)
            if not isinstance(parts, list):
                continue
            for part in parts:
                if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                    sink.text(part["text"])
                    thought = True
        return _NONE if thought else turn
    return turn


def _definitions(tools: list[Any], entries: list[Any]) -> int:
    """Adds the entries of ``tools`` (namespaces flattened); returns how many are
    function tools."""
    functions = 0
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in ("function", "custom"):
            # a custom tool's free-form input format stands where a schema would
            entries.append(definition(tool, "parameters" if kind == "function" else "format"))
            functions += 1
        elif kind == "namespace" and isinstance(tool.get("tools"), list):
            functions += _definitions(tool["tools"], entries)
        else:  # hosted tools (web_search...), unknown shapes: their JSON
            entries.append(tool)
    return functions


def walk_responses(body: dict[str, Any], sink: Sink) -> None:
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        sink.message()
        sink.text(instructions, system=True)
    inp = body.get("input")
    if isinstance(inp, str):
        sink.message()
        sink.text(inp, user=True)
    elif isinstance(inp, list):
        turn = _NONE
        for item in inp:
            if isinstance(item, dict):
                turn = _item(item, sink, turn)
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        entries: list[Any] = []
        count_definitions(entries, _definitions(tools, entries), sink)
    text = body.get("text")
    if isinstance(text, dict):
        output_schema(text.get("format"), sink)
