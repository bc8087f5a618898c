"""OpenAI chat request -> Anthropic Messages request: every mapping rule, every 400."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import BadRequest
from gateway.translate import ChatTranslation, chat_to_messages_request, to_safe_tool_id
from gateway.translate.params import Unsupported
from gateway.translate.to_anthropic import user_hash
from tests.translate.translate_helpers import assert_valid_anthropic_request

USER = {"role": "user", "content": "hi"}
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
KIMI_ID = "functions.get_weather:0"


def tr(body: dict[str, Any], **kw: Any) -> tuple[dict[str, Any], ChatTranslation]:
    kw.setdefault("upstream_model", "claude-x")
    kw.setdefault("default_max_tokens", 1000)
    out, t = chat_to_messages_request(body, **kw)
    assert_valid_anthropic_request(out)
    return out, t


def req(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [USER], **fields}


def call(
    cid: str = KIMI_ID, args: str = '{"city":"Paris"}', name: str = "get_weather"
) -> dict[str, Any]:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


def test_minimal_request() -> None:
    out, t = tr(req())
    assert out == {
        "model": "claude-x",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    assert t == ChatTranslation()


def test_system_and_developer_hoisted_in_order() -> None:
    out, _ = tr(
        {
            "messages": [
                {"role": "system", "content": "A"},
                USER,
                {
                    "role": "developer",
                    "content": [{"type": "text", "text": "B"}, {"type": "text", "text": ""}],
                },
                {"role": "system", "content": ""},
            ]
        }
    )
    assert out["system"] == [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
    assert len(out["messages"]) == 1
    single, _ = tr({"messages": [{"role": "system", "content": "only"}, USER]})
    assert single["system"] == "only"


def test_user_parts_and_images() -> None:
    out, _ = tr(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "text", "text": ""},
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "data:image/png;base64,iVBORw0KGgo=",
                                "detail": "high",
                            },
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/jpg;base64,/9j/4AAQ"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                        {"type": "image_url", "image_url": "HTTP://example.com/dog.png"},
                        {
                            "type": "file",
                            "file": {
                                "file_data": "data:application/pdf;base64,JVBERi0=",
                                "filename": "a.pdf",
                            },
                        },
                    ],
                }
            ]
        }
    )
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "url", "url": "HTTP://example.com/dog.png"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
        },
    ]


def test_image_base64_is_not_copied_or_reencoded() -> None:
    data = "A" * 100_000
    out, _ = tr(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/webp;base64," + data},
                        }
                    ],
                }
            ]
        }
    )
    assert out["messages"][0]["content"][0]["source"]["data"] == data


def test_tool_round_with_kimi_ids_and_merging() -> None:
    out, _ = tr(
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [call(), call("functions.get_weather:1", '{"city":"Rome"}')],
                },
                {"role": "tool", "tool_call_id": KIMI_ID, "content": "sunny"},
                {
                    "role": "tool",
                    "tool_call_id": "functions.get_weather:1",
                    "content": [{"type": "text", "text": "rain"}],
                },
                {"role": "user", "content": "and tomorrow?"},
                {"role": "user", "content": "in both"},
            ],
            "tools": [TOOL],
        }
    )
    safe0, safe1 = to_safe_tool_id(KIMI_ID), to_safe_tool_id("functions.get_weather:1")
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": safe0,
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": safe1, "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": safe0, "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": safe1,
                    "content": [{"type": "text", "text": "rain"}],
                },
                {"type": "text", "text": "and tomorrow?"},
                {"type": "text", "text": "in both"},
            ],
        },
    ]


def test_tool_results_stay_first_when_user_text_came_before_them() -> None:
    out, _ = tr(
        {
            "messages": [
                USER,
                {"role": "assistant", "content": None, "tool_calls": [call("call_1")]},
                {"role": "user", "content": "wait"},
                {"role": "tool", "tool_call_id": "call_1", "content": "done"},
            ],
            "tools": [TOOL],
        }
    )
    assert [b["type"] for b in out["messages"][2]["content"]] == ["tool_result", "text"]
    assert out["messages"][1]["content"][0]["id"] == "call_1"  # safe ids are kept


def test_empty_assistant_dropped_and_turns_merged() -> None:
    out, _ = tr(
        {
            "messages": [
                USER,
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "again"},
                {"role": "assistant", "content": "a"},
                {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
            ]
        }
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
    ]


def test_final_assistant_prefill_is_right_stripped() -> None:
    out, _ = tr({"messages": [USER, {"role": "assistant", "content": "The answer is "}]})
    assert out["messages"][-1]["content"] == [{"type": "text", "text": "The answer is"}]
    out, _ = tr({"messages": [USER, {"role": "assistant", "content": "   "}]})
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_empty_tool_result_and_empty_arguments() -> None:
    out, _ = tr(
        {
            "messages": [
                USER,
                {"role": "assistant", "tool_calls": [call("c1", "")]},
                {"role": "tool", "tool_call_id": "c1", "content": ""},
            ],
            "tools": [TOOL],
        }
    )
    assert out["messages"][1]["content"][0]["input"] == {}
    assert out["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "c1"}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    out, _ = tr(req(tools=[TOOL], tool_choice=choice))
    assert out["tool_choice"] == expected
    assert out["tools"] == [{"name": "get_weather", "input_schema": TOOL["function"]["parameters"]}]


def test_tools_schema_defaults_and_description() -> None:
    out, _ = tr(
        req(
            tools=[
                {"type": "function", "function": {"name": "a", "description": "does a"}},
                {
                    "type": "function",
                    "function": {"name": "b", "parameters": {"properties": {}}, "strict": True},
                },
            ]
        )
    )
    assert out["tools"] == [
        {
            "name": "a",
            "description": "does a",
            "input_schema": {"type": "object", "properties": {}},
        },
        {"name": "b", "input_schema": {"properties": {}, "type": "object"}},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
        ("none", {"type": "none"}),
    ],
)
def test_parallel_tool_calls_false(choice: Any, expected: dict[str, Any]) -> None:
    body = req(tools=[TOOL], parallel_tool_calls=False)
    if choice is not None:
        body["tool_choice"] = choice
    assert tr(body)[0]["tool_choice"] == expected


def test_tool_choice_without_tools_is_dropped() -> None:
    out, _ = tr(req(tool_choice="auto", parallel_tool_calls=False))
    assert "tool_choice" not in out and "tools" not in out


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, 1000),
        ({"max_tokens": 50}, 50),
        ({"max_completion_tokens": 70, "max_tokens": 50}, 70),
        ({"max_tokens": 99_999}, 64_000),
    ],
)
def test_max_tokens(fields: dict[str, Any], expected: int) -> None:
    assert tr(req(**fields), max_output_tokens=64_000)[0]["max_tokens"] == expected


def test_default_max_tokens_is_capped_too() -> None:
    assert tr(req(), default_max_tokens=100_000, max_output_tokens=8192)[0]["max_tokens"] == 8192


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"temperature": 0.3}, {"temperature": 0.3}),
        ({"temperature": 1.7}, {"temperature": 1.0}),  # clamped, not rescaled
        ({"temperature": 0}, {"temperature": 0.0}),
        ({"top_p": 0.9}, {"top_p": 0.9}),
        ({"temperature": 0.5, "top_p": 0.9}, {"temperature": 0.5}),  # both: top_p dropped
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"stop": ["a", "", "b"]}, {"stop_sequences": ["a", "b"]}),
        ({"stop": None}, {}),
        ({"user": "u-1"}, {"metadata": {"user_id": user_hash("u-1")}}),
        ({"safety_identifier": "s-1"}, {"metadata": {"user_id": user_hash("s-1")}}),
    ],
)
def test_sampling_stop_user(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    out, _ = tr(req(**fields))
    extra = {k: v for k, v in out.items() if k not in ("model", "max_tokens", "messages")}
    assert extra == expected


UNSERVABLE = {"seed": 7, "logprobs": True, "top_logprobs": 2, "frequency_penalty": 0.5,
              "presence_penalty": 0.5, "logit_bias": {"1": 2},
              "web_search_options": {}, "stop": ["\n\n", "END"]}


@pytest.mark.parametrize("field", sorted(UNSERVABLE))
def test_unservable_field_is_a_400_naming_it(field: str) -> None:
    with pytest.raises(BadRequest) as info:
        tr(req(**{field: UNSERVABLE[field]}))
    assert info.value.param == field and "drop_params" in str(info.value)


def test_unservable_fields_dropped_when_allowed_neutral_ones_quietly() -> None:
    allowed = Unsupported(["seed", "logprobs", "stop"])
    out, _ = chat_to_messages_request(
        req(seed=1, logprobs=True, stop=["\n", "END"], presence_penalty=0, logit_bias={},
            frequency_penalty=0.0, top_logprobs=0),
        upstream_model="claude-x", default_max_tokens=1024, unsupported=allowed)
    assert allowed.dropped == ["logprobs", "seed", "stop"]
    assert out["stop_sequences"] == ["END"] and "seed" not in out
    with pytest.raises(BadRequest) as info:
        chat_to_messages_request(req(top_logprobs=3), upstream_model="c",
                                 default_max_tokens=9, unsupported=allowed)
    assert info.value.param == "top_logprobs"
    everything = Unsupported(True)
    tr_all, _ = chat_to_messages_request(req(**UNSERVABLE), upstream_model="c",
                                         default_max_tokens=9, unsupported=everything)
    assert sorted(everything.dropped) == sorted(UNSERVABLE)


def test_openai_only_fields_never_leak() -> None:
    out, t = tr(
        req(
            n=1,
            seed=None,
            logprobs=False,
            top_logprobs=0,
            frequency_penalty=0,
            presence_penalty=0.0,
            logit_bias={},
            service_tier="auto",
            store=True,
            metadata={"a": "b"},
            reasoning_effort="high",
            prediction={"type": "content"},
            stream_options={"include_usage": True},
            response_format={"type": "text"},
            verbosity="low",
            prompt_cache_key="k",
        )
    )
    assert set(out) == {"model", "max_tokens", "messages"}
    assert t.include_usage is False  # not streaming


def test_stream_flags() -> None:
    out, t = tr(req(stream=True, stream_options={"include_usage": True}))
    assert out["stream"] is True and t == ChatTranslation(stream=True, include_usage=True)
    out, t = tr(req(stream=True), stream=False)
    assert "stream" not in out and not t.stream
    out, t = tr(req(), stream=True)
    assert out["stream"] is True and t == ChatTranslation(stream=True, include_usage=False)


def test_response_format_json_object_is_a_forced_tool() -> None:
    out, t = tr(req(response_format={"type": "json_object"}))
    assert out["tools"] == [
        {
            "name": "json_response",
            "description": "Reply with the answer as a JSON object.",
            "input_schema": {"type": "object"},
        }
    ]
    assert out["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert t.json_tool == "json_response"


def test_response_format_json_schema_is_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    out, t = tr(
        req(
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "answer",
                    "description": "The answer.",
                    "schema": schema,
                    "strict": True,
                },
            }
        )
    )
    assert out["tools"] == [
        {"name": "answer", "description": "The answer.", "input_schema": schema}
    ]
    assert out["tool_choice"] == {"type": "tool", "name": "answer"}
    assert t.json_tool == "answer"


def test_response_format_with_own_tools_becomes_a_system_instruction() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    out, t = tr(
        {
            "messages": [{"role": "system", "content": "S"}, USER],
            "tools": [TOOL],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": schema},
            },
        }
    )
    assert t.json_tool is None
    assert [t["name"] for t in out["tools"]] == ["get_weather"]
    assert out["system"][0] == {"type": "text", "text": "S"}
    assert "JSON object" in out["system"][1]["text"] and '"integer"' in out["system"][1]["text"]


BAD: list[tuple[Any, str, str]] = [
    ([], "body", "must be a JSON object"),
    ({"messages": "hi"}, "messages", "must be an array"),
    ({"messages": []}, "messages", "must not be empty"),
    ({"messages": [USER], "n": 2}, "n", "must be 1"),
    ({"messages": [USER], "n": "1"}, "n", "must be an integer"),
    ({"messages": ["hi"]}, "messages[0]", "must be an object"),
    ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role", "must be one of"),
    (
        {"messages": [{"role": "function", "name": "f", "content": "x"}]},
        "messages[0].role",
        "deprecated",
    ),
    (
        {"messages": [{"role": "user", "content": 5}]},
        "messages[0].content",
        "must be a string or an array of content parts",
    ),
    ({"messages": [{"role": "user"}]}, "messages[0].content", "must be a string or an array"),
    (
        {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
        "messages[0].content[0].type",
        "must be one of text, image_url, file",
    ),
    (
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "messages[0].content[0].type",
        "not supported",
    ),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
        "messages[0].content[0].text",
        "must be a string",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
                }
            ]
        },
        "messages[0].content[0].image_url.url",
        "base64 data URL",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}],
                }
            ]
        },
        "messages[0].content[0].image_url.url",
        "base64 data URL",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AA"}}
                    ],
                }
            ]
        },
        "messages[0].content[0].image_url.url",
        "media type 'image/tiff'",
    ),
    (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "messages[0].content[0].image_url.url",
        "must be a string",
    ),
    (
        {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]},
        "messages[0].content[0].file.file_data",
        "file ids",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "file", "file": {"file_data": "data:text/plain;base64,AA"}}
                    ],
                }
            ]
        },
        "messages[0].content[0].file.file_data",
        "must be a PDF",
    ),
    (
        {"messages": [{"role": "system", "content": None}, USER]},
        "messages[0].content",
        "text parts",
    ),
    (
        {"messages": [{"role": "system", "content": [{"type": "image_url"}]}, USER]},
        "messages[0].content[0].type",
        "must be 'text'",
    ),
    ({"messages": [USER, {"role": "assistant", "content": 1}]}, "messages[1].content", "or null"),
    (
        {"messages": [USER, {"role": "assistant", "content": [{"type": "image_url"}]}]},
        "messages[1].content[0].type",
        "'text' or 'refusal'",
    ),
    (
        {
            "messages": [
                USER,
                {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
            ]
        },
        "messages[1].function_call",
        "deprecated",
    ),
    (
        {"messages": [USER, {"role": "assistant", "tool_calls": {}}]},
        "messages[1].tool_calls",
        "must be an array",
    ),
    (
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            ]
        },
        "messages[1].tool_calls[0].id",
        "non-empty string",
    ),
    (
        {
            "messages": [
                USER,
                {"role": "assistant", "tool_calls": [{"id": "a", "type": "custom", "custom": {}}]},
            ]
        },
        "messages[1].tool_calls[0].type",
        "must be 'function'",
    ),
    (
        {"messages": [USER, {"role": "assistant", "tool_calls": [call("a", "{nope")]}]},
        "messages[1].tool_calls[0].function.arguments",
        "is not valid JSON",
    ),
    (
        {"messages": [USER, {"role": "assistant", "tool_calls": [call("a", "[1]")]}]},
        "messages[1].tool_calls[0].function.arguments",
        "must encode a JSON object",
    ),
    (
        {"messages": [USER, {"role": "assistant", "tool_calls": [call("a", {"city": "x"})]}]},  # type: ignore[arg-type]
        "messages[1].tool_calls[0].function.arguments",
        "must be a string",
    ),
    (
        {"messages": [USER, {"role": "assistant", "tool_calls": [call("a")]}]},
        "messages[1].tool_calls[0]",
        "has no tool message answering it",
    ),
    (
        {
            "messages": [
                USER,
                {"role": "assistant", "tool_calls": [call("a")]},
                {"role": "user", "content": "x"},
            ]
        },
        "messages[1].tool_calls[0]",
        "has no tool message answering it",
    ),
    (
        {"messages": [USER, {"role": "tool", "tool_call_id": "zz", "content": "x"}]},
        "messages[1].tool_call_id",
        "does not answer a tool call",
    ),
    (
        {"messages": [USER, {"role": "tool", "content": "x"}]},
        "messages[1].tool_call_id",
        "non-empty string",
    ),
    (
        {"messages": [USER, {"role": "tool", "tool_call_id": "a", "content": None}]},
        "messages[1].content",
        "must be a string or an array",
    ),
    (
        {
            "messages": [
                USER,
                {"role": "assistant", "tool_calls": [call("a")]},
                {"role": "tool", "tool_call_id": "a", "content": "1"},
                {"role": "assistant", "tool_calls": [call("a")]},
                {"role": "tool", "tool_call_id": "a", "content": "2"},
            ]
        },
        "messages[3].tool_calls[0].id",
        "repeats tool call id 'a'",
    ),
    (
        {"messages": [{"role": "user", "content": ""}]},
        "messages",
        "must contain a user or assistant message",
    ),
    (
        {"messages": [{"role": "system", "content": "s"}]},
        "messages",
        "must contain a user or assistant message",
    ),
    ({"messages": [USER], "max_tokens": 0}, "max_tokens", "at least 1"),
    (
        {"messages": [USER], "max_completion_tokens": "9"},
        "max_completion_tokens",
        "must be an integer",
    ),
    ({"messages": [USER], "temperature": "hot"}, "temperature", "must be a number"),
    ({"messages": [USER], "top_p": True}, "top_p", "must be a number"),
    ({"messages": [USER], "stop": 5}, "stop", "string or an array of strings"),
    ({"messages": [USER], "stop": ["a", 1]}, "stop[1]", "must be a string"),
    ({"messages": [USER], "user": 5}, "user", "must be a string"),
    ({"messages": [USER], "stream": "yes"}, "stream", "must be a boolean"),
    (
        {"messages": [USER], "stream": True, "stream_options": {"include_usage": 1}},
        "stream_options.include_usage",
        "must be a boolean",
    ),
    ({"messages": [USER], "functions": [{"name": "f"}]}, "functions", "deprecated"),
    ({"messages": [USER], "modalities": ["text", "audio"]}, "modalities", "audio"),
    ({"messages": [USER], "tools": {}}, "tools", "must be an array"),
    (
        {"messages": [USER], "tools": [{"type": "custom", "custom": {"name": "x"}}]},
        "tools[0].type",
        "custom tools",
    ),
    (
        {"messages": [USER], "tools": [{"type": "function"}]},
        "tools[0].function",
        "must be an object",
    ),
    (
        {"messages": [USER], "tools": [{"type": "function", "function": {"name": ""}}]},
        "tools[0].function.name",
        "non-empty",
    ),
    (
        {"messages": [USER], "tools": [TOOL, TOOL]},
        "tools[1].function.name",
        "repeats the tool name",
    ),
    (
        {
            "messages": [USER],
            "tools": [
                {"type": "function", "function": {"name": "a", "parameters": {"type": "array"}}}
            ],
        },
        "tools[0].function.parameters.type",
        "must be 'object'",
    ),
    (
        {
            "messages": [USER],
            "tools": [{"type": "function", "function": {"name": "a", "parameters": []}}],
        },
        "tools[0].function.parameters",
        "must be an object",
    ),
    (
        {
            "messages": [USER],
            "tools": [{"type": "function", "function": {"name": "a", "description": 1}}],
        },
        "tools[0].function.description",
        "must be a string",
    ),
    ({"messages": [USER], "tool_choice": "required"}, "tool_choice", "no tools"),
    (
        {"messages": [USER], "tools": [TOOL], "tool_choice": "sometimes"},
        "tool_choice",
        "must be 'none', 'auto'",
    ),
    (
        {
            "messages": [USER],
            "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
        "tool_choice.function.name",
        "not in tools",
    ),
    (
        {
            "messages": [USER],
            "tools": [TOOL],
            "tool_choice": {"type": "allowed_tools", "allowed_tools": {}},
        },
        "tool_choice",
        "must be 'none', 'auto'",
    ),
    (
        {"messages": [USER], "tools": [TOOL], "parallel_tool_calls": "no"},
        "parallel_tool_calls",
        "boolean",
    ),
    ({"messages": [USER], "response_format": "json"}, "response_format", "must be an object"),
    (
        {"messages": [USER], "response_format": {"type": "xml"}},
        "response_format.type",
        "must be one of",
    ),
    (
        {"messages": [USER], "response_format": {"type": "json_schema"}},
        "response_format.json_schema",
        "object",
    ),
    (
        {
            "messages": [USER],
            "response_format": {"type": "json_schema", "json_schema": {"schema": {}}},
        },
        "response_format.json_schema.name",
        "non-empty string",
    ),
    (
        {
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": {"type": "array"}},
            },
        },
        "response_format.json_schema.schema.type",
        "must be 'object'",
    ),
]


@pytest.mark.parametrize(("body", "param", "fragment"), BAD)
def test_bad_requests(body: Any, param: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        chat_to_messages_request(body, upstream_model="m", default_max_tokens=10)
    assert info.value.param == param
    assert info.value.message.startswith(param)
    assert fragment in info.value.message
    assert info.value.status == 400


def test_input_body_is_not_mutated() -> None:
    import copy

    body = {
        "messages": [
            {"role": "system", "content": "s"},
            USER,
            {"role": "assistant", "content": "ok  ", "tool_calls": [call()]},
            {"role": "tool", "tool_call_id": KIMI_ID, "content": "r"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"properties": {}}},
            }
        ],
        "response_format": {"type": "json_object"},
        "parallel_tool_calls": False,
    }
    before = copy.deepcopy(body)
    tr(body)
    assert body == before


def test_blank_text_is_dropped_everywhere() -> None:
    # Anthropic: "text content blocks must contain non-whitespace text".
    out, _ = tr(
        {
            "messages": [
                {"role": "system", "content": " \n"},
                {"role": "user", "content": [{"type": "text", "text": "\t"}]},
                USER,
                {"role": "assistant", "content": "  ", "tool_calls": [call("c1")]},
                {"role": "tool", "tool_call_id": "c1", "content": "   "},
            ],
            "stop": ["", "END"],
            "tools": [TOOL],
        }
    )
    assert "system" not in out
    assert out["messages"][0]["content"] == [{"type": "text", "text": "hi"}]
    assert [b["type"] for b in out["messages"][1]["content"]] == ["tool_use"]
    assert out["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "c1"}]
    assert out["stop_sequences"] == ["END"]


def test_json_schema_name_unusable_as_tool_name() -> None:
    out, t = tr(
        req(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "my answer!", "schema": {}},
            }
        )
    )
    assert t.json_tool == "json_response" and out["tool_choice"] == {
        "type": "tool",
        "name": "json_response",
    }
    assert out["tools"][0]["input_schema"] == {"type": "object"}


def test_negative_temperature_clamped_to_zero() -> None:
    assert tr(req(temperature=-0.5))[0]["temperature"] == 0.0
