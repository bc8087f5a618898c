"""What the Anthropic emulator answers: message objects and exact event sequences."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from .conftest import CLAUDE_MODEL, Emulator, claude_headers
from .sse import parse_frames

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}


def post(claude: Emulator, path: str = "/v1/messages", **body: Any) -> httpx.Response:
    body.setdefault("model", CLAUDE_MODEL)
    body.setdefault("messages", [{"role": "user", "content": "hello there"}])
    if path == "/v1/messages":
        body.setdefault("max_tokens", 100)
    return claude.http.post(claude.url + path, json=body, headers=claude_headers())


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    frames = parse_frames(response.text)
    out = []
    for event, data in frames:
        assert event is not None  # the SDK skips unnamed events: every one is named
        payload = orjson.loads(data)
        assert payload["type"] == event
        out.append((event, payload))
    return out


def test_message_object(claude: Emulator) -> None:
    response = post(claude)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert re.fullmatch(r"msg_01[0-9A-Za-z]{22}", body["id"])
    assert (
        body["type"] == "message" and body["role"] == "assistant" and body["model"] == CLAUDE_MODEL
    )
    assert body["content"] == [{"type": "text", "text": "Echo: hello there"}]
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)
    usage = body["usage"]
    assert usage["input_tokens"] == 3  # the same estimate as the Moonshot emulator's
    assert usage["cache_creation_input_tokens"] == 0 and usage["cache_read_input_tokens"] == 0
    assert usage["output_tokens"] == 5


def test_cache_control_reports_a_cache_write_then_reads(claude: Emulator) -> None:
    system = [{"type": "text", "text": "s" * 400, "cache_control": {"type": "ephemeral"}}]
    usage = post(claude, system=system).json()["usage"]
    assert usage["cache_creation_input_tokens"] == 103 * 3 // 4
    assert usage["cache_read_input_tokens"] == 0
    usage = post(claude, system=system).json()["usage"]
    assert usage["cache_creation_input_tokens"] == 0
    total = (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
    )
    assert total == 103  # 400 + 11 characters
    assert usage["cache_read_input_tokens"] == 103 * 3 // 4
    assert usage["input_tokens"] == total - usage["cache_read_input_tokens"]


def test_tool_use_answer(claude: Emulator) -> None:
    messages = [{"role": "user", "content": "get_time and get_weather"}]
    body = post(claude, messages=messages, tools=[WEATHER, TIME]).json()
    assert body["stop_reason"] == "tool_use"
    text, *uses = body["content"]
    assert text == {"type": "text", "text": "Calling get_time, get_weather."}
    assert [(u["type"], u["name"], u["input"]) for u in uses] == [
        ("tool_use", "get_time", {}),
        ("tool_use", "get_weather", {"city": "Paris"}),
    ]
    assert all(re.fullmatch(r"toolu_01[0-9A-Za-z]{22}", u["id"]) for u in uses)


def test_forced_and_serial_tool_choice(claude: Emulator) -> None:
    messages = [{"role": "user", "content": "get_time and get_weather"}]
    forced = post(
        claude,
        messages=messages,
        tools=[WEATHER, TIME],
        tool_choice={"type": "tool", "name": "get_weather"},
    ).json()
    assert [b["type"] for b in forced["content"]] == ["tool_use"]  # no text before a forced call
    serial = post(
        claude,
        messages=messages,
        tools=[WEATHER, TIME],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    ).json()
    assert [b.get("name") for b in serial["content"] if b["type"] == "tool_use"] == ["get_time"]


def test_tool_results_are_quoted(claude: Emulator) -> None:
    messages = [
        {"role": "user", "content": "get_weather"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "22C"}],
                }
            ],
        },
    ]
    body = post(claude, messages=messages, tools=[WEATHER]).json()
    assert body["content"] == [{"type": "text", "text": "Tool result: 22C"}]


def test_stop_sequence_and_max_tokens(claude: Emulator) -> None:
    stopped = post(claude, stop_sequences=["there"]).json()
    assert (stopped["content"][0]["text"], stopped["stop_reason"], stopped["stop_sequence"]) == (
        "Echo: hello ",
        "stop_sequence",
        "there",
    )
    cut = post(claude, max_tokens=1).json()
    assert (cut["content"][0]["text"], cut["stop_reason"], cut["usage"]["output_tokens"]) == (
        "Echo:",
        "max_tokens",
        1,
    )
    warm = post(claude, max_tokens=0).json()
    assert (warm["content"], warm["stop_reason"]) == ([], "max_tokens")


def test_images_are_counted(claude: Emulator) -> None:
    png = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    body = post(
        claude, messages=[{"role": "user", "content": [{"type": "text", "text": "see"}, png, url]}]
    ).json()
    assert body["content"][0]["text"] == "Echo: see [2 images]"
    assert body["usage"]["input_tokens"] == 1 + 2 * 85


def test_structured_output(claude: Emulator) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = post(claude, output_config={"format": {"type": "json_schema", "schema": schema}}).json()
    assert orjson.loads(body["content"][0]["text"]) == {"n": 1}


def test_stream_of_text(claude: Emulator) -> None:
    response = post(claude, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    seq = events(response)
    assert [e for e, _ in seq] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = seq[0][1]["message"]
    assert (
        start["content"] == [] and start["stop_reason"] is None and start["stop_sequence"] is None
    )
    assert start["usage"]["input_tokens"] == 3
    assert seq[2][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    texts = [p["delta"]["text"] for e, p in seq if e == "content_block_delta"]
    assert texts == ["Echo: ", "hello ", "there"]
    assert all(
        p["delta"]["type"] == "text_delta" and p["index"] == 0
        for e, p in seq
        if e == "content_block_delta"
    )
    delta = seq[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 5 and delta["usage"]["input_tokens"] == 3


def test_stream_of_tool_use(claude: Emulator) -> None:
    messages = [{"role": "user", "content": "get_weather and get_time"}]
    seq = events(post(claude, stream=True, messages=messages, tools=[WEATHER, TIME]))
    starts = [p for e, p in seq if e == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    assert starts[0]["content_block"]["type"] == "text"
    head = starts[1]["content_block"]
    assert (head["type"], head["name"], head["input"]) == ("tool_use", "get_weather", {})
    partial = [
        p["delta"]["partial_json"] for e, p in seq if e == "content_block_delta" and p["index"] == 1
    ]
    assert partial[0] == "" and len(partial) >= 3  # an empty opener, then several pieces
    assert orjson.loads("".join(partial)) == {"city": "Paris"}
    assert all(
        p["delta"]["type"] == "input_json_delta"
        for e, p in seq
        if e == "content_block_delta" and p["index"] > 0
    )
    # blocks never interleave: each stops before the next starts
    order = [
        (e, p.get("index"))
        for e, p in seq
        if e.startswith("content_block_") and e != "content_block_delta"
    ]
    assert order == [
        ("content_block_start", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_stop", 2),
    ]
    assert seq[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_stream_of_thinking(claude: Emulator) -> None:
    seq = events(
        post(
            claude,
            stream=True,
            max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    )
    first = next(p for e, p in seq if e == "content_block_start")["content_block"]
    assert first == {"type": "thinking", "thinking": "", "signature": ""}
    kinds = [p["delta"]["type"] for e, p in seq if e == "content_block_delta" and p["index"] == 0]
    assert kinds[-1] == "signature_delta" and set(kinds[:-1]) == {"thinking_delta"}


def test_count_tokens(claude: Emulator) -> None:
    response = post(claude, "/v1/messages/count_tokens", tools=[WEATHER])
    assert response.status_code == 200
    count = response.json()
    assert list(count) == ["input_tokens"]
    created = post(
        claude, tools=[WEATHER], messages=[{"role": "user", "content": "hello there"}]
    ).json()
    assert count["input_tokens"] == created["usage"]["input_tokens"]


def test_request_id_on_every_response(claude: Emulator) -> None:
    ids = {post(claude).headers["request-id"] for _ in range(3)}
    assert len(ids) == 3
    response = claude.http.get(claude.url + "/v1/nothing", headers=claude_headers())
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"
    assert response.headers["request-id"] == response.json()["request_id"]


def test_same_conversation_same_tokens_as_moonshot(claude: Emulator, kimi: Emulator) -> None:
    """A translated conversation costs the same in both emulators."""
    openai_body = {
        "model": "kimi-k2-0905-preview",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "weather? get_weather"},
            {
                "role": "assistant",
                "content": "Calling get_weather.",
                "tool_calls": [
                    {
                        "id": "functions.get_weather:0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "22C"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": WEATHER["description"],
                    "parameters": WEATHER["input_schema"],
                },
            }
        ],
    }
    anthropic_body = {
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "weather? get_weather"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Calling get_weather."},
                    {
                        "type": "tool_use",
                        "id": "functions_get_weather_0",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "functions_get_weather_0",
                        "content": "22C",
                    }
                ],
            },
        ],
        "tools": [WEATHER],
    }
    kimi_answer = kimi.http.post(
        kimi.v1 + "/chat/completions",
        json=openai_body,
        headers={"authorization": "Bearer sk-emu-kimi"},
    ).json()
    claude_answer = post(claude, **anthropic_body).json()
    assert kimi_answer["usage"]["prompt_tokens"] == claude_answer["usage"]["input_tokens"]
    assert (
        kimi_answer["choices"][0]["message"]["content"]
        == claude_answer["content"][0]["text"]
        == "Tool result: 22C"
    )
    assert kimi_answer["usage"]["completion_tokens"] == claude_answer["usage"]["output_tokens"]
