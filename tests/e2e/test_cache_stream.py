"""Streams and the cache: stored when complete, replayed as a valid SSE stream through
the openai SDK, interchangeable with non-stream entries; a cut stream is not stored."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.e2e.limits_support import chat, nonce, oai


@pytest.fixture
def gw(make_gateway, store_url):
    return make_gateway(extra="cache: {mode: deterministic}", redis_url=store_url)


def req(model: str = "claude-opus") -> dict:
    return {"model": model, "temperature": 0,
            "messages": [{"role": "user", "content": f"stream and cache {nonce()} please"}]}


def sse_events(gw, body: dict) -> tuple[httpx.Response, list[str]]:
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=10) as r:
        r.read()
    data = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    return r, data


@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_completed_stream_is_stored_and_replayed(gw, kimi, claude, model):
    body = req(model)
    c = oai(gw)
    with c.chat.completions.with_streaming_response.create(
            **body, stream=True, stream_options={"include_usage": True}) as resp:
        assert resp.headers["x-gateway-cache"] == "miss"
        first = list(resp.parse())
    with c.chat.completions.with_streaming_response.create(
            **body, stream=True, stream_options={"include_usage": True}) as resp:
        assert resp.headers["x-gateway-cache"] == "hit"
        replay = list(resp.parse())
    emu = claude if model == "claude-opus" else kimi
    assert len(emu.control.requests) == 1

    def text(chunks) -> str:
        return "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text(replay) == text(first) and "stream and cache" in text(replay)
    assert replay[0].choices[0].delta.role == "assistant"
    assert [ch.choices[0].finish_reason for ch in replay if ch.choices][-1] == "stop"
    assert replay[-1].choices == [] and replay[-1].usage is not None
    assert replay[-1].usage.model_dump() == first[-1].usage.model_dump()
    assert all(ch.usage is None for ch in replay[:-1])
    assert len({ch.id for ch in replay}) == 1
    # On the wire: every data line is JSON, then [DONE]; no usage chunk unless asked.
    r, data = sse_events(gw, {**body, "stream": True})
    assert r.headers["x-gateway-cache"] == "hit"
    assert r.headers["content-type"].startswith("text/event-stream")
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(ch["object"] == "chat.completion.chunk" and ch["choices"] for ch in chunks)


def test_stream_and_non_stream_share_entries(gw, claude):
    c = oai(gw)
    a = req()
    streamed = list(c.chat.completions.create(**a, stream=True))
    whole = c.chat.completions.with_raw_response.create(**a)
    assert whole.headers["x-gateway-cache"] == "hit"
    assert whole.parse().choices[0].message.content == "".join(
        ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
    assert whole.parse().usage.total_tokens > 0

    b = req()
    first = c.chat.completions.create(**b)
    with c.chat.completions.with_streaming_response.create(**b, stream=True) as resp:
        assert resp.headers["x-gateway-cache"] == "hit"
        replay = list(resp.parse())
    assert "".join(ch.choices[0].delta.content or "" for ch in replay if ch.choices) == \
        first.choices[0].message.content
    assert len(claude.control.requests) == 2


@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_stream_cut_short_is_not_stored(gw, kimi, claude, model):
    emu = claude if model == "claude-opus" else kimi
    body = req(model)
    emu.control.fault_next("reset_mid_stream", after_chunks=2)
    with pytest.raises(openai.APIError):
        list(oai(gw).chat.completions.create(**body, stream=True))
    r = chat(gw, "any", body)
    assert r.headers["x-gateway-cache"] == "miss"
    assert len(emu.control.requests) == 2


def test_client_leaving_mid_stream_stores_nothing(gw, claude):
    claude.control.chunk_delay = 0.05
    body = {**req(), "messages": [{"role": "user", "content": " ".join(["word"] * 40) + nonce()}]}
    stream = oai(gw).chat.completions.create(**body, stream=True)
    next(iter(stream))
    stream.close()
    assert claude.control.wait_for(lambda c: c.active_streams == 0)
    claude.control.chunk_delay = 0
    assert chat(gw, "any", body).headers["x-gateway-cache"] == "miss"
