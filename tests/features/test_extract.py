"""extract_features on both request surfaces."""

from __future__ import annotations

from typing import Any

from gateway.features import Features, estimate_tokens, extract_features

LONG = "The quick brown fox jumps over the lazy dog. " * 200


def openai_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [
                {"type": "text", "text": LONG},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "lookup", "arguments": '{"query": "fox facts"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "Foxes are canids."},
        ],
        "tools": [{"type": "function", "function": {
            "name": "lookup", "description": "Search the encyclopedia.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}],
    }
    body.update(extra)
    return body


def test_openai_body() -> None:
    f = extract_features(openai_body(stream=True, max_completion_tokens=512, max_tokens=99))
    assert isinstance(f, Features)
    assert f.requested_output == 512
    assert f.stream is True and f.has_images and f.has_tools
    assert f.language == "en"
    text_tokens = estimate_tokens(LONG)
    # text + image + tools + overheads, but not wildly more
    assert text_tokens + 1000 < f.tokens < text_tokens + 1200
    assert f.to_json() == {
        "tokens": f.tokens, "requested_output": 512, "language": "en", "pii": [],
        "has_images": True, "has_tools": True, "stream": True, "pii_fields": {},
        "pii_unverified": [],
    }


def test_image_tokens_parameter() -> None:
    a = extract_features(openai_body(), image_tokens=0).tokens
    b = extract_features(openai_body(), image_tokens=2500).tokens
    assert b - a == 2500


def test_tool_definitions_and_arguments_count() -> None:
    body = openai_body()
    without = dict(body, tools=[])
    assert extract_features(body).tokens > extract_features(without).tokens
    body2 = openai_body()
    body2["messages"][2]["tool_calls"][0]["function"]["arguments"] = '{"query": "' + "x y " * 500 + '"}'
    assert extract_features(body2).tokens > extract_features(body).tokens + 400


def test_requested_output_rules() -> None:
    assert extract_features(openai_body(max_tokens=7)).requested_output == 7
    assert extract_features(openai_body(max_tokens=True)).requested_output is None
    assert extract_features(openai_body(max_tokens="7")).requested_output is None
    assert extract_features(openai_body()).requested_output is None
    assert extract_features({"max_tokens": 300}, surface="messages").requested_output == 300


def test_anthropic_body() -> None:
    body = {
        "model": "claude-x", "max_tokens": 1024, "stream": False,
        "system": [{"type": "text", "text": "あなたは簡潔に答えます。"}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "この画像について説明してください。連絡先は taro@example.jp です。"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "ocr", "input": {"lang": "ja", "card": "4111 1111 1111 1111"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "SSN 078-05-1120"}]}]},
        ],
        "tools": [{"name": "ocr", "description": "Read text", "input_schema": {"type": "object"}}],
    }
    f = extract_features(body, surface="messages", image_tokens=1600)
    assert f.language == "ja"
    assert f.pii == {"email", "credit_card", "us_ssn"}
    assert f.has_images and f.has_tools and not f.stream
    assert f.requested_output == 1024
    assert 1600 < f.tokens < 1800


def test_pii_detection_can_be_disabled() -> None:
    body = {"messages": [{"role": "user", "content": "my card is 4111 1111 1111 1111"}]}
    assert extract_features(body).pii == {"credit_card"}
    assert extract_features(body, detect_pii=False).pii == frozenset()


def test_odd_shapes_are_ignored() -> None:
    odd: dict[str, Any] = {
        "messages": [None, 3, "x", {"role": 5, "content": {"a": 1}},
                     {"role": "user", "content": [None, 7, {"type": "text", "text": None},
                                                  {"type": "image_url"}, "plain part"]}],
        "tools": "nope", "stream": "yes", "max_tokens": -5,
    }
    f = extract_features(odd)
    assert f.has_images and not f.stream and f.requested_output is None
    g = extract_features({"messages": "x", "system": 3, "tools": [object()]}, surface="messages")
    assert g.tokens >= 0


def test_empty_body() -> None:
    f = extract_features({})
    assert f.language is None and f.pii == frozenset() and f.tokens == 3
