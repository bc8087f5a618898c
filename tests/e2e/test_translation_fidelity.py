"""Translation fidelity (issue 19), through the official SDKs against the gateway and
the emulators: nothing a provider sends is lost (cache replays included), nothing a
client asks for is dropped in silence."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from gateway.config import parse_config
from gateway.translate.reasoning import sign
from tests.e2e.limits_support import nonce
from tests.support.gateway_server import test_config_text as config_text

THINKING_MODEL = """
  kimi-think:
    provider: kimi
    upstream: kimi-k2-thinking
    context_window: 262144
"""


def make(make_gateway, kimi, claude, *, extra: str = "", keys: str = "",
         redis_url: str = "", model_extra: str = ""):
    """A gateway with a thinking Kimi model beside the usual ones."""
    text = config_text(kimi.url + "/v1", claude.url, extra, keys=keys)
    text = text.replace("models:\n", "models:\n" + THINKING_MODEL, 1)
    if model_extra:
        text = text.replace("    upstream: claude-opus-4-5\n",
                            "    upstream: claude-opus-4-5\n" + model_extra, 1)
    return make_gateway(cfg=parse_config(text, {}), redis_url=redis_url)


def oai(gw, key: str = "any") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=10)


def ant(gw, key: str = "any") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# -- 1. the cache gives exactly what a miss gives ---------------------------------------

@pytest.fixture
def cgw(make_gateway, kimi, claude, redis_server):
    return make(make_gateway, kimi, claude, extra="cache: {mode: deterministic}",
                redis_url=redis_server.url)


def streamed(c: openai.OpenAI, **body) -> tuple[str, list]:
    with c.chat.completions.with_streaming_response.create(
            **body, stream=True, stream_options={"include_usage": True}) as resp:
        return resp.headers["x-gateway-cache"], list(resp.parse())


def fold(chunks: list) -> dict[int, dict]:
    """Per choice index: text, reasoning, finish reason, logprob tokens, tool calls."""
    out: dict[int, dict] = {}
    for ch in chunks:
        for c in ch.choices:
            s = out.setdefault(c.index, {"text": "", "reasoning": "", "finish": None,
                                         "tokens": [], "tools": []})
            s["text"] += c.delta.content or ""
            s["reasoning"] += (c.delta.model_extra or {}).get("reasoning_content") or ""
            s["finish"] = c.finish_reason or s["finish"]
            if c.logprobs is not None and c.logprobs.content:
                s["tokens"] += [t.token for t in c.logprobs.content]
            s["tools"] += [(t.function.name if t.function else None)
                           for t in c.delta.tool_calls or () if t.function and t.function.name]
    return out


def whole(resp) -> dict[int, dict]:
    return {c.index: {"text": c.message.content or "",
                      "reasoning": (c.message.model_extra or {}).get("reasoning_content") or "",
                      "finish": c.finish_reason,
                      "tokens": [t.token for t in (c.logprobs.content or ())]
                      if c.logprobs is not None else [],
                      "tools": [t.function.name for t in c.message.tool_calls or ()]}
            for c in resp.choices}


def test_cache_n2_non_stream_miss_then_stream_hit(cgw, kimi):
    c = oai(cgw)
    body = {"model": "kimi-k2", "n": 2, "seed": 7, "logprobs": True,
            "messages": user(f"two choices {nonce()}")}
    miss = c.chat.completions.with_raw_response.create(**body)
    assert miss.headers["x-gateway-cache"] == "miss"
    first = miss.parse()
    assert len(first.choices) == 2 and first.choices[1].logprobs is not None
    state, chunks = streamed(c, **body)
    assert state == "hit" and len(kimi.control.requests) == 1
    assert fold(chunks) == whole(first)
    assert chunks[-1].choices == [] and chunks[-1].usage == first.usage


def test_cache_n2_stream_miss_then_non_stream_hit(cgw, kimi):
    c = oai(cgw)
    body = {"model": "kimi-k2", "n": 2, "seed": 7, "logprobs": True,
            "messages": user(f"two streamed choices {nonce()}")}
    state, chunks = streamed(c, **body)
    assert state == "miss"
    hit = c.chat.completions.with_raw_response.create(**body)
    assert hit.headers["x-gateway-cache"] == "hit" and len(kimi.control.requests) == 1
    resp = hit.parse()
    assert len(resp.choices) == 2
    assert whole(resp) == fold(chunks)
    assert all(v["tokens"] and v["finish"] == "stop" for v in whole(resp).values())
    assert resp.usage == chunks[-1].usage


def test_cache_keeps_reasoning_both_ways(cgw, kimi):
    c = oai(cgw)
    body = {"model": "kimi-think", "temperature": 0, "messages": user(f"think {nonce()}")}
    state, chunks = streamed(c, **body)
    assert state == "miss" and fold(chunks)[0]["reasoning"].startswith("Thinking about")
    hit = c.chat.completions.with_raw_response.create(**body)
    assert hit.headers["x-gateway-cache"] == "hit"
    assert whole(hit.parse()) == fold(chunks)
    body = {**body, "messages": user(f"think again {nonce()}")}
    first = c.chat.completions.create(**body)
    state, chunks = streamed(c, **body)
    assert state == "hit" and len(kimi.control.requests) == 2
    assert fold(chunks) == whole(first) and whole(first)[0]["reasoning"]


def test_cache_replays_tool_calls_of_a_stream(cgw, kimi):
    c = oai(cgw)
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {"zone": {"type": "string"}}}}}]
    body = {"model": "kimi-k2", "temperature": 0, "tools": tools,
            "messages": user(f"call get_time {nonce()}")}
    state, chunks = streamed(c, **body)
    hit = c.chat.completions.with_raw_response.create(**body)
    assert (state, hit.headers["x-gateway-cache"]) == ("miss", "hit")
    assert whole(hit.parse()) == fold(chunks) and fold(chunks)[0]["tools"] == ["get_time"]


# -- 2. a refusal is the assistant's text -----------------------------------------------

def test_refusal_only_assistant_turn_reaches_claude(gateway, claude):
    oai(gateway).chat.completions.create(model="claude-opus", messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "refusal": "I can't help with that."},
        {"role": "user", "content": "ok"}])
    turns = claude.control.last_request.json["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [{"type": "text", "text": "I can't help with that."}]


# -- 3. nothing dropped in silence ------------------------------------------------------

CHAT_UNSERVABLE = [("seed", 7), ("logprobs", True), ("top_logprobs", 2),
                   ("logit_bias", {"50256": -100}), ("presence_penalty", 0.5),
                   ("frequency_penalty", -1), ("web_search_options", {}),
                   ("stop", ["\n\n"])]


@pytest.mark.parametrize(("field", "value"), CHAT_UNSERVABLE)
def test_chat_field_claude_cannot_serve_is_a_400(gateway, claude, field, value):
    extra = {"logprobs": True} if field == "top_logprobs" else {}
    with pytest.raises(openai.BadRequestError) as info:
        oai(gateway).chat.completions.create(
            model="claude-opus", messages=user("x"), **{field: value}, **extra)
    assert info.value.body["param"] in (field, "logprobs")
    assert "drop_params" in info.value.body["message"]
    assert claude.control.requests == []


def test_chat_neutral_values_dropped_quietly(gateway, claude):
    r = oai(gateway).chat.completions.with_raw_response.create(
        model="claude-opus", messages=user("x"), logprobs=False, top_logprobs=0,
        presence_penalty=0, frequency_penalty=0.0, logit_bias={}, stop=["", "END"])
    assert r.status_code == 200 and "x-gateway-dropped-params" not in r.headers
    sent = claude.control.last_request.json
    assert sent["stop_sequences"] == ["END"]


def test_chat_drop_params_global_model_and_key(make_gateway, kimi, claude):
    keys = """keys:
  - {name: a, key: ka, policy: open}
  - {name: b, key: kb, policy: open, drop_params: false}
  - {name: c, key: kc, policy: open, drop_params: [logit_bias]}
"""
    gw = make(make_gateway, kimi, claude, extra="drop_params: true", keys=keys,
              model_extra="    drop_params: [seed, stop]\n")
    body = {"model": "claude-opus", "messages": user("x"), "seed": 3, "stop": ["\n", "END"]}
    # key a: the model's list (more specific than the global true) allows both.
    r = oai(gw, "ka").chat.completions.with_raw_response.create(**body)
    assert r.headers["x-gateway-dropped-params"] == "seed, stop"
    assert r.parse().choices[0].finish_reason == "stop"
    sent = claude.control.last_request.json
    assert "seed" not in sent and sent["stop_sequences"] == ["END"]
    with pytest.raises(openai.BadRequestError) as info:  # the model's list lacks logprobs
        oai(gw, "ka").chat.completions.create(**body, logprobs=True)
    assert info.value.body["param"] == "logprobs"
    with pytest.raises(openai.BadRequestError):  # key b: false overrides the rest
        oai(gw, "kb").chat.completions.create(**body)
    r = oai(gw, "kc").chat.completions.with_raw_response.create(
        model="claude-opus", messages=user("x"), logit_bias={"1": 5})
    assert r.headers["x-gateway-dropped-params"] == "logit_bias"
    with oai(gw, "kc").chat.completions.with_streaming_response.create(
            model="claude-opus", messages=user("x"), logit_bias={"1": 5}, stream=True) as s:
        assert s.headers["x-gateway-dropped-params"] == "logit_bias"
        assert list(s.parse())[-1].choices[0].finish_reason == "stop"
    # Kimi serves these fields: nothing is dropped, the header is absent.
    r = oai(gw, "ka").chat.completions.with_raw_response.create(**{**body, "model": "kimi-k2"})
    assert "x-gateway-dropped-params" not in r.headers
    assert kimi.control.last_request.json["seed"] == 3


ANTHROPIC_UNSERVABLE = [
    ("mcp_servers", [{"type": "url", "url": "https://mcp.example/sse", "name": "m"}]),
    ("container", "container_123"), ("speed", "fast"), ("inference_geo", "us")]


@pytest.mark.parametrize(("field", "value"), ANTHROPIC_UNSERVABLE)
def test_anthropic_field_kimi_cannot_serve_is_a_400(gateway, kimi, field, value):
    with pytest.raises(anthropic.BadRequestError) as info:
        ant(gateway).messages.create(model="kimi-k2", max_tokens=50, messages=user("x"),
                                     extra_body={field: value})
    assert field in info.value.message and "drop_params" in info.value.message
    assert kimi.control.requests == []


def test_anthropic_strict_tool_and_drop_params(make_gateway, kimi, claude):
    tool = {"name": "get_time", "strict": True,
            "input_schema": {"type": "object", "properties": {}}}
    gw = make(make_gateway, kimi, claude)
    with pytest.raises(anthropic.BadRequestError) as info:
        ant(gw).messages.create(model="kimi-k2", max_tokens=50, messages=user("x"),
                                tools=[tool])
    assert "tools[0].strict" in info.value.message
    # Neutral values pass quietly.
    r = ant(gw).messages.with_raw_response.create(
        model="kimi-k2", max_tokens=50, messages=user("x"), tools=[{**tool, "strict": False}],
        extra_body={"mcp_servers": [], "speed": "standard", "inference_geo": "global"})
    assert "x-gateway-dropped-params" not in r.headers
    gw = make(make_gateway, kimi, claude, extra="drop_params: [strict, speed]")
    r = ant(gw).messages.with_raw_response.create(
        model="kimi-k2", max_tokens=50, messages=user("x"), tools=[tool],
        extra_body={"speed": "fast"})
    assert r.headers["x-gateway-dropped-params"] == "speed, strict"
    sent = kimi.control.last_request.json
    assert "speed" not in sent and "strict" not in sent["tools"][0]["function"]


def test_dropped_params_header_on_cache_hits(make_gateway, kimi, claude, redis_server):
    gw = make(make_gateway, kimi, claude, extra="drop_params: true\ncache: {mode: all}",
              redis_url=redis_server.url)
    body = {"model": "claude-opus", "messages": user(f"x {nonce()}"), "seed": 1}
    first = oai(gw).chat.completions.with_raw_response.create(**body)
    second = oai(gw).chat.completions.with_raw_response.create(**body)
    assert second.headers["x-gateway-cache"] == "hit"
    assert first.headers["x-gateway-dropped-params"] == "seed"
    assert second.headers["x-gateway-dropped-params"] == "seed"


# -- 4. no identifying data in metadata.user_id -----------------------------------------

def test_user_becomes_a_stable_hash_for_claude(gateway, claude):
    c = oai(gateway)
    ids = []
    for _ in range(2):
        c.chat.completions.create(model="claude-opus", messages=user("x"),
                                  user="ann@example.com")
        ids.append(claude.control.last_request.json["metadata"]["user_id"])
    c.chat.completions.create(model="claude-opus", messages=user("x"), user="bob@example.com")
    other = claude.control.last_request.json["metadata"]["user_id"]
    assert ids[0] == ids[1] != other
    assert "ann" not in ids[0] and "@" not in ids[0] and len(ids[0]) <= 256


# -- 5. assistant text blocks read as one text on Kimi ----------------------------------

def test_assistant_text_blocks_joined_as_they_read(gateway, kimi):
    ant(gateway).messages.create(model="kimi-k2", max_tokens=50, messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me"},
                                          {"type": "text", "text": "check."},
                                          {"type": "text", "text": "\nDone."}]},
        {"role": "user", "content": "ok"}])
    sent = kimi.control.last_request.json["messages"]
    assert sent[1] == {"role": "assistant", "content": "Let me check.\nDone."}


# -- 6. an empty user turn is a 400 naming it ------------------------------------------

@pytest.mark.parametrize("content", [[{"type": "text", "text": ""}], ""])
def test_empty_user_turn_is_a_400(gateway, kimi, content):
    with pytest.raises(anthropic.BadRequestError) as info:
        ant(gateway).messages.create(model="kimi-k2", max_tokens=50,
                                     messages=[{"role": "user", "content": content}])
    assert "messages[0].content" in info.value.message
    assert kimi.control.requests == []


# -- 7. a custom tool gets a clear 400 -------------------------------------------------

@pytest.mark.parametrize("model", ["claude-opus", "kimi-k2"])
def test_custom_tool_is_a_clear_400(gateway, model):
    with pytest.raises(openai.BadRequestError) as info:
        oai(gateway).chat.completions.create(
            model=model, messages=user("x"),
            tools=[{"type": "custom", "custom": {"name": "grammar_tool"}}])
    message = info.value.body["message"]
    assert info.value.body["param"] == "tools[0].type"
    assert "'custom'" in message and "'function'" in message
    assert "an object with a 'function'" not in message


# -- 8. usage ---------------------------------------------------------------------------

def test_kimi_stream_message_start_reports_the_input_estimate(gateway):
    with ant(gateway).messages.stream(model="kimi-k2", max_tokens=50,
                                      messages=user("estimate my prompt " * 20)) as s:
        events = list(s)
        final = s.get_final_message()
    start = next(e for e in events if e.type == "message_start")
    assert start.message.usage.input_tokens > 20
    # message_delta then carries Moonshot's own count, which the final message keeps.
    whole = ant(gateway).messages.create(model="kimi-k2", max_tokens=50,
                                         messages=user("estimate my prompt " * 20))
    assert final.usage.input_tokens == whole.usage.input_tokens > 0
    assert final.usage.output_tokens > 0


# -- 9. Kimi's reasoning round trips -----------------------------------------------------

@pytest.fixture
def tgw(make_gateway, kimi, claude):
    return make(make_gateway, kimi, claude)


TIME_TOOL = {"name": "get_time", "description": "The time",
             "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}}


@pytest.mark.parametrize("stream", [False, True])
def test_kimi_reasoning_round_trips_as_a_thinking_block(tgw, kimi, claude, stream):
    c = ant(tgw)
    msgs: list[dict] = [{"role": "user", "content": "call get_time please"}]
    kw = {"model": "kimi-think", "max_tokens": 200, "tools": [TIME_TOOL]}
    if stream:
        with c.messages.stream(**kw, messages=msgs) as s:
            first = s.get_final_message()
    else:
        first = c.messages.create(**kw, messages=msgs)
    assert [b.type for b in first.content][0::len(first.content) - 1] == ["thinking",
                                                                          "tool_use"]
    thinking = first.content[0]
    assert thinking.thinking.startswith("Thinking about")
    assert thinking.signature == sign(thinking.thinking)
    use = first.content[-1]
    msgs += [{"role": "assistant", "content": [b.model_dump(exclude_none=True)
                                               for b in first.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                           "content": "12:00"}]}]
    second = c.messages.create(**kw, messages=msgs)  # Moonshot wants the reasoning back
    assert second.content[-1].text.startswith("Tool result")
    sent = kimi.control.last_request.json["messages"]
    assert sent[1]["reasoning_content"] == thinking.thinking
    # The same history sent to Claude: the gateway's block never reaches Anthropic.
    c.messages.create(model="claude-opus", max_tokens=200, tools=[TIME_TOOL], messages=msgs)
    sent = claude.control.last_request.json["messages"]
    assert "thinking" not in [b["type"] for b in sent[1]["content"]]
    assert sent[1]["content"][-1]["type"] == "tool_use"


def test_a_turn_of_only_kimi_reasoning_is_left_out_for_claude(tgw, claude):
    ant(tgw).messages.create(model="claude-opus", max_tokens=50, messages=[
        {"role": "user", "content": "think"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": sign("hmm")}]},
        {"role": "user", "content": "go on"}])
    sent = claude.control.last_request.json["messages"]
    assert [m["role"] for m in sent] == ["user", "user"]


def test_edited_or_foreign_thinking_is_not_turned_into_reasoning(tgw, kimi):
    with pytest.raises(anthropic.BadRequestError) as info:
        ant(tgw).messages.create(model="kimi-think", max_tokens=100, messages=[
            {"role": "user", "content": "call get_time"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "edited", "signature": sign("original")},
                {"type": "tool_use", "id": "functions.get_time:0", "name": "get_time",
                 "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result",
                                          "tool_use_id": "functions.get_time:0",
                                          "content": "12:00"}]}], tools=[TIME_TOOL])
    assert "reasoning_content" in info.value.message  # Moonshot's own refusal


def test_chat_history_reasoning_content_accepted_for_kimi(tgw, kimi):
    c = oai(tgw)
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {}}}}]
    msgs: list[dict] = user("call get_time now")
    first = c.chat.completions.create(model="kimi-think", messages=msgs, tools=tools)
    msg = first.choices[0].message
    assert msg.tool_calls and (msg.model_extra or {}).get("reasoning_content")
    msgs += [msg.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "noon"}]
    second = c.chat.completions.create(model="kimi-think", messages=msgs, tools=tools)
    assert second.choices[0].message.content.startswith("Tool result")
    with pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model="kimi-think", tools=tools, messages=[
            *msgs[:1], {**msgs[1], "reasoning_content": 5}, *msgs[2:]])
    assert info.value.body["param"] == "messages[1].reasoning_content"


def test_claude_cache_writes_in_prompt_tokens_details(gateway, claude):
    c = oai(gateway)
    system = {"role": "system", "content": [{"type": "text", "text": "A long preamble. " * 60,
                                             "cache_control": {"type": "ephemeral"}}]}
    usages = []
    for stream in (False, True):
        if stream:
            chunks = list(c.chat.completions.create(
                model="claude-opus", messages=[system, *user("hi")], stream=True,
                stream_options={"include_usage": True}))
            usages.append(chunks[-1].usage)
        else:
            usages.append(c.chat.completions.create(
                model="claude-opus", messages=[system, *user("hi")]).usage)
    assert claude.control.requests[0].json["system"][0]["cache_control"] == {
        "type": "ephemeral"}
    written, read = (u.prompt_tokens_details for u in usages)
    assert written.cache_write_tokens > 0 and written.cached_tokens == 0
    assert read.cached_tokens == written.cache_write_tokens and read.cache_write_tokens == 0
    assert usages[0].prompt_tokens == usages[1].prompt_tokens


def test_kimi_thinking_blocks_survive_anthropic_cache_hits(make_gateway, kimi, claude,
                                                          redis_server):
    gw = make(make_gateway, kimi, claude, extra="cache: {mode: all}",
              redis_url=redis_server.url)
    c = ant(gw)
    kw = {"model": "kimi-think", "max_tokens": 200, "tools": [TIME_TOOL],
          "messages": user(f"call get_time {nonce()}")}
    with c.messages.stream(**kw) as s:
        missed = s.get_final_message()
    hit = c.messages.with_raw_response.create(**kw)
    assert hit.headers["x-gateway-cache"] == "hit" and len(kimi.control.requests) == 1

    def blocks(msg) -> list[dict]:
        return [{k: v for k, v in b.model_dump(exclude_none=True).items()
                 if k != "parsed_output"} for b in msg.content]
    assert blocks(hit.parse()) == blocks(missed)
    with c.messages.stream(**kw) as s:
        replayed = s.get_final_message()
    assert blocks(replayed) == blocks(missed) and missed.content[0].type == "thinking"


def test_claude_emulator_refuses_a_gateway_signature(claude):
    # What Anthropic would answer if the gateway ever forwarded its own blocks.
    r = httpx.post(claude.url + "/v1/messages", headers={
        "x-api-key": "sk-ant-emu", "anthropic-version": "2023-06-01"}, json={
        "model": "claude-opus-4-5", "max_tokens": 10, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": sign("t")},
                {"type": "text", "text": "yes"}]},
            {"role": "user", "content": "ok"}]})
    assert r.status_code == 400 and "signature" in r.text


def test_a_dropping_answer_is_no_hit_for_a_key_that_may_not_drop(make_gateway, kimi, claude,
                                                                 redis_server):
    keys = """keys:
  - {name: a, key: ka, policy: open, drop_params: true}
  - {name: b, key: kb, policy: open}
"""
    gw = make(make_gateway, kimi, claude, keys=keys, redis_url=redis_server.url,
              extra="cache: {mode: all, shared_namespace: team}")
    body = {"model": "claude-opus", "messages": user(f"x {nonce()}"), "seed": 1}
    oai(gw, "ka").chat.completions.create(**body)
    assert oai(gw, "ka").chat.completions.with_raw_response.create(
        **body).headers["x-gateway-cache"] == "hit"
    with pytest.raises(openai.BadRequestError) as info:
        oai(gw, "kb").chat.completions.create(**body)
    assert info.value.body["param"] == "seed"
