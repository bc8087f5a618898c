"""POST /v1/responses through the official openai SDK, on Kimi, Claude and auto."""

from __future__ import annotations

import json

import httpx
import pytest

from .support import MODELS, client, strict_event, strict_response


@pytest.mark.parametrize("model", MODELS)
def test_create_returns_a_valid_response(gateway, model):
    raw = client(gateway).responses.with_raw_response.create(
        model=model, instructions="Be brief.", input="hello there")
    r = raw.parse()
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert "hello there" in r.output_text
    assert r.output[-1].type == "message" and r.output[-1].content[0].type == "output_text"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.instructions == "Be brief."
    strict_response(raw.http_response.json())
    assert raw.headers["x-gateway-provider"] in ("kimi", "claude")


@pytest.mark.parametrize("model", MODELS)
def test_stream_rebuilds_the_answer_and_every_event_is_an_sdk_type(gateway, model):
    with httpx.stream("POST", gateway.url + "/v1/responses", timeout=10, json={
            "model": model, "input": "stream me please", "stream": True}) as r:
        assert r.status_code == 200
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for e in events:
        strict_event(e)
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for t in ("response.output_item.added", "response.content_part.added",
              "response.output_text.delta", "response.output_text.done",
              "response.content_part.done", "response.output_item.done"):
        assert t in types
    with client(gateway).responses.stream(model=model, input="stream me please") as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert final.output_text == "".join(deltas) and "stream me please" in final.output_text
    assert final.status == "completed" and final.usage.output_tokens > 0
