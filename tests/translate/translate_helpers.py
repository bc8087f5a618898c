"""Strict validators for what the translators produce, built on the SDKs' own types.

``assert_valid_anthropic_request`` checks the rules the real Messages API enforces
with a 400 (as the Anthropic emulator, ``gateway/emulators/anthropic_validate.py``,
does): only known top-level fields, alternating roles,
non-empty text, tool ids matching ``^[a-zA-Z0-9_-]+$``, tool_results first in the
very next user turn, temperature in 0..1, no trailing whitespace in a prefill.
"""

from __future__ import annotations

import re
import typing
from typing import Any

from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from pydantic import TypeAdapter

# anthropic-sdk-python 2.14 no longer declares the sampling parameters, which the API
# (and the project's emulator, gateway/emulators/anthropic_validate.py) still accepts.
ANTHROPIC_REQUEST_KEYS = set(typing.get_type_hints(MessageCreateParamsNonStreaming)) | {
    "stream",
    "temperature",
    "top_p",
    "top_k",
}
OPENAI_REQUEST_KEYS = set(typing.get_type_hints(CompletionCreateParamsNonStreaming)) | {"stream"}
TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")
MEDIA = {"image/jpeg", "image/png", "image/gif", "image/webp"}
_EVENT = TypeAdapter(RawMessageStreamEvent)


def assert_valid_anthropic_request(req: dict[str, Any]) -> None:
    assert set(req) <= ANTHROPIC_REQUEST_KEYS, set(req) - ANTHROPIC_REQUEST_KEYS
    assert isinstance(req["model"], str)
    assert isinstance(req["max_tokens"], int) and req["max_tokens"] >= 1
    system = req.get("system")
    if system is not None:
        if isinstance(system, str):
            assert system
        else:
            for block in system:
                assert set(block) == {"type", "text"} and block["type"] == "text"
                assert block["text"].strip()
    messages = req["messages"]
    assert messages
    uses_seen: set[str] = set()
    prev_uses: set[str] = set()
    for i, msg in enumerate(messages):
        assert set(msg) == {"role", "content"}
        assert msg["role"] in ("user", "assistant")
        if i:
            assert msg["role"] != messages[i - 1]["role"], "roles must alternate"
        content = msg["content"]
        if isinstance(content, str):
            assert content.strip()
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content}]
        else:
            assert content
            blocks = content
        results = [b for b in blocks if b["type"] == "tool_result"]
        uses = [b for b in blocks if b["type"] == "tool_use"]
        if msg["role"] == "user":
            assert not uses
            # "Messages following tool_use blocks must begin with a matching number of
            # tool_result blocks."
            assert blocks[: len(results)] == results
            assert {b["tool_use_id"] for b in results} == prev_uses
            prev_uses = set()
        else:
            assert not results
            assert not prev_uses, "tool_use not answered in the next message"
            prev_uses = {b["id"] for b in uses}
            assert len(prev_uses) == len(uses)
            assert not (prev_uses & uses_seen), "tool_use ids must be unique"
            uses_seen |= prev_uses
        for block in blocks:
            _check_block(block)
    assert not prev_uses, "final tool_use without tool_result"
    last = messages[-1]
    if last["role"] == "assistant" and isinstance(last["content"], list):
        tail = last["content"][-1]
        if tail["type"] == "text":
            assert tail["text"] == tail["text"].rstrip(), "prefill ends with whitespace"
    names = set()
    for tool in req.get("tools", []):
        assert set(tool) <= {"name", "description", "input_schema"}
        assert tool["input_schema"]["type"] == "object"
        assert tool["name"] not in names
        names.add(tool["name"])
    choice = req.get("tool_choice")
    if choice is not None:
        assert req.get("tools")
        assert choice["type"] in ("auto", "any", "tool", "none")
        assert set(choice) <= {"type", "name", "disable_parallel_tool_use"}
        if choice["type"] == "tool":
            assert choice["name"] in names
    if "temperature" in req:
        assert 0 <= req["temperature"] <= 1
        assert "top_p" not in req, "recent models reject temperature with top_p"
    for s in req.get("stop_sequences", []):
        assert isinstance(s, str) and s.strip()
    if "metadata" in req:
        assert set(req["metadata"]) == {"user_id"}


def _check_block(block: dict[str, Any]) -> None:
    btype = block["type"]
    if btype == "text":
        assert set(block) == {"type", "text"} and isinstance(block["text"], str)
        assert block["text"].strip(), "text content blocks must contain non-whitespace text"
    elif btype == "image":
        source = block["source"]
        if source["type"] == "base64":
            assert source["media_type"] in MEDIA and source["data"]
        else:
            assert source["type"] == "url" and source["url"].lower().startswith(
                ("http://", "https://")
            )
    elif btype == "document":
        assert block["source"]["media_type"] == "application/pdf"
    elif btype == "tool_use":
        assert set(block) == {"type", "id", "name", "input"}
        assert TOOL_ID.fullmatch(block["id"]) and isinstance(block["input"], dict)
    elif btype == "tool_result":
        assert set(block) <= {"type", "tool_use_id", "content"}
        assert TOOL_ID.fullmatch(block["tool_use_id"])
        content = block.get("content")
        if isinstance(content, list):
            for part in content:
                assert part["type"] in ("text", "image")
                _check_block(part)
        elif content is not None:
            assert isinstance(content, str) and content.strip()
    else:
        raise AssertionError(f"unexpected block type {btype}")


def assert_valid_chat_request(req: dict[str, Any]) -> None:
    """An OpenAI chat request as Moonshot takes it (``partial`` is Moonshot's extra)."""
    assert set(req) <= OPENAI_REQUEST_KEYS, set(req) - OPENAI_REQUEST_KEYS
    pending: set[str] = set()
    for msg in req["messages"]:
        role = msg["role"]
        assert role in ("system", "user", "assistant", "tool")
        if role == "tool":
            assert msg["tool_call_id"] in pending, "tool message must answer a pending call"
            pending.discard(msg["tool_call_id"])
            assert isinstance(msg["content"], str)
            continue
        assert not pending, "tool calls must be answered right after the assistant message"
        if role == "assistant":
            assert set(msg) <= {"role", "content", "tool_calls", "partial"}
            for call in msg.get("tool_calls", []):
                assert call["type"] == "function" and isinstance(call["function"]["arguments"], str)
                pending.add(call["id"])
        content = msg["content"]
        if isinstance(content, list):
            for part in content:
                assert part["type"] in ("text", "image_url")
                if part["type"] == "image_url":
                    assert part["image_url"]["url"].startswith("data:")
        else:
            assert isinstance(content, str)
    assert not pending


def validate_chunks(chunks: list[dict[str, Any]], *, include_usage: bool) -> Any:
    """Parse chunks with the openai SDK and accumulate them into a ChatCompletion."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    ids = {(c["id"], c["created"], c["model"]) for c in chunks}
    assert len(ids) == 1, "every chunk has the same id, created and model"
    for n, chunk in enumerate(chunks):
        parsed = ChatCompletionChunk.model_validate(chunk)
        if include_usage:
            assert "usage" in chunk
            if n < len(chunks) - 1:
                assert chunk["usage"] is None and chunk["choices"]
        else:
            assert chunk.get("usage") is None
        if parsed.choices:
            state.handle_chunk(parsed)
    # The snapshot, not get_final_completion(): that one raises on finish_reason "length".
    return state.current_completion_snapshot


def validate_completion(resp: dict[str, Any]) -> ChatCompletion:
    return ChatCompletion.model_validate(resp)


def validate_anthropic_events(events: list[tuple[str, dict[str, Any]]]) -> Message:
    """Check the event grammar, parse every event with the anthropic SDK's types, and
    accumulate them with the SDK's own accumulator into the final Message."""
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    open_index: int | None = None
    next_index = 0
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for name, data in events:
        assert data["type"] == name
        if name == "content_block_start":
            assert open_index is None and data["index"] == next_index
            open_index, next_index = data["index"], next_index + 1
        elif name == "content_block_delta":
            assert data["index"] < next_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        elif name in ("message_delta", "message_stop"):
            assert open_index is None
        snapshot = accumulate_event(
            event=_EVENT.validate_python(data), current_snapshot=snapshot, json_bufs=json_bufs
        )
    assert snapshot is not None
    return Message.model_validate(snapshot.model_dump())
