"""What the Moonshot emulator answers: completion objects and exact stream chunks."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from .conftest import KIMI_MODEL, Emulator, kimi_headers
from .sse import data_json, parse_frames

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
                "required": ["city", "unit"],
            },
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


def post(kimi: Emulator, **body: Any) -> httpx.Response:
    body.setdefault("model", KIMI_MODEL)
    body.setdefault("messages", [{"role": "user", "content": "hello there"}])
    return kimi.http.post(kimi.v1 + "/chat/completions", json=body, headers=kimi_headers())


def test_completion_object(kimi: Emulator) -> None:
    response = post(kimi)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert re.fullmatch(r"cmpl-[0-9a-f]{32}", body["id"])
    assert body["object"] == "chat.completion" and body["model"] == KIMI_MODEL
    assert isinstance(body["created"], int)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Echo: hello there"},
            "finish_reason": "stop",
        }
    ]
    usage = body["usage"]
    assert usage["prompt_tokens"] == 3  # "hello there": 11 chars / 4, rounded up
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_tool_calls_are_numbered_after_earlier_ones(kimi: Emulator) -> None:
    earlier = {
        "id": "functions.get_time:0",
        "type": "function",
        "function": {"name": "get_time", "arguments": "{}"},
    }
    messages = [
        {"role": "user", "content": "get_time"},
        {"role": "assistant", "content": "", "tool_calls": [earlier]},
        {"role": "tool", "tool_call_id": "functions.get_time:0", "content": "noon"},
        {"role": "assistant", "content": "It is noon."},
        {"role": "user", "content": "now get_weather and get_time"},
    ]
    body = post(kimi, messages=messages, tools=TOOLS).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["functions.get_weather:1", "functions.get_time:2"]
    assert orjson.loads(calls[0]["function"]["arguments"]) == {"city": "Paris", "unit": "C"}
    assert calls[1]["function"]["arguments"] == "{}"


def test_tool_results_are_quoted(kimi: Emulator) -> None:
    call = {
        "id": "functions.get_weather:0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
    }
    messages = [
        {"role": "user", "content": "get_weather"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "22C and sunny"},
    ]
    body = post(kimi, messages=messages, tools=TOOLS).json()
    assert body["choices"][0]["message"]["content"] == "Tool result: 22C and sunny"
    assert body["choices"][0]["finish_reason"] == "stop"


def test_named_tool_choice_forces_a_call_without_text(kimi: Emulator) -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    body = post(kimi, tools=TOOLS, tool_choice=choice).json()
    message = body["choices"][0]["message"]
    assert message["content"] == ""
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["get_time"]


def test_stop_and_length(kimi: Emulator) -> None:
    stopped = post(kimi, stop=["there"]).json()["choices"][0]
    assert (stopped["message"]["content"], stopped["finish_reason"]) == ("Echo: hello ", "stop")
    cut = post(kimi, max_tokens=2, messages=[{"role": "user", "content": "a b c d"}]).json()
    assert cut["choices"][0]["message"]["content"] == "Echo: a"
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] <= 2


def test_n_choices(kimi: Emulator) -> None:
    body = post(kimi, n=3, temperature=0.6).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    single = post(kimi).json()
    assert body["usage"]["completion_tokens"] == 3 * single["usage"]["completion_tokens"]


def test_thinking_model_returns_reasoning_content(kimi: Emulator) -> None:
    body = post(kimi, model="kimi-k2-thinking").json()
    assert body["choices"][0]["message"]["reasoning_content"] == "Thinking about: hello there"


def test_images_are_counted_and_cost_tokens(kimi: Emulator) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": "see"}, image, image]
    body = post(kimi, messages=[{"role": "user", "content": content}]).json()
    assert body["choices"][0]["message"]["content"] == "Echo: see [2 images]"
    assert body["usage"]["prompt_tokens"] == 1 + 2 * 85


def test_stream_of_text(kimi: Emulator) -> None:
    response = post(kimi, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = parse_frames(response.text)
    assert all(event is None for event, _ in frames)
    assert frames[-1] == (None, "[DONE]")
    chunks = data_json(frames)
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Echo: "},
        {"content": "hello "},
        {"content": "there"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 4 + ["stop"]
    final = chunks[-1]["choices"][0]
    assert final["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert "usage" not in chunks[-1]  # Moonshot: in the choice, not top-level


def test_stream_include_usage_also_fills_the_top_level(kimi: Emulator) -> None:
    chunks = data_json(
        parse_frames(post(kimi, stream=True, stream_options={"include_usage": True}).text)
    )
    assert chunks[-1]["usage"] == chunks[-1]["choices"][0]["usage"]


def test_stream_of_tool_calls(kimi: Emulator) -> None:
    messages = [{"role": "user", "content": "get_weather and get_time"}]
    chunks = data_json(parse_frames(post(kimi, stream=True, tools=TOOLS, messages=messages).text))
    calls = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls", [])]
    heads = [c for c in calls if "id" in c]
    assert heads == [
        {
            "index": 0,
            "id": "functions.get_weather:0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {
            "index": 1,
            "id": "functions.get_time:1",
            "type": "function",
            "function": {"name": "get_time", "arguments": ""},
        },
    ]
    fragments = [c for c in calls if "id" not in c]
    assert all(
        set(c) == {"index", "function"} and set(c["function"]) == {"arguments"} for c in fragments
    )
    weather = "".join(c["function"]["arguments"] for c in fragments if c["index"] == 0)
    assert orjson.loads(weather) == {"city": "Paris", "unit": "C"}
    assert sum(1 for c in fragments if c["index"] == 0) >= 3  # split into several pieces
    # every delta of call 0 comes before the head of call 1
    positions = [c["index"] for c in calls]
    assert positions == sorted(positions)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" in chunks[-1]["choices"][0]


def test_stream_of_reasoning(kimi: Emulator) -> None:
    chunks = data_json(parse_frames(post(kimi, model="kimi-k2-thinking", stream=True).text))
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks)
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert (reasoning, content) == ("Thinking about: hello there", "Echo: hello there")


def test_models_list(kimi: Emulator) -> None:
    response = kimi.http.get(kimi.v1 + "/models", headers=kimi_headers())
    body = response.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert KIMI_MODEL in ids and "moonshot-v1-8k" in ids
    assert all(m["object"] == "model" and m["owned_by"] == "moonshot" for m in body["data"])


def test_requests_are_recorded(kimi: Emulator) -> None:
    post(kimi, temperature=0.5)
    kimi.http.post(kimi.v1 + "/chat/completions", json={}, headers={"authorization": "Bearer nope"})
    first, second = kimi.control.requests
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.json["temperature"] == 0.5
    assert first.headers["authorization"] == "Bearer sk-emu-kimi"
    assert first.raw_length == int(first.headers["content-length"])
    assert second.headers["authorization"] == "Bearer nope"  # refused requests count too
    assert kimi.control.last_request == second


def test_text_override_makes_a_long_stream(kimi: Emulator) -> None:
    kimi.control.text_override = "w " * 10_000
    with kimi.http.stream(
        "POST",
        kimi.v1 + "/chat/completions",
        headers=kimi_headers(),
        json={"model": KIMI_MODEL, "stream": True, "messages": [{"role": "user", "content": "x"}]},
    ) as response:
        contents = [
            line
            for line in response.iter_lines()
            if line.startswith("data:") and '"content":"w' in line
        ]
    assert len(contents) == 10_000
