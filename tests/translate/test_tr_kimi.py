"""OpenAI chat <-> Moonshot Kimi: request rewrite, stream and response normalisation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.errors import BadRequest, UpstreamStatusError
from gateway.translate import KimiStreamNormalizer, chat_to_kimi_request, kimi_response_to_chat
from gateway.translate.kimi import REQUIRED_TOOL_INSTRUCTION
from tests.translate.translate_helpers import validate_chunks, validate_completion

USER = {"role": "user", "content": "hi"}


def tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "parameters": {"type": "object", "properties": {}}},
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (None, {"include_usage": True}),
        ({"include_usage": False}, {"include_usage": True}),
        ({"include_obfuscation": False}, {"include_obfuscation": False, "include_usage": True}),
    ],
)
def test_streams_always_ask_for_usage(options: Any, expected: dict[str, Any]) -> None:
    body: dict[str, Any] = {"messages": [USER], "stream": True}
    if options is not None:
        body["stream_options"] = options
    before = copy.deepcopy(body)
    out = chat_to_kimi_request(body, upstream_model="k")
    assert out["stream_options"] == expected and body == before
    assert "stream_options" not in chat_to_kimi_request({"messages": [USER]}, upstream_model="k")


def test_forwarded_as_parsed_with_model_rewritten() -> None:
    body = {
        "model": "kimi-k2",
        "messages": [USER],
        "temperature": 0.6,
        "n": 2,
        "seed": 1,
        "response_format": {"type": "json_object"},
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [tool("a")],
        "tool_choice": "auto",
    }
    before = copy.deepcopy(body)
    out = chat_to_kimi_request(body, upstream_model="kimi-k2-0905-preview")
    assert out == {**before, "model": "kimi-k2-0905-preview"}
    assert out["messages"] is body["messages"]  # no copy of the conversation
    assert body == before


@pytest.mark.parametrize(
    ("temperature", "expected"), [(1.5, 1), (2, 1), (1, 1), (0.3, 0.3), (0, 0)]
)
def test_temperature_clamped_to_one(temperature: float, expected: float) -> None:
    out = chat_to_kimi_request({"messages": [USER], "temperature": temperature}, upstream_model="k")
    assert out["temperature"] == expected


def test_required_with_one_tool_names_it() -> None:
    out = chat_to_kimi_request(
        {"messages": [USER], "tools": [tool("only")], "tool_choice": "required"}, upstream_model="k"
    )
    assert out["tool_choice"] == {"type": "function", "function": {"name": "only"}}
    assert out["messages"] == [USER]


def test_required_with_several_tools_is_auto_plus_instruction() -> None:
    body = {
        "messages": [{"role": "system", "content": "S"}, USER],
        "tools": [tool("a"), tool("b")],
        "tool_choice": "required",
    }
    out = chat_to_kimi_request(body, upstream_model="k")
    assert out["tool_choice"] == "auto"
    assert out["messages"] == [
        *body["messages"],
        {"role": "system", "content": REQUIRED_TOOL_INSTRUCTION},
    ]
    assert len(body["messages"]) == 2  # the client's list is not modified
    assert chat_to_kimi_request(out, upstream_model="k") == out  # idempotent


def test_required_instruction_goes_before_a_partial_prefill() -> None:
    prefill = {"role": "assistant", "content": "Calling", "partial": True}
    out = chat_to_kimi_request(
        {"messages": [USER, prefill], "tools": [tool("a"), tool("b")], "tool_choice": "required"},
        upstream_model="k",
    )
    assert out["messages"][-1] is prefill and out["messages"][-2]["role"] == "system"


def test_named_choice_forwarded() -> None:
    choice = {"type": "function", "function": {"name": "a"}}
    out = chat_to_kimi_request(
        {"messages": [USER], "tools": [tool("a")], "tool_choice": choice}, upstream_model="k"
    )
    assert out["tool_choice"] == choice


def test_data_url_and_file_id_images_pass() -> None:
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                {"type": "image_url", "image_url": "ms://file-1"},
            ],
        }
    ]
    assert chat_to_kimi_request({"messages": msgs}, upstream_model="k")["messages"] is msgs


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "x"},
                            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                        ],
                    }
                ]
            },
            "messages[0].content[1].image_url.url",
            "base64 data URL",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": "HTTP://x/y.png"}],
                    },
                ]
            },
            "messages[1].content[0].image_url.url",
            "does not fetch",
        ),
        ({"messages": [USER], "tool_choice": "required"}, "tool_choice", "no tools"),
        (
            {"messages": [USER], "tool_choice": "required", "tools": [{"type": "function"}]},
            "tools[0].function",
            "object",
        ),
        ({"messages": [USER], "temperature": "warm"}, "temperature", "must be a number"),
        ({"messages": "hi"}, "messages", "must be an array"),
        ("body", "body", "must be a JSON object"),
    ],
)
def test_bad_requests(body: Any, param: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        chat_to_kimi_request(body, upstream_model="k")
    assert info.value.param == param and fragment in info.value.message


# --- responses ---------------------------------------------------------------------------


def kchunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
    choice.update(extra.pop("choice_extra", {}))
    return {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "kimi-k2-0905-preview",
        "choices": [choice],
        **extra,
    }


KIMI_USAGE = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32, "cached_tokens": 8}
OPENAI_USAGE = {
    "prompt_tokens": 19,
    "completion_tokens": 13,
    "total_tokens": 32,
    "cached_tokens": 8,
    "prompt_tokens_details": {"cached_tokens": 8},
}

MOONSHOT_STREAM = [
    kchunk({"role": "assistant", "content": ""}),
    kchunk({"content": "Hel"}),
    kchunk({"content": "lo", "reasoning_content": None}),
    kchunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "functions.f:0",
                    "type": "function",
                    "function": {"name": "f", "arguments": ""},
                }
            ]
        }
    ),
    kchunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}),
    kchunk({}, "tool_calls", choice_extra={"usage": KIMI_USAGE}),
]


def run(
    chunks: list[dict[str, Any]], **kw: Any
) -> tuple[KimiStreamNormalizer, list[dict[str, Any]]]:
    norm = KimiStreamNormalizer(**kw)
    out: list[dict[str, Any]] = []
    for chunk in chunks:
        out.extend(norm.feed(copy.deepcopy(chunk)))
    out.extend(norm.finish())
    return norm, out


def test_moonshot_choice_usage_becomes_final_usage_chunk() -> None:
    norm, out = run(MOONSHOT_STREAM, include_usage=True, model="kimi-k2")
    assert len(out) == len(MOONSHOT_STREAM) + 1
    assert all(c["usage"] is None and "usage" not in c["choices"][0] for c in out[:-1])
    assert out[-1] == {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "kimi-k2",
        "choices": [],
        "usage": OPENAI_USAGE,
    }
    assert {c["model"] for c in out} == {"kimi-k2"}
    final = validate_chunks(out, include_usage=True)
    assert final.choices[0].message.content == "Hello"
    assert final.choices[0].message.tool_calls[0].id == "functions.f:0"
    assert norm.usage == OPENAI_USAGE and norm.finish_reason == "tool_calls"


def test_without_include_usage_no_usage_anywhere() -> None:
    norm, out = run(MOONSHOT_STREAM, include_usage=False)
    assert len(out) == len(MOONSHOT_STREAM)
    assert all("usage" not in c and "usage" not in c["choices"][0] for c in out)
    assert out[0]["model"] == "kimi-k2-0905-preview"
    assert norm.usage == OPENAI_USAGE  # still known, for reconciliation
    validate_chunks(out, include_usage=False)


def test_openai_style_usage_chunk_after_finish() -> None:
    chunks = [
        kchunk({"role": "assistant", "content": "x"}, usage=None),
        kchunk({}, "stop", usage=None),
        {
            "id": "cmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        },
    ]
    _, out = run(chunks, include_usage=True)
    assert out[-1]["choices"] == [] and out[-1]["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 0
    }
    assert len(out) == 3
    validate_chunks(out, include_usage=True)


def test_top_level_usage_on_finish_chunk_emitted_once() -> None:
    chunks = [
        kchunk({"content": "x"}),
        kchunk({}, "stop", usage=KIMI_USAGE, choice_extra={"usage": KIMI_USAGE}),
    ]
    norm = KimiStreamNormalizer(include_usage=True)
    first = norm.feed(chunks[0])
    last = norm.feed(chunks[1])
    assert len(first) == 1 and len(last) == 2 and last[1]["usage"] == OPENAI_USAGE
    assert norm.finish() == []


def test_usage_owed_at_finish() -> None:
    norm = KimiStreamNormalizer(include_usage=True)
    norm.feed(kchunk({"content": "x"}, usage=KIMI_USAGE))  # usage on a non-final chunk
    assert norm.finish()[0]["usage"] == OPENAI_USAGE


def test_no_usage_at_all() -> None:
    norm, out = run([kchunk({"content": "x"}), kchunk({}, "stop")], include_usage=True)
    assert norm.usage is None and len(out) == 2


@pytest.mark.parametrize(
    ("error", "status", "etype"),
    [
        ({"type": "engine_overloaded_error", "message": "busy"}, 429, "engine_overloaded_error"),
        (
            {"type": "exceeded_current_quota_error", "message": "quota"},
            429,
            "exceeded_current_quota_error",
        ),
        ({"type": "server_error", "message": "boom"}, 500, "server_error"),
        ({"type": "content_filter", "message": "risky"}, 400, "content_filter"),
        ({"message": "odd", "code": 503}, 503, None),
        ("plain string", 500, None),
    ],
)
def test_error_payload_raises(error: Any, status: int, etype: str | None) -> None:
    norm = KimiStreamNormalizer(include_usage=False, provider="kimi")
    norm.feed(kchunk({"content": "x"}))
    with pytest.raises(UpstreamStatusError) as info:
        norm.feed({"error": error})
    assert info.value.upstream_status == status and info.value.upstream_type == etype
    assert info.value.provider == "kimi"


def test_quota_error_is_not_retryable() -> None:
    with pytest.raises(UpstreamStatusError) as info:
        KimiStreamNormalizer(include_usage=False).feed(
            {"error": {"type": "exceeded_current_quota_error", "message": "q"}}
        )
    assert info.value.retryable is False


def test_non_stream_response() -> None:
    resp = {
        "id": "cmpl-9",
        "object": "chat.completion",
        "created": 1,
        "model": "kimi-k2-0905-preview",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi", "reasoning_content": "think"},
            }
        ],
        "usage": KIMI_USAGE,
    }
    out = kimi_response_to_chat(resp, model="kimi-k2")
    assert out["model"] == "kimi-k2" and out["usage"] == OPENAI_USAGE
    assert out["choices"][0]["message"]["reasoning_content"] == "think"  # extras kept
    assert resp["model"] == "kimi-k2-0905-preview"
    validate_completion(out)


def test_non_stream_usage_inside_choice() -> None:
    resp = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "x",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi"},
                "usage": KIMI_USAGE,
            }
        ],
    }
    out = kimi_response_to_chat(resp, model="kimi-k2")
    assert out["usage"] == OPENAI_USAGE and "usage" not in out["choices"][0]
    validate_completion(out)
