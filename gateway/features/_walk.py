"""Walk a Chat Completions or Messages body and hand every piece of text to a sink.

Bodies arrive parsed and type-validated, but the walkers still check every shape they
touch and skip what they do not recognise: a feature extractor must never be the reason a
request fails. Strings are passed through as they are (never concatenated), so a 10 MB
message costs no copy here.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson


class Sink(Protocol):
    def text(self, s: str, *, user: bool = False, system: bool = False) -> None: ...
    def message(self) -> None: ...
    def image(self) -> None: ...
    def tool(self) -> None: ...


def to_json_text(obj: Any) -> str:
    """JSON text of a tool schema / tool input, for counting and scanning."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError, RecursionError):
        return ""


def walk_openai(body: dict[str, Any], sink: Sink) -> None:
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in messages:
            if not isinstance(msg, dict):
                continue
            sink.message()
            role = msg.get("role")
            user = role == "user"
            system = role in ("system", "developer")
            name = msg.get("name")
            if isinstance(name, str):
                sink.text(name)
            _openai_content(msg.get("content"), sink, user=user, system=system)
            refusal = msg.get("refusal")
            if isinstance(refusal, str):
                sink.text(refusal)
            calls = msg.get("tool_calls")
            if isinstance(calls, list):
                for call in calls:
                    fn = call.get("function") if isinstance(call, dict) else None
                    if isinstance(fn, dict):
                        sink.tool()
                        _function_call(fn, sink)
            legacy = msg.get("function_call")
            if isinstance(legacy, dict):
                sink.tool()
                _function_call(legacy, sink)
            if role in ("tool", "function"):
                sink.tool()
    for key in ("tools", "functions"):
        tools = body.get(key)
        if isinstance(tools, list) and tools:
            sink.tool()
            sink.text(to_json_text(tools))
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
        sink.text(to_json_text(fmt["json_schema"]))


def _function_call(fn: dict[str, Any], sink: Sink) -> None:
    for key in ("name", "arguments"):
        value = fn.get(key)
        if isinstance(value, str):
            sink.text(value)


def _openai_content(content: Any, sink: Sink, *, user: bool, system: bool) -> None:
    if isinstance(content, str):
        sink.text(content, user=user, system=system)
        return
    if not isinstance(content, list):
        return
    for part in content:
        if isinstance(part, str):
            sink.text(part, user=user, system=system)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("image_url", "input_image", "image"):
            sink.image()
        elif kind == "file":
            file = part.get("file")
            if isinstance(file, dict) and isinstance(file.get("filename"), str):
                sink.text(file["filename"])
        else:
            text = part.get("text")
            if isinstance(text, str):
                sink.text(text, user=user, system=system)
            refusal = part.get("refusal")
            if isinstance(refusal, str):
                sink.text(refusal)


def walk_anthropic(body: dict[str, Any], sink: Sink) -> None:
    system = body.get("system")
    if isinstance(system, str):
        sink.text(system, system=True)
    elif isinstance(system, list):
        for block in system:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                sink.text(block["text"], system=True)
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in messages:
            if not isinstance(msg, dict):
                continue
            sink.message()
            user = msg.get("role") == "user"
            content = msg.get("content")
            if isinstance(content, str):
                sink.text(content, user=user)
            elif isinstance(content, list):
                for block in content:
                    if isinstance(block, dict):
                        _anthropic_block(block, sink, user=user)
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        sink.tool()
        sink.text(to_json_text(tools))


def _anthropic_block(block: dict[str, Any], sink: Sink, *, user: bool) -> None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if isinstance(text, str):
            sink.text(text, user=user)
    elif kind == "image":
        sink.image()
    elif kind == "tool_use":
        sink.tool()
        name = block.get("name")
        if isinstance(name, str):
            sink.text(name)
        if "input" in block:
            sink.text(to_json_text(block["input"]))
    elif kind == "tool_result":
        # Tool output counts for tokens and PII but is not the user's own language.
        sink.tool()
        inner = block.get("content")
        if isinstance(inner, str):
            sink.text(inner)
        elif isinstance(inner, list):
            for sub in inner:
                if not isinstance(sub, dict):
                    continue
                if sub.get("type") == "image":
                    sink.image()
                elif isinstance(sub.get("text"), str):
                    sink.text(sub["text"])
    elif kind in ("thinking", "redacted_thinking"):
        for key in ("thinking", "data"):
            value = block.get(key)
            if isinstance(value, str):
                sink.text(value)
    elif kind == "document":
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text":
            data = source.get("data")
            if isinstance(data, str):
                sink.text(data, user=user)
