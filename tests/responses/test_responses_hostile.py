"""Malformed Responses bodies get a 400 naming the field, never a 5xx."""

from __future__ import annotations

import httpx
import pytest

BAD = [
    ({"input": 5}, "input"),
    ({"input": [1]}, "input[0]"),
    ({"input": [{"type": "message", "role": "user", "content": 5}]}, "input[0].content"),
    ({"input": [{"type": "message", "role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "input[0].content[0].image_url"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
     "input[0].content[0].file_data"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
     "input[0].arguments"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": 3}]}, "input[0].output"),
    ({"input": [{"type": "custom_tool_call", "call_id": "c", "name": "f"}]}, "input[0].input"),
    ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"input": "x", "tools": [{"type": "function", "name": "f", "strict": "yes"}]}, "tools[0].strict"),
    ({"input": "x", "tools": [{"type": "laser"}]}, "tools[0].type"),
    ({"input": "x", "tools": [{"type": "namespace", "name": "n", "tools": 3}]}, "tools[0].tools"),
    ({"input": "x", "tools": "f"}, "tools"),
    ({"input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": "maybe"},
     "tool_choice"),
    ({"input": "x", "tools": [{"type": "function", "name": "f"}],
      "tool_choice": {"type": "function", "name": "g"}}, "tool_choice.name"),
    ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}},
     "text.format.schema"),
    ({"input": "x", "text": 5}, "text"),
    ({"input": "x", "instructions": 5}, "instructions"),
    ({"input": "x", "temperature": 3}, "temperature"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "store": "no"}, "store"),
    ({"input": "x", "previous_response_id": 7}, "previous_response_id"),
    ({"input": "x", "conversation": "conv_1"}, "conversation"),
    ({}, "input"),
]


@pytest.mark.parametrize("model", ["kimi-k2", "claude-opus"])
def test_malformed_bodies_are_400_naming_the_field(gateway, model):
    with httpx.Client(base_url=gateway.url, timeout=10) as h:
        for extra, param in BAD:
            r = h.post("/v1/responses", json={"model": model, **extra})
            assert r.status_code == 400, (extra, r.status_code, r.text)
            err = r.json()["error"]
            assert err["param"] == param, (extra, err)
        for raw in (b"", b"[]", b"{", b'"x"', b'{"model": "kimi-k2", "input": "\\ud800"}'):
            r = h.post("/v1/responses", content=raw,
                       headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (raw, r.status_code, r.text)
        assert h.get("/v1/responses/resp_nope").status_code == 404
        assert h.get("/v1/responses/resp_nope/input_items").status_code == 404
        assert h.delete("/v1/responses/resp_nope").status_code == 404
