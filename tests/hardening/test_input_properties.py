"""Property tests of the request path's pure stages on arbitrary input.

Whatever a client sends, parsing, validation, feature extraction, routing (the explain
view runs them all) and the cache key either work or raise the gateway's own 400-class
error: never a TypeError, KeyError or RecursionError (a 500). The SSE parser's
property (any bytes, any chunking: the same events or a clean error) is in
``tests/test_sse.py``; the feature extractors' in ``tests/features/test_properties.py``.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import validate
from gateway.api.explain import explain_body
from gateway.cache.entries import canonical_request
from gateway.errors import BadRequest, GatewayError
from gateway.features import extract_features
from gateway.jsonutil import MAX_DEPTH, parse_body
from tests.support import gateway_server as gs

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CFG = gs.test_config("http://127.0.0.1:9/v1", "http://127.0.0.1:9")

# Keys the validators and extractors look at, so arbitrary values land where it hurts.
KEYS = st.sampled_from([
    "model", "messages", "role", "content", "type", "text", "image_url", "url", "tools",
    "function", "name", "parameters", "tool_calls", "tool_call_id", "id", "arguments",
    "tool_choice", "response_format", "json_schema", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "top_k", "n", "seed", "stop", "stop_sequences", "stream",
    "stream_options", "metadata", "system", "source", "input", "input_schema", "tool_use_id",
    "data", "media_type", "x",
]) | st.text(max_size=8)
# What orjson.loads can hand us: integers within 64 bits (larger ones become floats).
SCALAR = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
          | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([
              "auto", "kimi-k2", "claude-opus", "user", "assistant", "system", "tool", "text",
              "image_url", "image", "function", "tool_use", "tool_result", "base64", "url",
              "none", "required", "json_schema", "data:image/png;base64,iVBORw0KGgo=",
              "https://a.example/x.png", "ann@example.com 4111 1111 1111 1111", "你好世界"])
          | st.text(max_size=20))
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(KEYS, inner, max_size=6), max_leaves=40)
BODY = st.fixed_dictionaries({}, optional={
    "model": st.sampled_from(["auto", "kimi-k2", "claude-opus"]) | JSON,
    "messages": st.lists(st.dictionaries(KEYS, JSON, max_size=5)
                         | JSON, max_size=4) | JSON,
    "max_tokens": st.integers(-5, 10**6) | JSON, "tools": JSON, "tool_choice": JSON,
    "response_format": JSON, "stream": JSON, "system": JSON, "metadata": JSON,
    "temperature": JSON, "stop": JSON})


@SETTINGS
@given(st.binary(max_size=300) | JSON.map(orjson.dumps)
       | st.integers(2**64, 2**80).map(lambda n: b'{"max_tokens": %d}' % n))
def test_parse_body_returns_or_refuses(raw: bytes) -> None:
    try:
        parse_body(raw)
    except BadRequest:
        pass


@SETTINGS
@given(BODY | JSON)
def test_validators_refuse_with_bad_request_only(body: Any) -> None:
    for check in (validate.chat_request, validate.messages_request,
                  validate.count_tokens_request):
        try:
            check(body)
        except BadRequest as e:
            assert e.status == 400 and e.message


@SETTINGS
@given(BODY | JSON, st.sampled_from([None, "open", "strict", "nope"]))
def test_explain_never_crashes(body: Any, header_policy: str | None) -> None:
    status, out = explain_body(CFG, body, header_policy=header_policy)
    assert status in (200, 400, 403, 404)
    orjson.dumps(out)  # and the answer can be written


@SETTINGS
@given(BODY, st.sampled_from(["openai", "anthropic"]))
def test_features_and_cache_key_of_any_valid_body(body: dict[str, Any], surface: str) -> None:
    check = validate.chat_request if surface == "openai" else validate.messages_request
    try:
        check(body)
    except GatewayError:
        return
    f = extract_features(body, surface=surface)
    assert f.tokens >= 0
    key = canonical_request(body, upstream_model="m", tenant="t", surface=surface)
    assert key == canonical_request(orjson.loads(orjson.dumps(body)), upstream_model="m",
                                    tenant="t", surface=surface)


def test_depth_limit_boundary() -> None:
    def body(depth: int) -> bytes:  # ``depth`` arrays and objects in all
        return b'{"a": ' * (depth - 1) + b"{}" + b"}" * (depth - 1)
    assert parse_body(body(MAX_DEPTH)) is not None
    try:
        parse_body(body(MAX_DEPTH + 1))
    except BadRequest as e:
        assert e.code == "nesting_too_deep"
    else:
        raise AssertionError("a body one level past MAX_DEPTH was accepted")


@settings(max_examples=30, deadline=None)
# 5 levels above the leaf on the tools path: body, tools, tool, function, parameters.
@given(st.integers(1, MAX_DEPTH - 5), st.sampled_from(["list", "dict"]))
def test_deepest_accepted_bodies_go_through_every_stage(depth: int, kind: str) -> None:
    leaf: Any = "x"
    for _ in range(depth):
        leaf = [leaf] if kind == "list" else {"a": leaf}
    raw = orjson.dumps({"model": "auto", "temperature": 0, "metadata": {"deep": leaf},
                        "messages": [{"role": "user", "content": "hi"}],
                        "tools": [{"type": "function", "function": {
                            "name": "f", "parameters": {"type": "object", "x": leaf}}}]})
    body = validate.chat_request(parse_body(raw))
    extract_features(body, surface="chat_completions")
    canonical_request(body, upstream_model="m", tenant="t", surface="chat_completions")
    assert explain_body(CFG, body)[0] == 200
