"""Walk a Chat Completions or Messages body and hand every piece of text to a sink.

Bodies arrive parsed and type-validated, but the walkers still check every shape they
touch and skip what they do not recognise: a feature extractor must never be the reason a
request fails. Strings are passed through as they are (never concatenated), so a 10 MB
message costs no copy here.

The same request must have the same features whichever API it arrives in (routing rules,
PII policies and token limits would otherwise depend on the client's SDK), so the walkers
count what the gateway's hub, chat completions, would carry
(``tests/features/test_surface_parity.py`` holds them to it, field by field):

- a Messages ``system`` is one system message, and a ``system`` turn inside ``messages``
  (Claude Code's) is system text, as a chat system message is;
- a ``tool_result`` block is a message of its own, as chat's ``tool`` message is (the
  user turn around it is one more only if it holds anything else), and ``is_error``
  counts as the ``"Error: "`` the translator writes;
- a tool definition counts as the JSON of its name, description and parameter schema,
  plus a fixed overhead (``Sink.definitions``), not the JSON wrapper each API puts
  around them (``{"type": "function", "function": ...}`` against ``input_schema``);
- chat's ``reasoning_content`` (Moonshot) counts as a thinking block's text does;
- a structured-output schema counts its ``schema`` (chat ``response_format``, Messages
  ``output_config.format``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

# What translate/from_messages.py writes before an is_error tool result on chat.
TOOL_ERROR_PREFIX = "Error: "


class Sink(Protocol):
    def text(self, s: str, *, user: bool = False, system: bool = False) -> None: ...
    def message(self) -> None: ...
    def extra_messages(self, n: int) -> None: ...
    def image(self) -> None: ...
    def tool(self) -> None: ...
    def definitions(self, n: int) -> None: ...


def to_json_text(obj: Any) -> str:
    """JSON text of a tool schema / tool input, for counting and scanning."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError, RecursionError):
        return ""


def definition(fn: dict[str, Any], schema_key: str) -> tuple[Any, Any, Any]:
    """What a function tool is on every surface: name, description, parameter schema."""
    return (fn.get("name"), fn.get("description"), fn.get(schema_key))


def count_definitions(entries: list[Any], functions: int, sink: Sink) -> None:
    """Tool definitions as one JSON text (one string to count, however many tools)."""
    sink.tool()
    sink.definitions(functions)
    sink.text(to_json_text(entries))


def definitions(tools: Any, sink: Sink, function: Callable[[Any], Any], schema_key: str,
                ) -> None:
    """A non-empty ``tools`` list: the function tools ``function(tool)`` finds by their
    ``definition``; any other tool (a server tool) by its JSON."""
    if not isinstance(tools, list) or not tools:
        return
    entries: list[Any] = []
    functions = 0
    for tool in tools:
        fn = function(tool)
        if isinstance(fn, dict):
            entries.append(definition(fn, schema_key))
            functions += 1
        else:
            entries.append(tool)
    count_definitions(entries, functions, sink)


def _chat_function(tool: Any) -> Any:
    return tool.get("function") if isinstance(tool, dict) else None


def _legacy_function(tool: Any) -> Any:
    return tool


def _custom_tool(tool: Any) -> Any:
    # Messages' own tools have no type (or "custom"); server tools name theirs.
    return tool if isinstance(tool, dict) and tool.get("type") in (None, "custom") else None


def output_schema(fmt: Any, sink: Sink) -> None:
    """A structured-output format's ``schema`` (the format's other keys are not text)."""
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    if isinstance(schema, dict):
        sink.text(to_json_text(schema))


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
            reasoning = msg.get("reasoning_content")
            if isinstance(reasoning, str):
                sink.text(reasoning)
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
    definitions(body.get("tools"), sink, _chat_function, "parameters")
    definitions(body.get("functions"), sink, _legacy_function, "parameters")
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        output_schema(fmt.get("json_schema"), sink)


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
        if system:
            sink.message()
            sink.text(system, system=True)
    elif isinstance(system, list):
        counted = False
        for block in system:
            text = block.get("text") if isinstance(block, dict) else None
            if isinstance(text, str) and text:
                if not counted:
                    sink.message()
                    counted = True
                sink.text(text, system=True)
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in messages:
            if not isinstance(msg, dict):
                continue
            sink.message()
            role = msg.get("role")
            user = role == "user"
            system_turn = role == "system"
            content = msg.get("content")
            if isinstance(content, str):
                sink.text(content, user=user, system=system_turn)
            elif isinstance(content, list):
                results = 0
                other = 0
                for block in content:
                    if not isinstance(block, dict):
                        continue
                    kind = block.get("type")
                    if kind == "tool_result":
                        results += 1
                        _tool_result(block, sink)
                    else:
                        other = 1
                        _anthropic_block(block, kind, sink, user=user, system=system_turn)
                if results:
                    # each result is a tool message on chat; the rest of the turn one more
                    sink.extra_messages(results - 1 + other)
    definitions(body.get("tools"), sink, _custom_tool, "input_schema")
    config = body.get("output_config")
    if isinstance(config, dict):
        output_schema(config.get("format"), sink)


def _tool_result(block: dict[str, Any], sink: Sink) -> None:
    # Tool output counts for tokens and PII but is not the user's own language.
    sink.tool()
    if block.get("is_error") is True:
        sink.text(TOOL_ERROR_PREFIX)
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


def _anthropic_block(block: dict[str, Any], kind: Any, sink: Sink, *, user: bool,
                     system: bool) -> None:
    if kind == "text":
        text = block.get("text")
        if isinstance(text, str):
            sink.text(text, user=user, system=system)
    elif kind == "image":
        sink.image()
    elif kind == "tool_use":
        sink.tool()
        name = block.get("name")
        if isinstance(name, str):
            sink.text(name)
        if "input" in block:
            sink.text(to_json_text(block["input"]))
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
