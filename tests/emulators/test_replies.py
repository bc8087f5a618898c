from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.emulators.replies import (
    Prompt,
    ToolSpec,
    estimate_tokens,
    example_from_schema,
    generate_reply,
    split_fragments,
    split_words,
)

WEATHER = ToolSpec(
    "get_weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolSpec(
    "get_time",
    {"type": "object", "properties": {"tz": {"enum": ["UTC", "CET"]}}, "required": ["tz"]},
)


def test_echo_takes_the_first_200_characters() -> None:
    reply = generate_reply(Prompt(last_user_text="x" * 500))
    assert reply.text == "Echo: " + "x" * 200
    assert reply.stop_reason == "end_turn" and reply.tool_calls == ()


@pytest.mark.parametrize(("count", "suffix"), [(1, " [1 image]"), (3, " [3 images]")])
def test_echo_counts_images(count: int, suffix: str) -> None:
    assert (
        generate_reply(Prompt(last_user_text="look", image_count=count)).text
        == "Echo: look" + suffix
    )


def test_tool_results_are_quoted_before_anything_else() -> None:
    reply = generate_reply(
        Prompt(last_user_text="get_weather", tool_results=("22C", "sunny"), tools=(WEATHER,))
    )
    assert reply.text == "Tool result: 22C\nTool result: sunny"
    assert reply.tool_calls == ()


@pytest.mark.parametrize(
    ("prompt", "names"),
    [
        (Prompt(last_user_text="call get_weather please", tools=(WEATHER, TIME)), ["get_weather"]),
        (
            Prompt(last_user_text="get_time then get_weather", tools=(WEATHER, TIME)),
            ["get_time", "get_weather"],
        ),
        (
            Prompt(last_user_text="get_time get_weather", tools=(WEATHER, TIME), parallel=False),
            ["get_time"],
        ),
        (Prompt(last_user_text="get_weather_v2 is not it", tools=(WEATHER,)), []),
        (Prompt(last_user_text="nothing named", tools=(WEATHER, TIME)), []),
        (
            Prompt(last_user_text="nothing named", tools=(WEATHER, TIME), tool_mode="any"),
            ["get_weather"],
        ),
        (
            Prompt(
                last_user_text="get_weather",
                tools=(WEATHER, TIME),
                tool_mode="tool",
                forced_tool="get_time",
            ),
            ["get_time"],
        ),
        (Prompt(last_user_text="get_weather", tools=(WEATHER,), tool_mode="none"), []),
    ],
)
def test_tool_choice_rules(prompt: Prompt, names: list[str]) -> None:
    reply = generate_reply(prompt)
    assert [c.name for c in reply.tool_calls] == names
    assert reply.stop_reason == ("tool_use" if names else "end_turn")


def test_tool_call_arguments_and_preamble() -> None:
    auto = generate_reply(Prompt(last_user_text="get_time get_weather", tools=(WEATHER, TIME)))
    assert [dict(c.arguments) for c in auto.tool_calls] == [{"tz": "UTC"}, {"city": "Paris"}]
    assert auto.text == "Calling get_time, get_weather."
    forced = generate_reply(Prompt(tools=(WEATHER,), tool_mode="any"))
    assert forced.text == ""  # a forced call has no text before it
    assert forced.tool_calls[0].arguments_json == '{"city":"Paris"}'


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "string"}, "Paris"),
        ({"type": "string", "enum": ["b", "a"]}, "b"),
        ({"type": "integer"}, 1),
        ({"type": "number"}, 1),
        ({"type": "boolean"}, True),
        ({"type": "array", "items": {"type": "string"}}, []),
        ({"type": ["null", "string"]}, "Paris"),
        ({"const": 7}, 7),
        ({"anyOf": [{"type": "boolean"}, {"type": "string"}]}, True),
        ({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}, {}),
        (
            {
                "type": "object",
                "properties": {
                    "a": {"type": "integer"},
                    "o": {"type": "object"},
                    "b": {"type": "string"},
                },
                "required": ["a", "o"],
            },
            {"a": 1, "o": {}},
        ),
        ("not a schema", {}),
    ],
)
def test_example_from_schema(schema: Any, value: Any) -> None:
    assert example_from_schema(schema) == value


def test_stop_sequence_cuts_at_the_earliest_match() -> None:
    reply = generate_reply(Prompt(last_user_text="one two three", stop=("three", "two")))
    assert reply.text == "Echo: one "
    assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", "two")


def test_max_tokens_keeps_that_many_words() -> None:
    reply = generate_reply(Prompt(last_user_text="a b c d e f", max_tokens=3))
    assert reply.text == "Echo: a b"
    assert reply.stop_reason == "max_tokens"
    assert reply.output_tokens <= 3


def test_max_tokens_zero_generates_nothing() -> None:
    reply = generate_reply(
        Prompt(last_user_text="hi", tools=(WEATHER,), tool_mode="any", max_tokens=0)
    )
    assert (reply.text, reply.tool_calls, reply.output_tokens) == ("", (), 0)


def test_text_override_replaces_the_text_reply() -> None:
    reply = generate_reply(Prompt(last_user_text="hi", tool_results=("r",), text_override="w " * 5))
    assert reply.text == "w " * 5


def test_json_outputs() -> None:
    mode = generate_reply(Prompt(last_user_text="hi", json_mode=True))
    assert orjson.loads(mode.text) == {"echo": "hi", "images": 0}
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert orjson.loads(generate_reply(Prompt(json_schema=schema)).text) == {"n": 1}


def test_thinking_is_generated_on_request() -> None:
    assert (
        generate_reply(Prompt(last_user_text="why", thinking=True)).thinking
        == "Thinking about: why"
    )
    assert generate_reply(Prompt(last_user_text="why")).thinking is None


@pytest.mark.parametrize(("chars", "tokens"), [(0, 1), (1, 1), (4, 1), (5, 2), (400, 100)])
def test_estimate_tokens(chars: int, tokens: int) -> None:
    assert estimate_tokens(chars) == tokens


@pytest.mark.parametrize("text", ["", "one", "Echo: hello  world ", "  lead", "   ", "a\nb"])
def test_split_words_round_trips(text: str) -> None:
    pieces = split_words(text)
    assert "".join(pieces) == text
    assert all(pieces)


def test_split_fragments() -> None:
    assert split_fragments('{"city":"Paris"}') == ['{"city', '":"Par', 'is"}']
    assert "".join(split_fragments("x" * 10, parts=4)) == "x" * 10
    assert split_fragments("") == []
