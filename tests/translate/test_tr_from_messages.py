"""Anthropic Messages request (ingress) -> OpenAI chat request for Kimi."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from gateway.errors import BadRequest
from gateway.translate import (
    MessagesTranslation,
    chat_to_kimi_request,
    messages_to_chat_request,
    to_safe_tool_id,
)
from gateway.translate.kimi import REQUIRED_TOOL_INSTRUCTION
from tests.translate.translate_helpers import assert_valid_chat_request

USER = {"role": "user", "content": "hi"}
WEATHER = {
    "name": "get_weather",
    "description": "Weather.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def tr(body: dict[str, Any]) -> tuple[dict[str, Any], MessagesTranslation]:
    body = {"model": "auto", "max_tokens": 256, **body}
    hub, t = messages_to_chat_request(body, upstream_model="kimi-k2-0905-preview")
    # The Messages surface's to-hub half, then the chat-completions adapter.
    out = chat_to_kimi_request(hub, upstream_model="kimi-k2-0905-preview")
    assert_valid_chat_request(out)
    assert chat_to_kimi_request(out, upstream_model="kimi-k2-0905-preview") == out  # idempotent
    return out, t


def test_minimal() -> None:
    out, t = tr({"messages": [USER]})
    assert out == {
        "model": "kimi-k2-0905-preview",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 256,
    }
    assert t == MessagesTranslation(stream=False)


def test_system_string_and_blocks() -> None:
    out, _ = tr({"system": "S", "messages": [USER]})
    assert out["messages"][0] == {"role": "system", "content": "S"}
    out, _ = tr(
        {
            "system": [
                {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "B"},
            ],
            "messages": [USER],
        }
    )
    assert out["messages"][0] == {"role": "system", "content": "A\nB"}


def test_user_blocks_and_images() -> None:
    out, _ = tr(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": "iVBORw0KGgo=",
                            },
                        },
                        {"type": "text", "text": ""},
                    ],
                }
            ]
        }
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        }
    ]


def test_tool_round_trip_ids_and_results() -> None:
    kimi_id = "functions.get_weather:0"
    safe = to_safe_tool_id(kimi_id)
    out, _ = tr(
        {
            "tools": [WEATHER],
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "t", "signature": "s"},
                        {"type": "text", "text": "Checking."},
                        {
                            "type": "tool_use",
                            "id": safe,
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": safe, "content": "sunny"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "is_error": True,
                            "content": [
                                {"type": "text", "text": "no"},
                                {"type": "text", "text": "city"},
                            ],
                        },
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
        }
    )
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": kimi_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": kimi_id, "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no\ncity"},
        {"role": "user", "content": "thanks"},
    ]
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather.",
                "parameters": WEATHER["input_schema"],
            },
        }
    ]


def test_empty_tool_result_and_thinking_only_assistant() -> None:
    out, _ = tr(
        {
            "tools": [WEATHER],
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}
                    ],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
                {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]},
                {"role": "user", "content": "go on"},
            ],
        }
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
        ],
    }
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "t1", "content": ""}
    assert out["messages"][3] == {"role": "user", "content": "go on"}


def test_prefill_becomes_partial_mode() -> None:
    out, _ = tr(
        {"messages": [USER, {"role": "assistant", "content": [{"type": "text", "text": "{"}]}]}
    )
    assert out["messages"][-1] == {"role": "assistant", "content": "{", "partial": True}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "get_weather"},
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        ),
        # "any" -> "required", which Kimi gets as the only tool, named
        (
            {"type": "any"},
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        ),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    out, _ = tr({"messages": [USER], "tools": [WEATHER], "tool_choice": choice})
    assert {k: out[k] for k in ("tool_choice", "parallel_tool_calls") if k in out} == expected


def test_any_with_several_tools_is_auto_plus_instruction() -> None:
    other = {**WEATHER, "name": "other"}
    out, _ = tr({"messages": [USER], "tools": [WEATHER, other], "tool_choice": {"type": "any"}})
    assert out["tool_choice"] == "auto"
    assert out["messages"][-1] == {"role": "system", "content": REQUIRED_TOOL_INSTRUCTION}


def test_sampling_stop_user_stream() -> None:
    out, t = tr(
        {
            "messages": [USER],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u1"},
            "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "service_tier": "auto",
            "output_config": {"effort": "high"},
        }
    )
    assert out == {
        "model": "kimi-k2-0905-preview",
        "messages": [USER],
        "max_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "user": "u1",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert t.stream


def test_input_not_mutated() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "s"}],
        "messages": [USER, {"role": "assistant", "content": "pre"}],
        "tools": [WEATHER],
        "tool_choice": {"type": "any"},
    }
    before = copy.deepcopy(body)
    messages_to_chat_request(body, upstream_model="k")
    assert body == before


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"messages": [USER]}, "max_tokens", "must be an integer"),
        ({"max_tokens": 0, "messages": [USER]}, "max_tokens", "at least 1"),
        ({"max_tokens": 5, "messages": []}, "messages", "must not be empty"),
        (
            {"max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].role",
            "'user', 'assistant' or 'system'",
        ),
        (
            {"max_tokens": 5, "messages": [{"role": "user", "content": 3}]},
            "messages[0].content",
            "must be an array",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}],
            },
            "messages[0].content[0].type",
            "must be one of text, image, tool_result",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
                        ],
                    }
                ],
            },
            "messages[0].content[0].source",
            "does not fetch",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                    }
                ],
            },
            "messages[0].content[0].source.type",
            "must be 'base64'",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t",
                                "content": [{"type": "document", "source": {}}],
                            }
                        ],
                    }
                ],
            },
            "messages[0].content[0].content[0].type",
            "text and images only",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}],
                    }
                ],
            },
            "messages[0].content[0].is_error",
            "boolean",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}],
                    }
                ],
            },
            "messages[0].content[0].input",
            "must be an object",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "server_tool_use",
                                "id": "s",
                                "name": "web_search",
                                "input": {},
                            }
                        ],
                    }
                ],
            },
            "messages[0].content[0].type",
            "must be one of text, tool_use",
        ),
        (
            {"max_tokens": 5, "messages": [USER], "system": [{"type": "image"}]},
            "system[0].type",
            "must be 'text'",
        ),
        ({"max_tokens": 5, "messages": [USER], "system": 7}, "system", "must be an array"),
        (
            {
                "max_tokens": 5,
                "messages": [USER],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "tools[0].type",
            "server tools",
        ),
        (
            {"max_tokens": 5, "messages": [USER], "tools": [{"name": "f"}]},
            "tools[0].input_schema",
            "must be an object",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [USER],
                "tools": [WEATHER],
                "tool_choice": {"type": "sometimes"},
            },
            "tool_choice.type",
            "must be one of auto, any, tool, none",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [USER],
                "tools": [WEATHER],
                "tool_choice": {"type": "tool"},
            },
            "tool_choice.name",
            "non-empty string",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [USER],
                "tools": [WEATHER],
                "tool_choice": {"type": "tool", "name": "zz"},
            },
            "tool_choice.name",
            "not in tools",
        ),
        (
            {"max_tokens": 5, "messages": [USER], "temperature": "1"},
            "temperature",
            "must be a number",
        ),
        (
            {"max_tokens": 5, "messages": [USER], "stop_sequences": "END"},
            "stop_sequences",
            "must be an array",
        ),
        (
            {"max_tokens": 5, "messages": [USER], "metadata": {"user_id": 5}},
            "metadata.user_id",
            "must be a string",
        ),
        ({"max_tokens": 5, "messages": [USER], "stream": 1}, "stream", "must be a boolean"),
        (
            {
                "max_tokens": 5,
                "messages": [USER],
                "output_config": {"format": {"type": "json_schema", "schema": {}}},
            },
            "output_config.format",
            "not supported",
        ),
    ],
)
def test_bad_requests(body: dict[str, Any], param: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        messages_to_chat_request(body, upstream_model="k")
    assert info.value.param == param
    assert fragment in info.value.message, info.value.message


def test_image_data_not_reencoded() -> None:
    data = "QUJD" * 50_000
    out, _ = tr(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": data},
                        }
                    ],
                }
            ]
        }
    )
    assert out["messages"][0]["content"][0]["image_url"]["url"] == "data:image/jpeg;base64," + data
    assert orjson.loads(orjson.dumps(out))  # still plain JSON
