"""Reduce a validated Anthropic request to a neutral ``Prompt`` and an input-token
estimate, the same way ``moonshot_prompt`` does for the OpenAI format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .anthropic_content import Turn
from .replies import Prompt, TokenMeter, ToolMode, ToolSpec


def block_text(block: dict[str, Any]) -> str:
    """The readable text of a text or tool_result block."""
    if block.get("type") == "text":
        return str(block.get("text", ""))
    if block.get("type") == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(b["text"] for b in content if b.get("type") == "text")
    return ""


def _images(blocks: list[dict[str, Any]]) -> Iterator[None]:
    for block in blocks:
        if block.get("type") == "image":
            yield None
        elif block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            yield from _images(block["content"])


def build_prompt(body: dict[str, Any], turns: list[Turn], text_override: str | None) -> Prompt:
    user_turns = [t for t in turns if t.role == "user"]
    # The last user turn, skipping a final assistant prefill.
    last = turns[-2] if turns[-1].role == "assistant" and len(turns) > 1 else turns[-1]
    blocks = last.blocks if last.role == "user" else []
    tools = tuple(
        ToolSpec(t["name"], t.get("input_schema") or {}, t.get("description") or "")
        for t in body.get("tools") or ()
        if t.get("type") in (None, "custom")
    )
    choice = body.get("tool_choice") or {}
    mode: ToolMode = choice.get("type", "auto")
    output = body.get("output_config") or {}
    fmt = (output.get("format") if isinstance(output, dict) else None) or body.get("output_format")
    schema = (
        fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
    )
    thinking = body.get("thinking") or {}
    return Prompt(
        last_user_text="\n".join(block_text(b) for b in blocks if b.get("type") == "text"),
        tool_results=tuple(block_text(b) for b in blocks if b.get("type") == "tool_result"),
        image_count=sum(1 for t in user_turns for _ in _images(t.blocks)),
        tools=tools,
        tool_mode=mode,
        forced_tool=choice.get("name"),
        parallel=not choice.get("disable_parallel_tool_use", False),
        stop=tuple(body.get("stop_sequences") or ()),
        max_tokens=body.get("max_tokens"),
        json_schema=schema,
        thinking=thinking.get("type") in ("enabled", "adaptive"),
        text_override=text_override,
    )


def input_tokens(body: dict[str, Any], turns: list[Turn]) -> int:
    """Characters of everything the model reads / 4, images at a flat cost."""
    meter = TokenMeter()
    system = body.get("system")
    if isinstance(system, str):
        meter.add(system)
    elif isinstance(system, list):
        for block in system:
            meter.add(block_text(block))
    for turn in turns:
        for block in turn.blocks:
            meter.add(block_text(block))
            if block.get("type") == "tool_use":
                meter.add(block["name"])
                meter.add_json(block["input"])
        for _ in _images(turn.blocks):
            meter.add_image()
    for tool in body.get("tools") or ():
        if tool.get("type") in (None, "custom"):
            meter.add(tool["name"])
            meter.add(tool.get("description") or "")
            meter.add_json(tool.get("input_schema") or {})
    return meter.tokens


def uses_cache_control(value: Any) -> bool:
    """Whether a ``cache_control`` marker appears anywhere in the request."""
    if isinstance(value, dict):
        return any(
            (k == "cache_control" and v is not None) or uses_cache_control(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(uses_cache_control(v) for v in value)
    return False
