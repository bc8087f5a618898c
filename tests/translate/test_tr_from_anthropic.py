"""Anthropic response and stream -> OpenAI chat.completion(.chunk), validated by the SDK."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import UpstreamStatusError
from gateway.translate import ChatTranslation, MessagesStreamToChat, messages_to_chat_response
from tests.translate.translate_helpers import validate_chunks, validate_completion

PLAIN = ChatTranslation()
USAGE = {
    "input_tokens": 10,
    "output_tokens": 5,
    "cache_creation_input_tokens": 3,
    "cache_read_input_tokens": 7,
}


def message(
    content: list[dict[str, Any]], stop: str | None = "end_turn", **kw: Any
) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": USAGE,
        **kw,
    }


def test_text_response() -> None:
    out = messages_to_chat_response(
        message([{"type": "text", "text": "Hello "}, {"type": "text", "text": "world"}]),
        model="claude-opus",
        tr=PLAIN,
        created=1700000000,
    )
    assert out == {
        "id": "chatcmpl-msg_01",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "claude-opus",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello world", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 20,
            "completion_tokens": 5,
            "total_tokens": 25,
            "prompt_tokens_details": {"cached_tokens": 7, "cache_write_tokens": 3},
        },
    }
    parsed = validate_completion(out)
    assert parsed.usage is not None and parsed.usage.prompt_tokens_details is not None
    assert parsed.usage.prompt_tokens_details.cached_tokens == 7


def test_tool_use_response() -> None:
    out = messages_to_chat_response(
        message(
            [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "gwid_ZnVuY3Rpb25zLmdldF93ZWF0aGVyOjA",
                    "name": "f",
                    "input": {},
                },
            ],
            "tool_use",
        ),
        model="m",
        tr=PLAIN,
    )
    msg = out["choices"][0]["message"]
    assert msg["content"] is None
    assert msg["reasoning_content"] == "hmm"
    assert msg["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {
            "id": "functions.get_weather:0",
            "type": "function",
            "function": {"name": "f", "arguments": "{}"},
        },
    ]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert isinstance(out["created"], int)
    validate_completion(out)


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("pause_turn", "stop"),
        (None, "stop"),
        ("something_new", "stop"),
    ],
)
def test_finish_reasons(stop: str | None, finish: str) -> None:
    out = messages_to_chat_response(
        message([{"type": "text", "text": "x"}], stop), model="m", tr=PLAIN
    )
    assert out["choices"][0]["finish_reason"] == finish


def test_json_tool_becomes_content() -> None:
    tr = ChatTranslation(json_tool="json_response")
    out = messages_to_chat_response(
        message(
            [
                {"type": "text", "text": "Here you go"},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "json_response",
                    "input": {"a": [1, "é"]},
                },
            ],
            "tool_use",
        ),
        model="m",
        tr=tr,
    )
    msg = out["choices"][0]["message"]
    assert orjson.loads(msg["content"]) == {"a": [1, "é"]}
    assert "tool_calls" not in msg
    assert out["choices"][0]["finish_reason"] == "stop"
    validate_completion(out)


def test_empty_content_and_missing_usage() -> None:
    out = messages_to_chat_response(
        {"id": "msg_2", "content": [], "stop_reason": "max_tokens"}, model="m", tr=PLAIN, created=1
    )
    assert out["choices"][0]["message"]["content"] == ""
    assert out["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    }
    validate_completion(out)


# --- streaming --------------------------------------------------------------------------


def ev(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return data["type"], data


START = ev(
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-x",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 25,
                "output_tokens": 1,
                "cache_read_input_tokens": 5,
                "cache_creation_input_tokens": 0,
            },
        },
    }
)
PING = ev({"type": "ping"})


def text_block(index: int, *parts: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ev(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
        ),
        *(
            ev(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": p},
                }
            )
            for p in parts
        ),
        ev({"type": "content_block_stop", "index": index}),
    ]


def tool_block(
    index: int, tool_id: str, name: str, *fragments: str
) -> list[tuple[str, dict[str, Any]]]:
    return [
        ev(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}},
            }
        ),
        *(
            ev(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": f},
                }
            )
            for f in fragments
        ),
        ev({"type": "content_block_stop", "index": index}),
    ]


def end(stop: str, output_tokens: int = 42) -> list[tuple[str, dict[str, Any]]]:
    return [
        ev(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            }
        ),
        ev({"type": "message_stop"}),
    ]


def run(
    events: list[tuple[str, dict[str, Any]]],
    *,
    include_usage: bool = True,
    tr: ChatTranslation = PLAIN,
) -> tuple[MessagesStreamToChat, list[dict[str, Any]]]:
    translator = MessagesStreamToChat(
        model="claude-opus",
        tr=tr,
        include_usage=include_usage,
        chunk_id="chatcmpl-1",
        created=1700000000,
        provider="claude",  # the configured provider name errors carry
    )
    chunks: list[dict[str, Any]] = []
    for name, data in events:
        chunks.extend(translator.feed(name, data))
    return translator, chunks


def deltas(chunks: list[dict[str, Any]]) -> list[Any]:
    return [
        (c["choices"][0]["delta"], c["choices"][0]["finish_reason"])
        if c["choices"]
        else ("usage", c["usage"])
        for c in chunks
    ]


def test_text_stream_exact_chunks() -> None:
    events = [START, PING, *text_block(0, "Hel", "", "lo"), PING, *end("end_turn")]
    translator, chunks = run(events)
    base = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "claude-opus",
    }
    assert chunks == [
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
            "usage": None,
        },
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"content": "Hel"}, "logprobs": None, "finish_reason": None}
            ],
            "usage": None,
        },
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"content": "lo"}, "logprobs": None, "finish_reason": None}
            ],
            "usage": None,
        },
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
            "usage": None,
        },
        {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": 30,
                "completion_tokens": 42,
                "total_tokens": 72,
                "prompt_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 0},
            },
        },
    ]
    final = validate_chunks(chunks, include_usage=True)
    assert final.choices[0].message.content == "Hello"
    assert translator.finished and translator.finish_reason == "stop"
    assert translator.usage["total_tokens"] == 72


def test_text_stream_without_include_usage_has_no_usage_field() -> None:
    _, chunks = run([START, *text_block(0, "a"), *end("max_tokens")], include_usage=False)
    assert all("usage" not in c for c in chunks)
    assert deltas(chunks)[-1] == ({}, "length")
    validate_chunks(chunks, include_usage=False)


def test_several_tool_calls_with_split_input() -> None:
    events = [
        START,
        *text_block(0, "Checking."),
        *tool_block(1, "toolu_a", "get_weather", "", '{"ci', 'ty": "Par', 'is"}'),
        PING,
        *tool_block(2, "gwid_ZnVuY3Rpb25zLmFkZDox", "add", '{"a": 1,', ' "b": 2}'),
        *end("tool_use"),
    ]
    translator, chunks = run(events)
    assert deltas(chunks)[1:] == [
        ({"content": "Checking."}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Par'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": 'is"}'}}]}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "functions.add:1",
                        "type": "function",
                        "function": {"name": "add", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 1, "function": {"arguments": '{"a": 1,'}}]}, None),
        ({"tool_calls": [{"index": 1, "function": {"arguments": ' "b": 2}'}}]}, None),
        ({}, "tool_calls"),
        ("usage", translator.usage),
    ]
    final = validate_chunks(chunks, include_usage=True)
    calls = final.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("toolu_a", "get_weather", {"city": "Paris"}),
        ("functions.add:1", "add", {"a": 1, "b": 2}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"


def test_json_mode_stream_is_content() -> None:
    tr = ChatTranslation(json_tool="answer")
    _, chunks = run(
        [START, *tool_block(0, "toolu_j", "answer", '{"x":', " 1}"), *end("tool_use")], tr=tr
    )
    final = validate_chunks(chunks, include_usage=True)
    assert final.choices[0].message.content == '{"x": 1}'
    assert not final.choices[0].message.tool_calls
    assert final.choices[0].finish_reason == "stop"


def test_thinking_stream_is_reasoning_content() -> None:
    events = [
        START,
        ev(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            }
        ),
        ev(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Let me"},
            }
        ),
        ev(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "abc"},
            }
        ),
        ev({"type": "content_block_stop", "index": 0}),
        ev(
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "redacted_thinking", "data": "x"},
            }
        ),
        ev({"type": "content_block_stop", "index": 1}),
        *text_block(2, "Answer"),
        *end("end_turn"),
    ]
    _, chunks = run(events)
    assert [d for d, _ in deltas(chunks)[1:3]] == [
        {"reasoning_content": "Let me"},
        {"content": "Answer"},
    ]
    validate_chunks(chunks, include_usage=True)


@pytest.mark.parametrize(
    ("etype", "status", "client_status"),
    [
        ("overloaded_error", 529, 503),
        ("rate_limit_error", 429, 429),
        ("api_error", 500, 502),
        ("invalid_request_error", 400, 400),
        ("timeout_error", 504, 504),
        ("mystery_error", 500, 502),
    ],
)
def test_error_event_raises(etype: str, status: int, client_status: int) -> None:
    translator, _ = run([START, *text_block(0, "partial")])
    with pytest.raises(UpstreamStatusError) as info:
        translator.feed(
            "error", {"type": "error", "error": {"type": etype, "message": "Overloaded"}}
        )
    err = info.value
    assert (err.upstream_status, err.upstream_type, err.provider, err.status) == (
        status,
        etype,
        "claude",
        client_status,
    )
    assert err.message == "Overloaded"
    assert not translator.finished


def test_stream_cut_short_keeps_usage() -> None:
    translator, chunks = run([START, *tool_block(0, "toolu_a", "f", '{"a"')[:2]])
    assert not translator.finished and translator.finish_reason is None
    assert translator.usage == {
        "prompt_tokens": 30,
        "completion_tokens": 1,
        "total_tokens": 31,
        "prompt_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 0},
    }
    assert all(c["choices"] for c in chunks)


def test_message_delta_input_counts_update_usage() -> None:
    translator, _ = run(
        [
            START,
            ev(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {
                        "output_tokens": 9,
                        "input_tokens": 40,
                        "cache_read_input_tokens": None,
                    },
                }
            ),
        ]
    )
    assert translator.usage["prompt_tokens"] == 45 and translator.usage["completion_tokens"] == 9


def test_unknown_events_and_blocks_are_ignored() -> None:
    events = [
        START,
        ev({"type": "some_future_event"}),
        ev(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {},
                },
            }
        ),
        ev(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            }
        ),
        ev({"type": "content_block_stop", "index": 0}),
        *text_block(1, "ok"),
        *end("end_turn"),
    ]
    _, chunks = run(events)
    assert [d for d, _ in deltas(chunks)[1:-1]] == [{"content": "ok"}, {}]
    validate_chunks(chunks, include_usage=True)


def test_per_event_work_does_not_grow() -> None:
    # Ten thousand deltas: each yields exactly one small chunk, nothing accumulates.
    translator, _ = run([START, *text_block(0, "x")[:1]])
    delta = ev(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "y"}}
    )
    for _ in range(10_000):
        (chunk,) = translator.feed(*delta)
        assert chunk["choices"][0]["delta"] == {"content": "y"}
    assert len(translator._blocks) == 1
