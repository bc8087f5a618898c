"""Every refusal of the Anthropic emulator: status, Anthropic's error shape, message."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gateway.emulators.anthropic_content import sign_thinking

from .conftest import CLAUDE_KEY, CLAUDE_MODEL, Emulator, claude_headers

TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
USE = {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_01", "content": "22C"}
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def msg(**fields: Any) -> dict[str, Any]:
    return {
        "model": CLAUDE_MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }


def conv(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return msg(messages=list(messages), **fields)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def image(source: dict[str, Any]) -> dict[str, Any]:
    return {"type": "image", "source": source}


E400 = "invalid_request_error"
CASES: list[tuple[str, dict[str, Any] | bytes, int, str, str]] = [
    ("body not json", b"{nope", 400, E400, "JSON"),
    ("unknown field n", msg(n=2), 400, E400, "n: Extra inputs are not permitted"),
    (
        "unknown field response_format",
        msg(response_format={"type": "json_object"}),
        400,
        E400,
        "response_format: Extra inputs",
    ),
    (
        "unknown field stream_options",
        msg(stream_options={}),
        400,
        E400,
        "stream_options: Extra inputs",
    ),
    (
        "model missing",
        {"max_tokens": 5, "messages": [user("x")]},
        400,
        E400,
        "model: Field required",
    ),
    ("unknown model", msg(model="claude-9"), 404, "not_found_error", "model: claude-9"),
    (
        "max_tokens missing",
        {"model": CLAUDE_MODEL, "messages": [user("x")]},
        400,
        E400,
        "max_tokens: Field required",
    ),
    ("max_tokens a string", msg(max_tokens="5"), 400, E400, "valid integer"),
    ("max_tokens a float", msg(max_tokens=5.5), 400, E400, "valid integer"),
    ("max_tokens negative", msg(max_tokens=-1), 400, E400, "greater than or equal"),
    ("max_tokens over the limit", msg(max_tokens=64001), 400, E400, "64001 > 64000"),
    (
        "max_tokens over opus-4-1 limit",
        msg(model="claude-opus-4-1", max_tokens=32001),
        400,
        E400,
        "32001 > 32000",
    ),
    ("messages empty", msg(messages=[]), 400, E400, "at least one message"),
    ("messages not a list", msg(messages="hi"), 400, E400, "messages"),
    (
        "tool role",
        conv({"role": "tool", "content": "be nice"}, user("x")),
        400,
        E400,
        "messages.0.role: Input should be 'user', 'assistant' or 'system'",
    ),
    (
        "only a system turn",
        conv({"role": "system", "content": "be nice"}),
        400,
        E400,
        "at least one user or assistant message",
    ),
    (
        "system turn with an image",
        conv(user("x"), {"role": "system", "content": [image(PNG)]}),
        400,
        E400,
        "messages.1.content.0.type: Input should be 'text'",
    ),
    (
        "blank system turn",
        conv(user("x"), {"role": "system", "content": "  "}),
        400,
        E400,
        "non-whitespace",
    ),
    (
        "extra key in a message",
        conv({"role": "user", "content": "x", "name": "bob"}),
        400,
        E400,
        "messages.0.name: Extra inputs",
    ),
    ("content missing", conv({"role": "user"}), 400, E400, "messages.0.content: Field required"),
    ("content a number", conv(user(5)), 400, E400, "messages.0.content"),
    ("empty string content", conv(user("")), 400, E400, "non-empty content"),
    (
        "empty block list",
        conv(user([]), assistant("a"), user("b")),
        400,
        E400,
        "messages.0: all messages must have non-empty content",
    ),
    ("empty text block", conv(user([{"type": "text", "text": ""}])), 400, E400, "non-whitespace"),
    (
        "whitespace text block",
        conv(user([{"type": "text", "text": "  \n"}])),
        400,
        E400,
        "non-whitespace",
    ),
    (
        "final assistant trailing space",
        conv(user("x"), assistant("Sure ")),
        400,
        E400,
        "trailing whitespace",
    ),
    (
        "unknown block type",
        conv(user([{"type": "video", "url": "x"}])),
        400,
        E400,
        "Input tag 'video'",
    ),
    (
        "image media type",
        conv(user([image({**PNG, "media_type": "image/bmp"})])),
        400,
        E400,
        "media_type",
    ),
    ("image bad base64", conv(user([image({**PNG, "data": "@@@"})])), 400, E400, "base64"),
    (
        "image unknown source",
        conv(user([image({"type": "path", "path": "/x"})])),
        400,
        E400,
        "'base64', 'url'",
    ),
    ("image url missing", conv(user([image({"type": "url"})])), 400, E400, "url"),
    (
        "image in assistant",
        conv(user("x"), assistant([image(PNG)]), user("y")),
        400,
        E400,
        "`image` blocks can only be in `user` messages",
    ),
    (
        "tool_use in user",
        conv(user([USE])),
        400,
        E400,
        "`tool_use` blocks can only be in `assistant` messages",
    ),
    (
        "tool_use id pattern",
        conv(
            user("x"),
            assistant([{**USE, "id": "functions.get_weather:0"}]),
            user([{**RESULT, "tool_use_id": "toolu_01"}]),
        ),
        400,
        E400,
        "String should match pattern '^[a-zA-Z0-9_-]+$'",
    ),
    (
        "tool_result id pattern",
        conv(user("x"), assistant([USE]), user([{**RESULT, "tool_use_id": "a:b"}])),
        400,
        E400,
        "tool_use_id: String should match",
    ),
    (
        "tool_use input not a dict",
        conv(user("x"), assistant([{**USE, "input": "{}"}]), user([RESULT])),
        400,
        E400,
        "valid dictionary",
    ),
    (
        "tool_use unanswered",
        conv(user("x"), assistant([USE]), user("thanks")),
        400,
        E400,
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_01",
    ),
    (
        "tool_result for another id",
        conv(user("x"), assistant([USE]), user([RESULT, {**RESULT, "tool_use_id": "toolu_99"}])),
        400,
        E400,
        "unexpected `tool_use_id` found in `tool_result` blocks: toolu_99",
    ),
    (
        "tool_result without tool_use",
        conv(user([RESULT])),
        400,
        E400,
        "previous message does not contain any `tool_use` blocks",
    ),
    (
        "text before tool_result",
        conv(user("x"), assistant([USE]), user([{"type": "text", "text": "here"}, RESULT])),
        400,
        E400,
        "must come first",
    ),
    (
        "duplicate tool_use ids",
        conv(user("x"), assistant([USE]), user([RESULT]), assistant([USE]), user([RESULT])),
        400,
        E400,
        "must be unique",
    ),
    (
        "tool_result is_error not bool",
        conv(user("x"), assistant([USE]), user([{**RESULT, "is_error": "yes"}])),
        400,
        E400,
        "is_error",
    ),
    (
        "temperature above 1",
        msg(temperature=1.2),
        400,
        E400,
        "temperature: Input should be less than or equal to 1",
    ),
    ("temperature negative", msg(temperature=-1), 400, E400, "temperature"),
    (
        "temperature and top_p together",
        msg(temperature=0.5, top_p=0.9),
        400,
        E400,
        "cannot both be specified",
    ),
    ("top_k negative", msg(top_k=-1), 400, E400, "top_k"),
    ("stop_sequences a string", msg(stop_sequences="END"), 400, E400, "stop_sequences"),
    ("stop_sequences whitespace", msg(stop_sequences=[" "]), 400, E400, "non-whitespace"),
    (
        "metadata extra key",
        msg(metadata={"user_id": "u", "team": "a"}),
        400,
        E400,
        "metadata.team: Extra inputs",
    ),
    ("stream not a bool", msg(stream=1), 400, E400, "stream"),
    ("system a number", msg(system=5), 400, E400, "system"),
    (
        "system empty text block",
        msg(system=[{"type": "text", "text": ""}]),
        400,
        E400,
        "non-whitespace",
    ),
    (
        "cache_control type",
        conv(user([{"type": "text", "text": "x", "cache_control": {"type": "forever"}}])),
        400,
        E400,
        "ephemeral",
    ),
    (
        "tool without input_schema",
        msg(tools=[{"name": "f"}]),
        400,
        E400,
        "input_schema: Field required",
    ),
    (
        "tool schema not an object",
        msg(tools=[{"name": "f", "input_schema": {"type": "array"}}]),
        400,
        E400,
        "input_schema.type: Input should be 'object'",
    ),
    (
        "tool bad name",
        msg(tools=[{"name": "get weather", "input_schema": {"type": "object"}}]),
        400,
        E400,
        "name: String should match",
    ),
    ("tool names repeat", msg(tools=[TOOL, TOOL]), 400, E400, "Tool names must be unique"),
    (
        "tool unknown type",
        msg(tools=[{"type": "function", "function": {}}]),
        400,
        E400,
        "Input tag 'function'",
    ),
    (
        "tool_choice unknown type",
        msg(tools=[TOOL], tool_choice={"type": "required"}),
        400,
        E400,
        "tool_choice",
    ),
    ("tool_choice OpenAI string", msg(tools=[TOOL], tool_choice="auto"), 400, E400, "tool_choice"),
    (
        "tool_choice tool without name",
        msg(tools=[TOOL], tool_choice={"type": "tool"}),
        400,
        E400,
        "tool_choice.tool.name: Field required",
    ),
    (
        "tool_choice unknown tool",
        msg(tools=[TOOL], tool_choice={"type": "tool", "name": "nope"}),
        400,
        E400,
        "nope",
    ),
    (
        "tool_choice without tools",
        msg(tool_choice={"type": "any"}),
        400,
        E400,
        "while providing tools",
    ),
    (
        "tool_choice extra key",
        msg(tools=[TOOL], tool_choice={"type": "auto", "name": "x"}),
        400,
        E400,
        "tool_choice.auto.name: Extra inputs",
    ),
    (
        "thinking budget too small",
        msg(max_tokens=5000, thinking={"type": "enabled", "budget_tokens": 500}),
        400,
        E400,
        "greater than or equal to 1024",
    ),
    (
        "thinking budget not below max_tokens",
        msg(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 2000}),
        400,
        E400,
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    ),
    (
        "thinking with temperature",
        msg(max_tokens=5000, temperature=0.5, thinking={"type": "enabled", "budget_tokens": 1024}),
        400,
        E400,
        "temperature",
    ),
    (
        "thinking with forced tool",
        msg(
            max_tokens=5000,
            tools=[TOOL],
            tool_choice={"type": "any"},
            thinking={"type": "enabled", "budget_tokens": 1024},
        ),
        400,
        E400,
        "forces tool use",
    ),
    ("thinking unknown type", msg(thinking={"type": "deep"}), 400, E400, "thinking"),
    ("service_tier unknown", msg(service_tier="priority"), 400, E400, "service_tier"),
]


def post(
    claude: Emulator, body: dict[str, Any] | bytes, path: str = "/v1/messages", **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    all_headers = {**claude_headers(), "content-type": "application/json", **headers}
    return claude.http.post(claude.url + path, content=content, headers=all_headers)


def assert_error(response: httpx.Response, status: int, error_type: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["type"] == "error"
    assert set(payload) == {"type", "error", "request_id"}
    assert payload["error"]["type"] == error_type
    assert fragment in payload["error"]["message"]
    # The id in the body is the one in the header.
    assert payload["request_id"] == response.headers["request-id"]
    assert payload["request_id"].startswith("req_")


@pytest.mark.parametrize(
    ("body", "status", "error_type", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rejections(
    claude: Emulator, body: dict[str, Any] | bytes, status: int, error_type: str, fragment: str
) -> None:
    assert_error(post(claude, body), status, error_type, fragment)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"x-api-key": ""}, "invalid x-api-key"),
        ({"x-api-key": "sk-ant-wrong"}, "invalid x-api-key"),
        ({"x-api-key": "", "authorization": "Bearer sk-ant-wrong"}, "invalid x-api-key"),
    ],
)
def test_bad_key_is_401(claude: Emulator, headers: dict[str, str], fragment: str) -> None:
    assert_error(post(claude, msg(), **headers), 401, "authentication_error", fragment)


def test_missing_key_is_401(claude: Emulator) -> None:
    response = claude.http.post(
        claude.url + "/v1/messages", json=msg(), headers={"anthropic-version": "2023-06-01"}
    )
    assert_error(response, 401, "authentication_error", "x-api-key header is required")


def test_bearer_key_is_accepted(claude: Emulator) -> None:
    headers = {"authorization": f"Bearer {CLAUDE_KEY}", "anthropic-version": "2023-06-01"}
    assert (
        claude.http.post(claude.url + "/v1/messages", json=msg(), headers=headers).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("version", "fragment"), [(None, "header is required"), ("2020-01-01", "invalid version")]
)
def test_anthropic_version(claude: Emulator, version: str | None, fragment: str) -> None:
    headers = {"x-api-key": CLAUDE_KEY}
    if version:
        headers["anthropic-version"] = version
    response = claude.http.post(claude.url + "/v1/messages", json=msg(), headers=headers)
    assert_error(response, 400, E400, fragment)


def test_non_json_content_type(claude: Emulator) -> None:
    assert_error(
        post(claude, orjson.dumps(msg()), **{"content-type": "text/plain"}),
        400,
        E400,
        "Content-Type",
    )


def test_count_tokens_refuses_what_create_needs_not(claude: Emulator) -> None:
    body = {"model": CLAUDE_MODEL, "messages": [user("x")], "max_tokens": 5}
    assert_error(
        post(claude, body, "/v1/messages/count_tokens"), 400, E400, "max_tokens: Extra inputs"
    )
    assert_error(
        post(claude, {"model": "claude-0", "messages": [user("x")]}, "/v1/messages/count_tokens"),
        404,
        "not_found_error",
        "claude-0",
    )


@pytest.mark.parametrize(
    "body",
    [
        msg(max_tokens=0),
        msg(
            temperature=1,
            top_k=5,
            stop_sequences=["END"],
            metadata={"user_id": "u1"},
            service_tier="auto",
        ),
        msg(model="claude-sonnet-4-0", temperature=0.5, top_p=0.9),  # older models take both
        msg(
            system=[
                {
                    "type": "text",
                    "text": "be brief",
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                }
            ]
        ),
        conv(user("x"), user("y")),  # consecutive turns are merged, not refused
        conv(
            user("x"), assistant([USE]), user([RESULT]), user("and then?")
        ),  # merged into one turn
        conv(
            user("x"),
            assistant([USE, {**USE, "id": "toolu_02"}]),
            user(
                [
                    RESULT,
                    {
                        **RESULT,
                        "tool_use_id": "toolu_02",
                        "content": [{"type": "text", "text": "r"}],
                        "is_error": True,
                    },
                ]
            ),
        ),
        conv(
            user(
                [
                    {"type": "text", "text": "see"},
                    image(PNG),
                    image({"type": "url", "url": "https://example.com/a.png"}),
                ]
            )
        ),
        conv(user("x"), assistant("The answer is (")),  # a prefill
        conv(
            user("x"),
            assistant(
                [
                    # Signed by the emulator for this text, as Anthropic's are.
                    {"type": "thinking", "thinking": "t", "signature": sign_thinking("t")},
                    {"type": "text", "text": "a"},
                ]
            ),
            user("y"),
        ),
        msg(max_tokens=5000, thinking={"type": "enabled", "budget_tokens": 1024}, temperature=1),
        msg(thinking={"type": "adaptive"}),
        msg(
            tools=[TOOL, {"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        ),
        msg(
            output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
            cache_control={"type": "ephemeral"},
        ),
    ],
    ids=[
        "max0",
        "sampling",
        "both samplers old model",
        "system blocks",
        "merged users",
        "merged result turn",
        "two results",
        "images",
        "prefill",
        "thinking block",
        "thinking",
        "adaptive",
        "server tool",
        "output_config",
    ],
)
def test_valid_requests_pass(claude: Emulator, body: dict[str, Any]) -> None:
    response = post(claude, body)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"


# -- thinking signatures and the tool loop, as strict as the API -----------------------

USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
WEATHER_TOOL = {"name": "get_weather", "input_schema": {"type": "object"}}
ENABLED = {"type": "enabled", "budget_tokens": 1024}


def thinking_history(block: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return conv(user("weather?"), assistant([block, USE]), user([RESULT]),
                tools=[WEATHER_TOOL], max_tokens=4000, **fields)


@pytest.mark.parametrize(("block", "why"), [
    ({"type": "thinking", "thinking": "t", "signature": "s"}, "made up"),
    ({"type": "thinking", "thinking": "edited", "signature": sign_thinking("t")}, "edited text"),
    ({"type": "thinking", "thinking": "t", "signature": "gwkimi1." + "0" * 64}, "not base64"),
    ({"type": "thinking", "thinking": "t",
      "signature": "c2lnbmF0dXJlIHRoYXQgaXMgbG9uZyBlbm91Z2ggdG8gbG9vayByZWFs"}, "not its own"),
])
def test_a_thinking_block_not_signed_for_its_text_is_refused(claude: Emulator, block, why):
    assert_error(post(claude, thinking_history(block)), 400, E400,
                 "Invalid `signature` in `thinking` block")


def test_a_signed_thinking_block_passes_and_a_reply_signs_its_own(claude: Emulator) -> None:
    r = post(claude, thinking_history({"type": "thinking", "thinking": "t",
                                       "signature": sign_thinking("t")}, thinking=ENABLED))
    assert r.status_code == 200, r.text
    made = next(b for b in r.json()["content"] if b["type"] == "thinking")
    again = thinking_history(made, thinking=ENABLED)
    assert post(claude, again).status_code == 200


def test_with_thinking_a_tool_loop_must_bring_its_thinking_block_back(claude: Emulator) -> None:
    body = conv(user("weather?"), assistant([USE]), user([RESULT]), tools=[WEATHER_TOOL],
                max_tokens=4000, thinking=ENABLED)
    assert_error(post(claude, body), 400, E400, "a final `assistant` message must start with "
                 "a thinking block")
    # Without thinking, or with a new user question, no block is needed.
    del body["thinking"]
    assert post(claude, body).status_code == 200
    body = conv(user("weather?"), assistant([USE]), user([RESULT]), assistant("Sunny."),
                user("and tomorrow?"), tools=[WEATHER_TOOL], max_tokens=4000, thinking=ENABLED)
    assert post(claude, body).status_code == 200
