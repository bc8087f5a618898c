"""The Responses surface goes through the chat pipeline: routing and policies on its
own features, explain, metrics with surface="responses", errors in OpenAI's shape."""

from __future__ import annotations

import httpx
import openai
import pytest

from .support import client

ZH = "请用两句话总结一下印刷术的历史，并说明它对欧洲的影响。"


def test_language_routes_and_pii_policy_applies(gateway, kimi):
    c = client(gateway)
    r = c.responses.with_raw_response.create(model="auto", input=ZH)
    assert (r.headers["x-gateway-route"], r.headers["x-gateway-provider"]) == ("chinese", "kimi")
    before = len(kimi.control.requests)
    # The PII is only in a tool output: the policy still keeps it off Kimi.
    r = c.responses.with_raw_response.create(model="auto", input=[
        {"role": "user", "content": ZH},
        {"type": "function_call", "call_id": "c1", "name": "crm", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1",
         "output": "zhang.wei@example.com 13812345678"}],
        tools=[{"type": "function", "name": "crm", "parameters": {"type": "object"}}])
    assert (r.headers["x-gateway-route"], r.headers["x-gateway-provider"]) == ("chinese", "claude")
    assert len(kimi.control.requests) == before


@pytest.mark.parametrize("text", [ZH, "hello", ZH + " 4111 1111 1111 1111"])
def test_explain_accepts_a_responses_body(gateway, text):
    body = {"model": "auto", "input": [{"role": "user", "content": text}]}
    ex = httpx.post(gateway.url + "/v1/gateway/route", json=body).json()
    r = client(gateway).responses.with_raw_response.create(**body)
    assert (ex["rule"], ex["provider"]) == (r.headers["x-gateway-route"],
                                            r.headers["x-gateway-provider"])
    assert ex["features"]["tokens"] > 0


def test_metrics_count_the_responses_surface(gateway):
    client(gateway).responses.create(model="kimi-k2", input="count me")
    text = httpx.get(gateway.url + "/metrics").text
    assert any(line.startswith("gateway_requests_total{") and 'surface="responses"' in line
               for line in text.splitlines()), text[:2000]


def test_errors_are_in_openais_shape(gateway):
    c = client(gateway)
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="kimi-k2", input=[{"type": "bogus_item"}])
    assert "bogus_item" in e.value.message and e.value.body["param"] == "input[0].type"
    with pytest.raises(openai.BadRequestError, match="background"):
        c.responses.create(model="kimi-k2", input="x", background=True)
    with pytest.raises(openai.NotFoundError):
        c.responses.create(model="nope", input="x")
    r = httpx.post(gateway.url + "/v1/responses", json={"model": "kimi-k2"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"


@pytest.mark.parametrize("emu, model, fault", [("claude", "claude-opus", "error_event_mid_stream"),
                                                ("kimi", "kimi-k2", "reset_mid_stream")])
def test_a_stream_that_breaks_ends_with_error_and_response_failed(gateway, kimi, claude, emu,
                                                                   model, fault):
    import json

    from .support import strict_event
    (claude if emu == "claude" else kimi).control.fault_next(fault, after_chunks=4)
    with httpx.stream("POST", gateway.url + "/v1/responses", timeout=10, json={
            "model": model, "stream": True,
            "input": "a long enough answer to have many chunks " * 3}) as r:
        events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for e in events:
        strict_event(e)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1]["response"]["status"] == "failed"
    assert any(e["type"] == "response.output_text.delta" for e in events)
    # The SDK's stream helper raises on it instead of returning a half answer.
    with pytest.raises(openai.APIError):
        (claude if emu == "claude" else kimi).control.fault_next(fault, after_chunks=4)
        with client(gateway).responses.stream(
                model=model, input="a long enough answer to have many chunks " * 3) as s:
            s.get_final_response()


@pytest.mark.parametrize("model", ["kimi-k2", "claude-opus"])
def test_cache_hits_serve_the_same_response_whole_and_streamed(gateway, model):
    import json

    from .support import strict_event, strict_response
    c = client(gateway)
    body = {"model": model, "input": "cache this answer", "temperature": 0}
    first = c.responses.with_raw_response.create(**body)
    again = c.responses.with_raw_response.create(**body)
    assert (first.headers["x-gateway-cache"], again.headers["x-gateway-cache"]) == ("miss", "hit")
    assert again.http_response.json() == first.http_response.json()
    strict_response(again.http_response.json())
    # The same body streamed is a hit too (the cache key leaves `stream` out): the
    # stored response replayed as the event sequence that would have built it.
    with httpx.stream("POST", gateway.url + "/v1/responses", timeout=10,
                      json={**body, "stream": True}) as r:
        assert r.headers["x-gateway-cache"] == "hit"
        hit = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    for e in hit:
        strict_event(e)
    assert [e["sequence_number"] for e in hit] == list(range(len(hit)))
    text = "".join(e["delta"] for e in hit if e["type"] == "response.output_text.delta")
    assert text == first.parse().output_text
    assert hit[-1]["type"] == "response.completed"
    assert hit[-1]["response"]["id"] == first.parse().id


def test_access_log_line_and_log_prompts(make_gateway):
    import logging
    import time

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.INFO)
            self.recs: list[dict] = []

        def emit(self, record: logging.LogRecord) -> None:
            if hasattr(record, "access"):
                self.recs.append(record.access)

    # A handler of its own on the access logger: other tests' logging setups (which
    # may stop propagation to the root) cannot hide the line from it.
    keep, logger = Keep(), logging.getLogger("gateway.access")
    level = logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    try:
        gw = make_gateway(log_prompts=True)
        client(gw).responses.create(model="kimi-k2", input="log my words")
        deadline = time.monotonic() + 5
        while not keep.recs and time.monotonic() < deadline:
            time.sleep(0.02)  # the line follows the response
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
    rec = keep.recs[-1]
    assert rec["surface"] == "responses" and rec["status"] == 200
    assert rec["prompt"] == "log my words"

@pytest.mark.parametrize("stream", [False, True])
def test_fallback_from_a_failing_kimi_to_claude(gateway, kimi, claude, stream):
    kimi.control.fail_next(503)
    c = client(gateway)
    if stream:
        with c.responses.with_streaming_response.create(model="auto", input=ZH,
                                                        stream=True) as r:
            headers = r.headers
            body = r.read().decode()
        assert "response.completed" in body
    else:
        r = c.responses.with_raw_response.create(model="auto", input=ZH)
        headers = r.headers
    assert (headers["x-gateway-route"], headers["x-gateway-provider"]) == ("chinese", "claude")
    assert headers["x-gateway-attempts"] == "2"


def test_rate_limits_apply_in_openais_shape(make_gateway):
    gw = make_gateway(keys="keys:\n  - {name: a, key: sk-a, policy: open, limits: {rpm: 2}}\n")
    c = client(gw, api_key="sk-a")
    for _ in range(2):
        c.responses.create(model="kimi-k2", input="hi", store=False)
    with pytest.raises(openai.RateLimitError) as e:
        c.responses.create(model="kimi-k2", input="hi", store=False)
    assert "rpm" in e.value.message and e.value.response.headers.get("retry-after")


def test_prompt_cache_key_sets_claudes_cache_breakpoints(gateway, claude, kimi):
    c = client(gateway)
    body = {"model": "claude-opus", "instructions": "You are a coding agent. " * 50,
            "input": "list the files", "prompt_cache_key": "session-1", "store": False,
            "tools": [{"type": "function", "name": "exec_command",
                       "parameters": {"type": "object", "properties": {
                           "cmd": {"type": "string"}}}}]}
    first = c.responses.create(**body)
    sent = claude.control.last_request.json
    assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert sent["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert sent["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    second = c.responses.create(**body)
    assert first.usage.input_tokens_details.cached_tokens == 0
    assert first.usage.input_tokens_details.cache_write_tokens > 0
    assert second.usage.input_tokens_details.cached_tokens > 0
    # Without the key nothing is marked; Kimi never gets markers.
    c.responses.create(**{**body, "prompt_cache_key": None})
    assert "cache_control" not in str(claude.control.last_request.json)
    c.responses.create(**{**body, "model": "kimi-k2"})
    assert "cache_control" not in str(kimi.control.last_request.json)
