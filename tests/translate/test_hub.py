"""The translation hub (``translate/hub.py``): every surface over every wire format,
through the methods the engine calls (``prepare``, ``response``, ``stream``).

The far ends are the emulators' own parts: each upstream body must pass the emulator's
validator (as strict as the real API, thinking signatures included), and each upstream
answer, whole or streamed, is the emulator's rendering of one reply. The near ends are
the SDKs' types and accumulators. Whichever surface and wire format, the client sees the
same answer (its text, its tool call), whole and streamed alike.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from gateway.config import ModelConfig
from gateway.emulators.anthropic import _Render as ClaudeRender
from gateway.emulators.anthropic_validate import DEFAULT_MODELS as CLAUDE_MODELS
from gateway.emulators.anthropic_validate import validate_create
from gateway.emulators.moonshot import _Render as KimiRender
from gateway.emulators.moonshot_validate import validate_chat
from gateway.emulators.replies import Reply, ToolCall
from gateway.sse import SSEEvent, SSEParser
from gateway.surfaces.anthropic import MessagesCodec
from gateway.surfaces.base import HubStream
from gateway.surfaces.openai import ChatCompletionsCodec
from gateway.surfaces.responses import ResponsesCodec
from gateway.translate.hub import CHAT_COMPLETIONS, MESSAGES, WIRE_FORMATS
from gateway.translate.params import Unsupported
from tests.responses.support import strict_event
from tests.translate.translate_helpers import (
    validate_anthropic_events,
    validate_chunks,
)

KIMI = ModelConfig(provider="moonshot-cn", upstream="kimi-k2-0905-preview",
                   context_window=262144)
KIMI_THINKING = ModelConfig(provider="moonshot-cn", upstream="kimi-k2-thinking",
                            context_window=262144)
CLAUDE = ModelConfig(provider="anthropic-eu", upstream="claude-opus-4-5", context_window=200000,
                     max_output_tokens=64000)
MODELS = {CHAT_COMPLETIONS: KIMI, MESSAGES: CLAUDE}
SURFACES = {"chat": ChatCompletionsCodec(), "messages": MessagesCodec(),
            "responses": ResponsesCodec()}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ASK = "What is the weather in Paris?"
BODIES: dict[str, dict[str, Any]] = {
    "chat": {"model": "m", "max_tokens": 300, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": ASK}],
        "tools": [{"type": "function", "function": {"name": "get_weather",
                                                    "parameters": SCHEMA}}]},
    "messages": {"model": "m", "max_tokens": 300, "system": "Be brief.",
                 "messages": [{"role": "user", "content": ASK}],
                 "tools": [{"name": "get_weather", "input_schema": SCHEMA}]},
    "responses": {"model": "m", "max_output_tokens": 300, "instructions": "Be brief.",
                  "input": ASK, "store": False,
                  "tools": [{"type": "function", "name": "get_weather", "parameters": SCHEMA}]},
}
REPLY = Reply("Let me check.", (ToolCall("get_weather", {"city": "Paris"}),), "tool_use",
              None, None, 12)
PAIRS = [(s, w) for s in SURFACES for w in (CHAT_COMPLETIONS, MESSAGES)]


def upstream_valid(wire: str, body: dict[str, Any]) -> None:
    """The emulator's validator for the wire format: a 400 there raises here."""
    if wire == MESSAGES:
        validate_create(body, CLAUDE_MODELS)
    else:
        validate_chat(body, (KIMI.upstream, KIMI_THINKING.upstream))


def whole_answer(wire: str, up_body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    if wire == MESSAGES:
        return ClaudeRender(up_body["model"], reply, 20, cached=None).message()
    return KimiRender(up_body, reply, 20).completion()


def stream_events(wire: str, up_body: dict[str, Any], reply: Reply) -> list[SSEEvent]:
    raw = (ClaudeRender(up_body["model"], reply, 20, cached=None).events() if wire == MESSAGES
           else KimiRender(up_body, reply, 20).chunks())
    parser = SSEParser()
    return [ev for part in raw for ev in parser.feed(part)]


def seen(surface: str, out: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """(text, tool calls) as the client sees them, from its own SDK's type."""
    if surface == "chat":
        msg = ChatCompletion.model_validate(out).choices[0].message
        return msg.content or "", [(c.function.name, json.loads(c.function.arguments))
                                   for c in msg.tool_calls or ()]
    if surface == "messages":
        m = Message.model_validate(out)
        return ("".join(b.text for b in m.content if b.type == "text"),
                [(b.name, b.input) for b in m.content if b.type == "tool_use"])
    r = Response.model_validate(out)
    return r.output_text, [(o.name, json.loads(o.arguments)) for o in r.output
                           if o.type == "function_call"]


def client_events(surface: str, data: bytes) -> list[Any]:
    events = SSEParser().feed(data)
    if surface == "chat":
        assert events[-1].data == "[DONE]" and all(e.event is None for e in events)
        return [json.loads(e.data) for e in events[:-1]]
    return [(e.event, json.loads(e.data)) for e in events]


def streamed(surface: str, events: list[Any]) -> dict[str, Any]:
    """The whole answer the client's SDK rebuilds from the stream."""
    if surface == "chat":
        return validate_chunks(events, include_usage=False).model_dump(mode="json")
    if surface == "messages":
        # Keep-alive pings (relayed from Anthropic) are no part of the message.
        real = [e for e in events if e[0] != "ping"]
        return validate_anthropic_events(real).model_dump(mode="json")
    for _, e in events:
        strict_event(e)
    assert events[-1][0] == "response.completed"
    return events[-1][1]["response"]


@pytest.mark.parametrize(("surface", "wire"), PAIRS)
def test_whole_answers_through_the_hub(surface: str, wire: str) -> None:
    s, model = SURFACES[surface], MODELS[wire]
    prep = s.prepare(BODIES[surface], model, wire, {}, Unsupported())
    upstream_valid(wire, prep.body)
    out = s.response(wire, whole_answer(wire, prep.body, REPLY), prep, model.upstream)
    assert seen(surface, out) == ("Let me check.", [("get_weather", {"city": "Paris"})])
    assert s.usage(out).output == 12


@pytest.mark.parametrize(("surface", "wire"), PAIRS)
def test_streams_through_the_hub(surface: str, wire: str) -> None:
    s, model = SURFACES[surface], MODELS[wire]
    body = {**BODIES[surface], "stream": True}
    prep = s.prepare(body, model, wire, {}, Unsupported())
    upstream_valid(wire, prep.body)
    tr = s.stream(wire, prep, model.upstream, body, "req-1", cacheable=True)
    out = b"".join(tr.feed(ev) for ev in stream_events(wire, prep.body, REPLY))
    assert tr.finished
    out += tr.close()
    whole = streamed(surface, client_events(surface, out))
    assert seen(surface, whole) == ("Let me check.", [("get_weather", {"city": "Paris"})])
    assert seen(surface, tr.assembled()) == seen(surface, whole)  # what the cache keeps
    assert tr.usage().output == 12


def test_messages_to_the_messages_wire_format_is_the_declared_shortcut() -> None:
    """Anthropic gets the client's body with only the model rewritten, and the client
    Anthropic's answer and events as they came (thinking, signatures and all)."""
    s = SURFACES["messages"]
    assert MESSAGES in s.shortcuts
    body = {**BODIES["messages"], "thinking": {"type": "enabled", "budget_tokens": 1024},
            "metadata": {"user_id": "u1"}}
    prep = s.prepare(body, CLAUDE, MESSAGES, {"anthropic-beta": "x"}, Unsupported())
    assert prep.body == {**body, "model": CLAUDE.upstream}
    assert prep.headers == {"anthropic-beta": "x"}
    thinking = Reply("Sunny.", thinking="Hmm.", output_tokens=3)
    answer = whole_answer(MESSAGES, prep.body, thinking)
    assert s.response(MESSAGES, answer, prep, CLAUDE.upstream) is answer
    tr = s.stream(MESSAGES, prep, CLAUDE.upstream, body, "req-1")
    assert not isinstance(tr, HubStream)
    raw = ClaudeRender(CLAUDE.upstream, thinking, 20, cached=None).events()
    parser = SSEParser()
    assert b"".join(tr.feed(ev) for part in raw for ev in parser.feed(part)) == b"".join(raw)


def test_wire_formats_are_named_by_what_they_speak() -> None:
    # The config's public spelling maps onto the code's names.
    assert WIRE_FORMATS == {"openai": CHAT_COMPLETIONS, "anthropic": MESSAGES}


@pytest.mark.parametrize("wire", [CHAT_COMPLETIONS, MESSAGES])
def test_upstream_failures_name_the_configured_provider(wire: str) -> None:
    s, model = SURFACES["chat"], MODELS[wire]
    prep = s.prepare(BODIES["chat"], model, wire, {}, Unsupported())
    with pytest.raises(Exception) as e:
        s.response(wire, {}, prep, model.upstream)
    assert e.value.provider == model.provider and model.provider in e.value.message


# -- signed reasoning through the hub (Responses <-> Claude, Kimi) -------------------------

# Room for a thinking budget: at most half of max_tokens, at least Anthropic's 1024.
SEALED = {"include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"},
          "max_output_tokens": 4000}


def _thinking_reply() -> Reply:
    return Reply("Let me check.", (ToolCall("get_weather", {"city": "Paris"}),), "tool_use",
                 None, "The user wants Paris.", 12)


def _answer(wire: str, body: dict[str, Any], stream: bool, model: ModelConfig) -> dict[str, Any]:
    s = SURFACES["responses"]
    body = {**body, "stream": True} if stream else body
    prep = s.prepare(body, model, wire, {}, Unsupported())
    upstream_valid(wire, prep.body)
    if not stream:
        return s.response(wire, whole_answer(wire, prep.body, _thinking_reply()), prep,
                          model.upstream)
    tr = s.stream(wire, prep, model.upstream, body, "req-1")
    out = b"".join(tr.feed(ev) for ev in stream_events(wire, prep.body, _thinking_reply()))
    return streamed("responses", client_events("responses", out + tr.close()))


@pytest.mark.parametrize("stream", [False, True])
def test_claudes_signed_thinking_round_trips_through_a_responses_client(stream: bool) -> None:
    body = {**BODIES["responses"], **SEALED}
    prep = SURFACES["responses"].prepare(body, CLAUDE, MESSAGES, {}, Unsupported())
    assert prep.body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    out = _answer(MESSAGES, body, stream, CLAUDE)
    reasoning, *_ = out["output"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["summary"] == [{"type": "summary_text", "text": "The user wants Paris."}]
    assert reasoning["encrypted_content"].startswith("gwrs1.")
    call = next(o for o in out["output"] if o["type"] == "function_call")
    items = [{"role": "user", "content": ASK}, *out["output"],
             {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]
    prep = SURFACES["responses"].prepare({**body, "input": items}, CLAUDE, MESSAGES, {},
                                         Unsupported())
    # The emulator's validator checks the signature against the text, and that the
    # tool-calling turn starts with its thinking block (thinking is still on).
    upstream_valid(MESSAGES, prep.body)
    assert prep.body["thinking"]["type"] == "enabled"
    turn = prep.body["messages"][1]["content"]
    assert turn[0]["type"] == "thinking" and turn[0]["thinking"] == "The user wants Paris."
    # The same items without their seals: thinking is off for this turn, not refused.
    for item in items:
        item.pop("encrypted_content", None)
    prep = SURFACES["responses"].prepare({**body, "input": items}, CLAUDE, MESSAGES, {},
                                         Unsupported())
    upstream_valid(MESSAGES, prep.body)
    assert "thinking" not in prep.body


@pytest.mark.parametrize("stream", [False, True])
def test_kimis_reasoning_round_trips_sealed(stream: bool) -> None:
    body = {**BODIES["responses"], **SEALED}
    out = _answer(CHAT_COMPLETIONS, body, stream, KIMI_THINKING)
    reasoning = out["output"][0]
    assert reasoning["encrypted_content"].startswith("gwrs1.")
    call = next(o for o in out["output"] if o["type"] == "function_call")
    items = [{"role": "user", "content": ASK}, *out["output"],
             {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]
    prep = SURFACES["responses"].prepare({**body, "input": items}, KIMI_THINKING,
                                         CHAT_COMPLETIONS, {}, Unsupported())
    upstream_valid(CHAT_COMPLETIONS, prep.body)  # the thinking model wants it back
    assistant = next(m for m in prep.body["messages"] if m["role"] == "assistant")
    assert assistant["reasoning_content"] == "The user wants Paris."
    assert "thinking_blocks" not in assistant
    # To Claude, Kimi's block (the gateway's signature) is never sent.
    prep = SURFACES["responses"].prepare({**body, "input": items}, CLAUDE, MESSAGES, {},
                                         Unsupported())
    upstream_valid(MESSAGES, prep.body)
    assert "The user wants" not in orjson.dumps(prep.body["messages"]).decode()


def test_without_include_no_seal_and_the_chat_surface_never_sees_the_hub_extensions() -> None:
    out = _answer(MESSAGES, {**BODIES["responses"], **SEALED, "include": []}, False, CLAUDE)
    assert out["output"][0]["encrypted_content"] is None
    chat = SURFACES["chat"]
    prep = chat.prepare({**BODIES["chat"], "reasoning_effort": "high"}, CLAUDE, MESSAGES, {},
                        Unsupported())
    assert "thinking" not in prep.body  # chat clients cannot bring signed blocks back
    answer = whole_answer(MESSAGES, prep.body, _thinking_reply())
    msg = chat.response(MESSAGES, answer, prep, CLAUDE.upstream)["choices"][0]["message"]
    assert msg["reasoning_content"] == "The user wants Paris." and "thinking_blocks" not in msg
