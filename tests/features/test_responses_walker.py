"""The Responses body walker: the same features as the equivalent chat body."""

from __future__ import annotations

import pytest

from gateway.features import extract_features

EMAIL_CARD = "Mail ann.lee@example.com, card 4111 1111 1111 1111, about the invoice."
TOOL = {"type": "function", "name": "lookup", "description": "Look up an order",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}


def chat_body():
    return {"model": "auto", "max_completion_tokens": 300, "stream": True, "messages": [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": EMAIL_CARD},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "lookup", "arguments": "{\"id\": \"A-1\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "Order A-1 ships to +1 415 555 2671"},
        {"role": "user", "content": [{"type": "text", "text": "Where is it?"},
                                     {"type": "image_url", "image_url": {"url": "data:,x"}}]}],
        "tools": [{"type": "function", "function": {k: v for k, v in TOOL.items()
                                                    if k != "type"}}]}


def responses_body():
    return {"model": "auto", "max_output_tokens": 300, "stream": True,
            "instructions": "You are a support agent.", "input": [
                {"role": "user", "content": EMAIL_CARD},
                {"type": "function_call", "call_id": "c1", "name": "lookup",
                 "arguments": "{\"id\": \"A-1\"}"},
                {"type": "function_call_output", "call_id": "c1",
                 "output": "Order A-1 ships to +1 415 555 2671"},
                {"role": "user", "content": [{"type": "input_text", "text": "Where is it?"},
                                             {"type": "input_image", "image_url": "data:,x"}]}],
            "tools": [TOOL]}


def test_a_responses_body_has_the_features_of_the_equivalent_chat_body():
    chat = extract_features(chat_body())
    resp = extract_features(responses_body(), surface="responses")
    assert resp.pii == chat.pii and {"email", "credit_card"} <= resp.pii
    assert resp.language == chat.language == "en"
    assert (resp.has_images, resp.has_tools, resp.stream) == (True, True, True)
    assert resp.requested_output == chat.requested_output == 300
    assert abs(resp.tokens - chat.tokens) <= 0.1 * chat.tokens


def test_pii_only_in_a_tool_output_or_the_instructions_is_found():
    out = {"model": "m", "input": [{"type": "function_call_output", "call_id": "c",
                                    "output": [{"type": "input_text", "text": EMAIL_CARD}]}]}
    assert "email" in extract_features(out, surface="responses").pii
    assert "email" in extract_features({"model": "m", "instructions": EMAIL_CARD, "input": "hi"},
                                       surface="responses").pii
    assert extract_features({"model": "m", "input": "hi"}, surface="responses").pii == frozenset()


def test_an_unknown_surface_is_an_error_not_the_chat_walker():
    with pytest.raises(ValueError, match="unknown surface"):
        extract_features({"input": EMAIL_CARD}, surface="respones")
