"""Walk an OpenAI Responses body (``surface="responses"``) for the feature sink.

Same rules as ``_walk``: every string goes to the sink as it is, shapes it does not
recognise are skipped. ``instructions`` and system/developer messages are system
text; user messages are the user's (language); assistant text, tool calls, tool
outputs (``function_call_output``, ``custom_tool_call_output``) and reasoning
summaries count for tokens and PII only, as on the chat walker.
"""

from __future__ import annotations

from typing import Any

from ._walk import Sink, _openai_content, to_json_text


def _item(item: dict[str, Any], sink: Sink) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        sink.message()
        role = item.get("role")
        _openai_content(item.get("content"), sink, user=role == "user",
                        system=role in ("system", "developer"))
    elif kind in ("function_call", "custom_tool_call"):
        sink.message()
        sink.tool()
        for key in ("name", "arguments", "input"):
            if isinstance(item.get(key), str):
                sink.text(item[key])
    elif kind in ("function_call_output", "custom_tool_call_output"):
        sink.message()
        sink.tool()
        _openai_content(item.get("output"), sink, user=False, system=False)
    elif kind == "reasoning":
        for part in item.get("summary") or ():
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                sink.text(part["text"])


def walk_responses(body: dict[str, Any], sink: Sink) -> None:
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        sink.message()
        sink.text(instructions, system=True)
    inp = body.get("input")
    if isinstance(inp, str):
        sink.message()
        sink.text(inp, user=True)
    elif isinstance(inp, list):
        for item in inp:
            if isinstance(item, dict):
                _item(item, sink)
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        sink.tool()
        sink.text(to_json_text(tools))
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and isinstance(fmt.get("schema"), dict):
        sink.text(to_json_text(fmt["schema"]))
