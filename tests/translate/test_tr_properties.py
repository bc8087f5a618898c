"""Property tests: translations never crash, keep every text, tool call and tool result,
and round-trip; streams reassemble to what was streamed."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.errors import BadRequest
from gateway.translate import (
    ChatStreamToMessages,
    ChatTranslation,
    MessagesStreamToChat,
    chat_to_kimi_request,
    chat_to_messages_request,
    from_safe_tool_id,
    messages_to_chat_request,
    to_safe_tool_id,
)
from tests.translate.translate_helpers import (
    TOOL_ID,
    assert_valid_anthropic_request,
    assert_valid_chat_request,
    validate_anthropic_events,
    validate_chunks,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
ARGS = st.dictionaries(st.text(max_size=8), JSON, max_size=4)
TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "\n\t", "hello", "你好", "a  "]))
TOOL_NAMES = st.sampled_from(["get_weather", "add", "search_docs"])
IMAGE = st.builds(
    lambda media, data: {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}},
    st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp"]),
    st.text(alphabet="ABCDEFGHabcdefgh0123456789+/", min_size=4, max_size=16),
)
URL_IMAGE = st.just({"type": "image_url", "image_url": {"url": "https://example.com/a.png"}})


def has_text(text: str) -> bool:
    return bool(text) and not text.isspace()


@st.composite
def conversations(draw: st.DrawFn, *, url_images: bool = True) -> dict[str, Any]:
    """Valid OpenAI chat requests: system/developer anywhere, user turns with text and
    images, assistant text, assistant tool calls (ids in Kimi's, OpenAI's and odd
    shapes) answered by tool messages; the conversation ends on a user turn."""
    images = st.one_of(IMAGE, URL_IMAGE) if url_images else IMAGE
    part = st.one_of(st.builds(lambda t: {"type": "text", "text": t}, TEXT), images)
    user_content = st.one_of(TEXT, st.lists(part, min_size=1, max_size=3))
    messages: list[dict[str, Any]] = []
    n_calls = 0
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            role = draw(st.sampled_from(["system", "developer"]))
            content = draw(
                st.one_of(
                    TEXT,
                    st.lists(
                        st.builds(lambda t: {"type": "text", "text": t}, TEXT),
                        min_size=1,
                        max_size=2,
                    ),
                )
            )
            messages.append({"role": role, "content": content})
        messages.append({"role": "user", "content": draw(user_content)})
        kind = draw(st.sampled_from(["none", "text", "tools"]))
        if kind == "text":
            messages.append({"role": "assistant", "content": draw(TEXT)})
        elif kind == "tools":
            calls = []
            for _ in range(draw(st.integers(1, 3))):
                name = draw(TOOL_NAMES)
                shape = draw(st.sampled_from(["kimi", "openai", "odd"]))
                cid = {
                    "kimi": f"functions.{name}:{n_calls}",
                    "openai": f"call_{n_calls}",
                    "odd": f"id {n_calls}/ü:+=",
                }[shape]
                n_calls += 1
                calls.append(
                    {
                        "id": cid,
                        "type": "function",
                        "function": {"name": name, "arguments": orjson.dumps(draw(ARGS)).decode()},
                    }
                )
            messages.append(
                {
                    "role": "assistant",
                    "content": draw(st.one_of(st.none(), TEXT)),
                    "tool_calls": calls,
                }
            )
            for c in calls:
                result = draw(
                    st.one_of(
                        TEXT,
                        st.lists(
                            st.builds(lambda t: {"type": "text", "text": t}, TEXT),
                            min_size=1,
                            max_size=2,
                        ),
                    )
                )
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": result})
    if draw(st.booleans()) or messages[-1]["role"] != "tool":
        # End on a user turn: a final assistant turn is a prefill, right-stripped.
        messages.append({"role": "user", "content": "go on"})
    body: dict[str, Any] = {"model": "auto", "messages": messages}
    if n_calls or draw(st.booleans()):
        body["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in ("get_weather", "add", "search_docs")
        ]
    return body


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content] if has_text(content) else []
    return [p["text"] for p in content or () if p.get("type") == "text" and has_text(p["text"])]


def openai_view(body: dict[str, Any]) -> dict[str, list[Any]]:
    """What must survive a translation, read from an OpenAI request."""
    view: dict[str, list[Any]] = {
        "system": [],
        "user": [],
        "assistant": [],
        "calls": [],
        "results": [],
        "images": [],
    }
    for m in body["messages"]:
        role = m["role"]
        if role in ("system", "developer"):
            view["system"] += _texts(m["content"])
        elif role == "user":
            view["user"] += _texts(m["content"])
            if isinstance(m["content"], list):
                view["images"] += [
                    p["image_url"]["url"] for p in m["content"] if p["type"] == "image_url"
                ]
        elif role == "assistant":
            view["assistant"] += _texts(m.get("content"))
            view["calls"] += [
                (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"] or "{}"))
                for c in m.get("tool_calls", ())
            ]
        elif role == "tool":
            view["results"].append((m["tool_call_id"], "\n".join(_texts(m["content"]))))
    return view


def anthropic_view(req: dict[str, Any]) -> dict[str, list[Any]]:
    system = req.get("system", [])
    view: dict[str, list[Any]] = {
        "system": [system] if isinstance(system, str) else [b["text"] for b in system],
        "user": [],
        "assistant": [],
        "calls": [],
        "results": [],
        "images": [],
    }
    for turn in req["messages"]:
        for b in turn["content"]:
            if b["type"] == "text":
                view[turn["role"]].append(b["text"])
            elif b["type"] == "image":
                src = b["source"]
                view["images"].append(
                    src["url"]
                    if src["type"] == "url"
                    else f"data:{src['media_type']};base64,{src['data']}"
                )
            elif b["type"] == "tool_use":
                view["calls"].append((from_safe_tool_id(b["id"]), b["name"], b["input"]))
            elif b["type"] == "tool_result":
                content = b.get("content", "")
                text = (
                    content if isinstance(content, str) else "\n".join(p["text"] for p in content)
                )
                view["results"].append((from_safe_tool_id(b["tool_use_id"]), text))
    return view


@SETTINGS
@given(conversations())
def test_openai_to_anthropic_keeps_everything(body: dict[str, Any]) -> None:
    try:
        out, _ = chat_to_messages_request(body, upstream_model="m", default_max_tokens=100)
    except BadRequest:
        assume(False)  # e.g. nothing but blank text: a clear 400 is the right answer
        return
    assert_valid_anthropic_request(out)
    assert anthropic_view(out) == openai_view(body)


@SETTINGS
@given(conversations(url_images=False))
def test_round_trip_openai_anthropic_openai(body: dict[str, Any]) -> None:
    try:
        anthropic, _ = chat_to_messages_request(body, upstream_model="m", default_max_tokens=100)
    except BadRequest:
        assume(False)
        return
    back, _ = messages_to_chat_request(anthropic, upstream_model="k")
    assert_valid_chat_request(back)
    before, after = openai_view(body), openai_view(back)
    # Text runs of one assistant turn come back joined as they read (a space between
    # runs that have none), system texts joined by newlines.
    assert "".join("".join(after["assistant"]).split()) == "".join(
        "".join(before["assistant"]).split())
    assert "\n".join(after["system"]) == "\n".join(before["system"])
    for key in ("user", "calls", "results", "images"):
        assert after[key] == before[key], key


@SETTINGS
@given(conversations())
def test_kimi_request_never_crashes(body: dict[str, Any]) -> None:
    try:
        out = chat_to_kimi_request(body, upstream_model="k")
    except BadRequest as exc:
        assert exc.param is not None and "image_url" in exc.param
        return
    assert out["messages"][: len(body["messages"])] == body["messages"]


FUZZ_MESSAGE = st.dictionaries(
    st.sampled_from(["role", "content", "tool_calls", "tool_call_id", "name"]),
    st.one_of(
        st.sampled_from(["system", "developer", "user", "assistant", "tool", "x"]),
        JSON,
        st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "type",
                        "text",
                        "image_url",
                        "id",
                        "function",
                        "source",
                        "tool_use_id",
                        "input",
                        "content",
                    ]
                ),
                st.one_of(
                    st.sampled_from(
                        ["text", "image_url", "image", "tool_use", "tool_result", "function"]
                    ),
                    JSON,
                ),
            ),
            max_size=3,
        ),
    ),
)
FUZZ_BODY = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"messages": st.lists(FUZZ_MESSAGE, max_size=4)},
        optional={
            k: JSON
            for k in (
                "tools",
                "tool_choice",
                "stop",
                "temperature",
                "max_tokens",
                "response_format",
                "system",
                "stream",
                "stream_options",
                "n",
                "metadata",
                "stop_sequences",
            )
        },
    ),
)


@settings(max_examples=500, deadline=None)
@given(FUZZ_BODY)
def test_garbage_in_only_bad_request_out(body: Any) -> None:
    for translate in (
        lambda b: chat_to_messages_request(b, upstream_model="m", default_max_tokens=10),
        lambda b: messages_to_chat_request(b, upstream_model="k"),
        lambda b: chat_to_kimi_request(b, upstream_model="k"),
    ):
        try:
            translate(body)
        except BadRequest as exc:
            assert exc.param and exc.message.startswith(exc.param)


@given(st.text())
def test_tool_ids_are_safe_and_reversible(tool_id: str) -> None:
    safe = to_safe_tool_id(tool_id)
    assert TOOL_ID.fullmatch(safe)
    assert from_safe_tool_id(safe) == tool_id
    assert to_safe_tool_id(safe) == safe or safe.startswith("gwid_")


@given(st.text(), st.text())
def test_tool_ids_do_not_collide(a: str, b: str) -> None:
    if a != b:
        assert to_safe_tool_id(a) != to_safe_tool_id(b)


# --- streams ------------------------------------------------------------------------------


def _split(text: str, cuts: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


BLOCK = st.one_of(
    st.tuples(
        st.just("text"), st.text(min_size=1, max_size=20), st.lists(st.integers(0, 50), max_size=4)
    ),
    st.tuples(
        st.just("tool"), st.tuples(TOOL_NAMES, ARGS), st.lists(st.integers(0, 50), max_size=4)
    ),
)


@SETTINGS
@given(
    st.lists(BLOCK, max_size=5),
    st.booleans(),
    st.sampled_from(["end_turn", "tool_use", "max_tokens"]),
)
def test_anthropic_stream_reassembles(blocks: list[Any], include_usage: bool, stop: str) -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "c",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 3, "output_tokens": 1},
                },
            },
        )
    ]
    expected_text, expected_calls = "", []
    for i, (kind, payload, cuts) in enumerate(blocks):
        if kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": t} for t in _split(payload, cuts)]
            expected_text += payload
        else:
            name, args = payload
            start = {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": t}
                for t in ["", *_split(orjson.dumps(args).decode(), cuts)]
            ]
            expected_calls.append((f"toolu_{i}", name, args))
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": start},
            )
        )
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
            for d in deltas
        ]
        events.append(("ping", {"type": "ping"}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    translator = MessagesStreamToChat(
        model="m",
        tr=ChatTranslation(),
        include_usage=include_usage,
        chunk_id="chatcmpl-x",
        created=1,
    )
    chunks = [c for name, data in events for c in translator.feed(name, data)]
    final = validate_chunks(chunks, include_usage=include_usage)
    message = final.choices[0].message
    assert (message.content or "") == expected_text
    calls = [
        (c.id, c.function.name, orjson.loads(c.function.arguments))
        for c in message.tool_calls or ()
    ]
    assert calls == expected_calls
    assert translator.usage["total_tokens"] == 12


@SETTINGS
@given(
    st.lists(BLOCK, max_size=5),
    st.booleans(),
    st.sampled_from(["stop", "tool_calls", "length", None]),
)
def test_openai_stream_reassembles(
    blocks: list[Any], usage_in_choice: bool, finish: str | None
) -> None:
    chunks: list[dict[str, Any]] = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    ]
    texts: list[str] = []
    expected_calls = []
    tool_index = 0
    for kind, payload, cuts in blocks:
        if kind == "text":
            texts.append(payload)
            chunks += [
                {"id": "c1", "choices": [{"index": 0, "delta": {"content": t}}]}
                for t in _split(payload, cuts)
            ]
        else:
            name, args = payload
            cid = f"functions.{name}:{tool_index}"
            parts = _split(orjson.dumps(args).decode(), cuts)
            chunks.append(
                {
                    "id": "c1",
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": tool_index,
                                        "id": cid,
                                        "type": "function",
                                        "function": {"name": name, "arguments": ""},
                                    }
                                ]
                            },
                        }
                    ],
                }
            )
            chunks += [
                {
                    "id": "c1",
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": tool_index, "function": {"arguments": p}}]
                            },
                        }
                    ],
                }
                for p in parts
            ]
            expected_calls.append((cid, name, args))
            tool_index += 1
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    if finish is not None:
        last = {"index": 0, "delta": {}, "finish_reason": finish}
        if usage_in_choice:
            last["usage"] = usage
        chunks.append({"id": "c1", "choices": [last]})
        if not usage_in_choice:
            chunks.append({"id": "c1", "choices": [], "usage": usage})
    translator = ChatStreamToMessages(model="m")
    events = [e for c in chunks for e in translator.feed(c)] + translator.finish()
    final = validate_anthropic_events(events)
    text_blocks = [b.text for b in final.content if b.type == "text"]  # type: ignore[union-attr]
    assert "".join(text_blocks) == "".join(texts)
    calls = [
        (from_safe_tool_id(b.id), b.name, b.input) for b in final.content if b.type == "tool_use"
    ]  # type: ignore[union-attr]
    assert calls == expected_calls
    if finish is not None:
        assert final.usage.input_tokens == 7 and final.usage.output_tokens == 3
