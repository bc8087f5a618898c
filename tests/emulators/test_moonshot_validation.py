"""Every refusal of the Moonshot emulator: status, Moonshot's error shape, message."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from .conftest import KIMI_MODEL, Emulator, kimi_headers

PNG = "data:image/png;base64,iVBORw0KGgo="
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
CALL = {
    "id": "functions.get_weather:0",
    "type": "function",
    "function": {"name": "get_weather", "arguments": "{}"},
}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": KIMI_MODEL, "messages": [{"role": "user", "content": "hi"}], **fields}


def user(content: Any) -> dict[str, Any]:
    return chat(messages=[{"role": "user", "content": content}])


CASES: list[tuple[str, dict[str, Any] | bytes, int, str, str]] = [
    ("body not an object", orjson.dumps([1]), 400, "invalid_request_error", "JSON object"),
    ("body not json", b"{nope", 400, "invalid_request_error", "invalid JSON"),
    (
        "model missing",
        {"messages": [{"role": "user", "content": "hi"}]},
        400,
        "invalid_request_error",
        "model",
    ),
    ("model not a string", chat(model=5), 400, "invalid_request_error", "model"),
    (
        "unknown model",
        chat(model="kimi-k9"),
        404,
        "resource_not_found_error",
        "Not found the model kimi-k9",
    ),
    ("messages missing", {"model": KIMI_MODEL}, 400, "invalid_request_error", "messages"),
    ("messages empty", chat(messages=[]), 400, "invalid_request_error", "messages"),
    ("message not an object", chat(messages=["hi"]), 400, "invalid_request_error", "messages[0]"),
    (
        "bad role",
        chat(messages=[{"role": "developer", "content": "x"}]),
        400,
        "invalid_request_error",
        "role",
    ),
    ("content wrong type", user(5), 400, "invalid_request_error", "content"),
    (
        "part wrong type",
        user([{"type": "audio", "data": "x"}]),
        400,
        "invalid_request_error",
        "audio",
    ),
    (
        "text part not a string",
        user([{"type": "text", "text": 1}]),
        400,
        "invalid_request_error",
        "text",
    ),
    (
        "http image url",
        user([{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]),
        400,
        "invalid_request_error",
        "base64",
    ),
    (
        "image not a data url",
        user([{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]),
        400,
        "invalid_request_error",
        "data url",
    ),
    (
        "image in a system message",
        chat(
            messages=[
                {"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}
            ]
        ),
        400,
        "invalid_request_error",
        "image_url",
    ),
    (
        "tool message without an earlier call",
        chat(
            messages=[
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "functions.x:0", "content": "r"},
            ]
        ),
        400,
        "invalid_request_error",
        "functions.x:0",
    ),
    (
        "tool message without tool_call_id",
        chat(
            messages=[
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "content": "r"},
            ]
        ),
        400,
        "invalid_request_error",
        "tool_call_id",
    ),
    (
        "tool call arguments not a string",
        chat(
            messages=[
                {
                    "role": "assistant",
                    "tool_calls": [{**CALL, "function": {"name": "f", "arguments": {}}}],
                }
            ]
        ),
        400,
        "invalid_request_error",
        "arguments",
    ),
    (
        "assistant without content or calls mid-conversation",
        chat(messages=[{"role": "assistant", "content": None}, {"role": "user", "content": "x"}]),
        400,
        "invalid_request_error",
        "content",
    ),
    (
        "partial not last",
        chat(
            messages=[
                {"role": "assistant", "content": "a", "partial": True},
                {"role": "user", "content": "x"},
            ]
        ),
        400,
        "invalid_request_error",
        "partial",
    ),
    ("temperature above 1", chat(temperature=1.5), 400, "invalid_request_error", "temperature"),
    ("temperature negative", chat(temperature=-0.1), 400, "invalid_request_error", "temperature"),
    ("temperature a string", chat(temperature="0.5"), 400, "invalid_request_error", "temperature"),
    ("top_p above 1", chat(top_p=2), 400, "invalid_request_error", "top_p"),
    ("max_tokens zero", chat(max_tokens=0), 400, "invalid_request_error", "max_tokens"),
    ("max_tokens a bool", chat(max_tokens=True), 400, "invalid_request_error", "max_tokens"),
    (
        "max_completion_tokens float",
        chat(max_completion_tokens=1.5),
        400,
        "invalid_request_error",
        "max_completion_tokens",
    ),
    ("n above 5", chat(n=6), 400, "invalid_request_error", "n must"),
    (
        "n>1 with a cold temperature",
        chat(n=2, temperature=0.1),
        400,
        "invalid_request_error",
        "temperature",
    ),
    ("stream not a bool", chat(stream="yes"), 400, "invalid_request_error", "stream"),
    ("stop list of numbers", chat(stop=[1]), 400, "invalid_request_error", "stop"),
    ("too many stops", chat(stop=list("abcdef")), 400, "invalid_request_error", "stop"),
    (
        "penalty out of range",
        chat(presence_penalty=3),
        400,
        "invalid_request_error",
        "presence_penalty",
    ),
    (
        "tool_choice required",
        chat(tools=[WEATHER_TOOL], tool_choice="required"),
        400,
        "invalid_request_error",
        "required",
    ),
    (
        "tool_choice names an unknown function",
        chat(tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "nope"}}),
        400,
        "invalid_request_error",
        "nope",
    ),
    (
        "tool_choice garbage",
        chat(tools=[WEATHER_TOOL], tool_choice="always"),
        400,
        "invalid_request_error",
        "tool_choice",
    ),
    ("tools not a list", chat(tools={"a": 1}), 400, "invalid_request_error", "tools"),
    (
        "tool wrong type",
        chat(tools=[{"type": "retrieval"}]),
        400,
        "invalid_request_error",
        "tools[0].type",
    ),
    (
        "tool bad name",
        chat(tools=[{"type": "function", "function": {"name": "get weather"}}]),
        400,
        "invalid_request_error",
        "name",
    ),
    (
        "tool parameters not an object schema",
        chat(
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]
        ),
        400,
        "invalid_request_error",
        "parameters",
    ),
    (
        "response_format unknown",
        chat(response_format={"type": "xml"}),
        400,
        "invalid_request_error",
        "response_format",
    ),
    (
        "over the context window",
        chat(
            model="moonshot-v1-8k",
            max_tokens=8190,
            messages=[{"role": "user", "content": "x" * 100}],
        ),
        400,
        "invalid_request_error",
        "exceeded model token limit: 8192",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "error_type", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rejections(
    kimi: Emulator, body: dict[str, Any] | bytes, status: int, error_type: str, fragment: str
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {**kimi_headers(), "content-type": "application/json"}
    response = kimi.http.post(kimi.v1 + "/chat/completions", content=content, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"type", "message"}  # Moonshot sends no param/code
    assert payload["error"]["type"] == error_type
    assert fragment in payload["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "sk-emu-kimi"},
        {"x-api-key": "sk-emu-kimi"},
    ],
    ids=["none", "wrong key", "no scheme", "anthropic style"],
)
def test_bad_key_is_401(kimi: Emulator, headers: dict[str, str]) -> None:
    for method, path in (("POST", "/chat/completions"), ("GET", "/models")):
        response = kimi.http.request(method, kimi.v1 + path, json=chat(), headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "error": {"type": "invalid_authentication_error", "message": "Invalid Authentication"}
        }


def test_non_json_content_type_is_refused(kimi: Emulator) -> None:
    headers = {**kimi_headers(), "content-type": "text/plain"}
    response = kimi.http.post(
        kimi.v1 + "/chat/completions", content=orjson.dumps(chat()), headers=headers
    )
    assert response.status_code == 400
    assert "Content-Type" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        chat(temperature=1, n=5),
        chat(temperature=0.3, n=2),
        chat(tool_choice="none", tools=[WEATHER_TOOL]),
        chat(
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            tools=[WEATHER_TOOL],
        ),
        chat(unknown_field=1, seed=3),  # OpenAI-compatible: unknown fields are ignored
        chat(
            messages=[
                {"role": "system", "content": [{"type": "text", "text": "s"}]},
                {"role": "user", "content": "x"},
            ]
        ),
        user([{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": PNG}}]),
        chat(
            messages=[
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "pre", "partial": True},
            ]
        ),
        chat(
            messages=[
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": CALL["id"], "content": "r"},
            ]
        ),
        chat(
            stop="END",
            stream_options={"include_usage": True},
            response_format={"type": "json_object"},
        ),
    ],
    ids=[
        "n5",
        "n2 warm",
        "tool none",
        "named tool",
        "unknown fields",
        "system parts",
        "image",
        "partial",
        "tool round",
        "misc",
    ],
)
def test_valid_requests_pass(kimi: Emulator, body: dict[str, Any]) -> None:
    response = kimi.http.post(kimi.v1 + "/chat/completions", json=body, headers=kimi_headers())
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"


def test_unknown_path_is_a_json_404(kimi: Emulator) -> None:
    response = kimi.http.get(kimi.v1 + "/files/nope", headers=kimi_headers())
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "resource_not_found_error"
