"""OpenAI/Kimi chat response and stream -> Anthropic message and events, SDK-validated."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic.types import Message

from gateway.errors import UpstreamBadResponse, UpstreamStatusError
from gateway.translate import (
    ChatStreamToMessages,
    MessagesTranslation,
    chat_to_messages_response,
    from_safe_tool_id,
)
from gateway.translate.reasoning import sign
from tests.translate.translate_helpers import TOOL_ID, validate_anthropic_events

TR = MessagesTranslation()
KIMI_USAGE = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32, "cached_tokens": 8}
ANTHROPIC_USAGE = {
    "input_tokens": 11,
    "output_tokens": 13,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 8,
}


def response(message: dict[str, Any], finish: str = "stop", **kw: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "kimi-k2-0905-preview",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": KIMI_USAGE,
        **kw,
    }


def test_text_response() -> None:
    out = chat_to_messages_response(response({"content": "Hello"}), model="kimi-k2", tr=TR)
    assert out == {
        "id": "msg_cmpl-1",
        "type": "message",
        "role": "assistant",
        "model": "kimi-k2",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }
    Message.model_validate(out)


def test_tool_calls_response_with_kimi_ids() -> None:
    out = chat_to_messages_response(
        response(
            {
                "content": "",
                "reasoning_content": "hmm",
                "tool_calls": [
                    {
                        "id": "functions.get_weather:0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "noop", "arguments": ""},
                    },
                ],
            },
            "tool_calls",
        ),
        model="kimi-k2",
        tr=TR,
    )
    blocks = out["content"]
    assert [b["type"] for b in blocks] == ["thinking", "tool_use", "tool_use"]
    assert blocks[0] == {"type": "thinking", "thinking": "hmm", "signature": sign("hmm")}
    blocks = blocks[1:]
    assert (
        TOOL_ID.fullmatch(blocks[0]["id"])
        and from_safe_tool_id(blocks[0]["id"]) == "functions.get_weather:0"
    )
    assert blocks[0]["input"] == {"city": "Paris"} and blocks[1] == {
        "type": "tool_use",
        "id": "call_2",
        "name": "noop",
        "input": {},
    }
    assert out["stop_reason"] == "tool_use"
    Message.model_validate(out)


@pytest.mark.parametrize(
    ("finish", "has_tools", "stop"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("content_filter", False, "refusal"),
        (None, False, "end_turn"),
        ("stop", True, "tool_use"),
        ("function_call", True, "tool_use"),
        ("weird", False, "end_turn"),
    ],
)
def test_stop_reasons(finish: Any, has_tools: bool, stop: str) -> None:
    message: dict[str, Any] = {"content": "x"}
    if has_tools:
        message["tool_calls"] = [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]
    out = chat_to_messages_response(response(message, finish), model="m", tr=TR)
    assert out["stop_reason"] == stop


def test_usage_inside_choice_and_openai_details() -> None:
    resp = response({"content": "x"})
    del resp["usage"]
    resp["choices"][0]["usage"] = KIMI_USAGE
    assert chat_to_messages_response(resp, model="m", tr=TR)["usage"] == ANTHROPIC_USAGE
    resp = response(
        {"content": "x"},
        usage={
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    )
    assert chat_to_messages_response(resp, model="m", tr=TR)["usage"] == {
        "input_tokens": 6,
        "output_tokens": 2,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 4,
    }


def test_invalid_tool_arguments_from_upstream() -> None:
    resp = response(
        {
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{broken"}}
            ],
        },
        "tool_calls",
    )
    with pytest.raises(UpstreamBadResponse):
        chat_to_messages_response(resp, model="m", tr=TR)


def test_empty_response() -> None:
    out = chat_to_messages_response({"id": "x", "choices": []}, model="m", tr=TR)
    assert out["content"] == [] and out["stop_reason"] == "end_turn"
    Message.model_validate(out)


# --- streaming --------------------------------------------------------------------------


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **kw: Any
) -> dict[str, Any]:
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish, **kw.pop("extra", {})}]
    )
    return {
        "id": "cmpl-7",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "k",
        "choices": choices,
        **kw,
    }


def run(
    chunks: list[dict[str, Any]], finish: bool = True
) -> tuple[ChatStreamToMessages, list[tuple[str, dict[str, Any]]]]:
    translator = ChatStreamToMessages(model="kimi-k2", tr=MessagesTranslation(stream=True))
    events = []
    for c in chunks:
        events.extend(translator.feed(copy.deepcopy(c)))
    if finish:
        events.extend(translator.finish())
    return translator, events


TOOL_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "functions.get_weather:0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "functions.add:1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 1}'},
                }
            ]
        }
    ),
    chunk({}, "tool_calls", extra={"usage": KIMI_USAGE}),  # Moonshot: usage inside the choice
]


def test_tool_stream_exact_events() -> None:
    translator, events = run(TOOL_STREAM, finish=False)
    safe0 = events[5][1]["content_block"]["id"]
    assert [(n, {k: v for k, v in d.items() if k != "type"}) for n, d in events] == [
        (
            "message_start",
            {
                "message": {
                    "id": "msg_cmpl-7",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "kimi-k2",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                }
            },
        ),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "check."}}),
        ("content_block_stop", {"index": 0}),
        (
            "content_block_start",
            {
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": safe0,
                    "name": "get_weather",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city":'}},
        ),
        (
            "content_block_delta",
            {"index": 1, "delta": {"type": "input_json_delta", "partial_json": ' "Paris"}'}},
        ),
        ("content_block_stop", {"index": 1}),
        (
            "content_block_start",
            {
                "index": 2,
                "content_block": {
                    "type": "tool_use",
                    "id": events[9][1]["content_block"]["id"],
                    "name": "add",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {"index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"a": 1}'}},
        ),
        ("content_block_stop", {"index": 2}),
        (
            "message_delta",
            {"delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": ANTHROPIC_USAGE},
        ),
        ("message_stop", {}),
    ]
    assert from_safe_tool_id(safe0) == "functions.get_weather:0"
    assert (
        translator.finished and translator.finish() == [] and translator.feed(TOOL_STREAM[1]) == []
    )
    final = validate_anthropic_events(events)
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.usage.input_tokens == 11 and final.usage.cache_read_input_tokens == 8
    assert final.stop_reason == "tool_use"


def test_openai_usage_chunk_after_finish_chunk() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Hi"}),
        chunk({}, "stop"),
        chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}),
    ]
    translator = ChatStreamToMessages(model="m")
    first = translator.feed(chunks[0]) + translator.feed(chunks[1])
    assert [n for n, _ in first] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
    ]
    last = translator.feed(chunks[2])
    assert [n for n, _ in last] == ["message_delta", "message_stop"]
    assert (
        last[0][1]["usage"]["input_tokens"] == 5
        and last[0][1]["delta"]["stop_reason"] == "end_turn"
    )
    validate_anthropic_events(first + last)


def test_finish_without_usage_closes_the_message() -> None:
    _, events = run([chunk({"content": "partial"}), chunk({}, "length")])
    final = validate_anthropic_events(events)
    assert final.stop_reason == "max_tokens" and final.content[0].text == "partial"  # type: ignore[union-attr]


def test_stream_cut_short_finish_closes_blocks() -> None:
    _, events = run(TOOL_STREAM[:5])
    assert [n for n, _ in events][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    final = validate_anthropic_events(events)
    assert final.stop_reason == "tool_use"


def test_empty_stream_finish() -> None:
    translator = ChatStreamToMessages(model="m", message_id="msg_fixed")
    events = translator.finish()
    assert [n for n, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert validate_anthropic_events(events).id == "msg_fixed"


def test_reasoning_content_signed_and_missing_tool_id_generated() -> None:
    _, events = run(
        [
            chunk({"reasoning_content": "thinking..."}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}),
            chunk({}, "tool_calls", usage=KIMI_USAGE),
        ]
    )
    final = validate_anthropic_events(events)
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    assert final.content[0].thinking == "thinking..."  # type: ignore[union-attr]
    assert final.content[0].signature == sign("thinking...")  # type: ignore[union-attr]
    assert TOOL_ID.fullmatch(final.content[1].id)  # type: ignore[union-attr]


def test_error_chunk_raises() -> None:
    translator = ChatStreamToMessages(model="m", provider="kimi")
    translator.feed(chunk({"content": "x"}))
    with pytest.raises(UpstreamStatusError) as info:
        translator.feed({"error": {"type": "rate_limit_reached_error", "message": "slow down"}})
    assert info.value.upstream_status == 429 and info.value.provider == "kimi"


def test_text_after_tool_call_opens_new_block() -> None:
    _, events = run(
        [
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}
                    ]
                }
            ),
            chunk({"content": "done"}),
            chunk({}, "stop", usage=KIMI_USAGE),
        ]
    )
    final = validate_anthropic_events(events)
    assert [b.type for b in final.content] == ["tool_use", "text"]
    assert final.stop_reason == "tool_use"  # "stop" beside tool calls
