"""The Responses API's part of the gateway's OpenAPI document (``openapi.py``).

Request schemas say what ``validate.py`` (``responses_request``) and ``translate/responses_request.py``
check; unknown fields are allowed (accepted and not sent upstream). The response
schema is the part of OpenAI's ``Response`` the gateway fills.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

J = dict[str, Any]
_STR: J = {"type": "string"}
_INT: J = {"type": "integer"}
_BOOL: J = {"type": "boolean"}
_NAME = {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_.-]{0,40}$"}


def _ref(name: str) -> J:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: J, required: list[str] | None = None) -> J:
    out: J = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def _const(value: str) -> J:
    return {"type": "string", "const": value}


def schemas(models: list[str]) -> J:
    text = _obj({"type": {"enum": ["input_text", "output_text"]}, "text": _STR}, ["type", "text"])
    image = _obj({"type": _const("input_image"), "image_url": {
        "type": "string",
        "pattern": r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]{4,64}={0,2}$"},
        "detail": {"enum": ["auto", "low", "high"]}}, ["type", "image_url"])
    message = _obj({"type": _const("message"),
                    "role": {"enum": ["user", "assistant", "system", "developer"]},
                    "content": {"anyOf": [_STR, {"type": "array", "minItems": 1,
                                                 "items": {"anyOf": [text, image]}}]}},
                   ["role", "content"])
    call = _obj({"type": _const("function_call"), "call_id": {**_STR, "minLength": 1},
                 "name": _NAME, "arguments": _STR}, ["type", "call_id", "name", "arguments"])
    output = _obj({"type": _const("function_call_output"), "call_id": {**_STR, "minLength": 1},
                   "output": _STR}, ["type", "call_id", "output"])
    tool = _obj({"type": _const("function"), "name": _NAME, "description": _STR,
                 "parameters": _obj({"type": _const("object")}), "strict": _BOOL},
                ["type", "name"])
    request = _obj({
        "model": {"anyOf": [{"enum": models}, _STR]},
        "input": {"anyOf": [_STR, {"type": "array", "minItems": 1,
                                   "items": {"anyOf": [message, call, output]}}]},
        "instructions": _STR, "stream": _BOOL, "store": _BOOL,
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 100000},
        "tools": {"type": "array", "items": tool},
        "tool_choice": {"enum": ["auto", "none", "required"]},
        "parallel_tool_calls": _BOOL, "metadata": {"type": "object",
                                                   "additionalProperties": _STR},
    }, ["model", "input"])
    item = _obj({"type": _STR, "id": _STR}, ["type"])
    return {
        "ResponsesRequest": request,
        "InputTokensRequest": {**request, "required": []},
        "Response": _obj({
            "id": _STR, "object": _const("response"), "created_at": {"type": "number"},
            "model": _STR, "status": {"enum": ["completed", "incomplete", "failed",
                                               "in_progress"]},
            "output": {"type": "array", "items": item},
            "usage": {"anyOf": [_obj({"input_tokens": _INT, "output_tokens": _INT,
                                      "total_tokens": _INT}), {"type": "null"}]}},
            ["id", "object", "created_at", "model", "output"]),
        # `event:` the event's type, `data:` its JSON (with `type` and `sequence_number`).
        "ResponsesStreamEvent": _obj({"event": _STR, "data": _STR}, ["data"]),
        "ResponseItemList": _obj({"object": _const("list"), "data": {"type": "array",
                                                                     "items": item},
                                  "has_more": _BOOL}, ["object", "data", "has_more"]),
        "ResponseDeleted": _obj({"id": _STR, "object": _const("response"),
                                 "deleted": _BOOL},
                                ["id", "deleted"]),
        "InputTokens": _obj({"object": _const("response.input_tokens"),
                             "input_tokens": _INT}, ["object", "input_tokens"]),
    }


def paths(security: Callable[[str], J], errors: Callable[..., J], body: Callable[[str], J],
          json: Callable[..., J], headers: J, rid: J, proxy: tuple[int, ...],
          params: list[J]) -> J:
    ok = {"description": "the response, or its SSE event stream when `stream` is true",
          "headers": headers, "content": {
              "application/json": {"schema": _ref("Response")},
              "text/event-stream": {"schema": _ref("ResponsesStreamEvent")}}}
    by_id = [{"name": "resp_id", "in": "path", "required": True, "schema": _STR}]
    stored = {**errors((401, 404), "OpenAIError")}
    return {
        "/v1/responses": {"post": {
            "operationId": "responses_create", "summary": "OpenAI Responses API",
            **security("/v1/responses"), "parameters": params,
            "requestBody": body("ResponsesRequest"),
            "responses": {"200": ok, **errors(proxy, "OpenAIError")}}},
        "/v1/responses/input_tokens": {"post": {
            "operationId": "responses_input_tokens", "summary": "the gateway's token estimate",
            **security("/v1/responses/input_tokens"),
            "requestBody": body("InputTokensRequest"),
            "responses": {"200": json("InputTokens", "estimated input tokens", rid),
                          **errors((400, 401, 404, 408, 413), "OpenAIError")}}},
        "/v1/responses/{resp_id}": {
            "get": {"operationId": "responses_retrieve", "summary": "a stored response",
                    **security("/v1/responses/{resp_id}"), "parameters": by_id,
                    "responses": {"200": json("Response", "the response", rid), **stored}},
            "delete": {"operationId": "responses_delete", "summary": "forget a response",
                       **security("/v1/responses/{resp_id}"), "parameters": by_id,
                       "responses": {"200": json("ResponseDeleted", "deleted", rid),
                                     **stored}}},
        "/v1/responses/{resp_id}/input_items": {"get": {
            "operationId": "responses_input_items", "summary": "a stored response's input",
            **security("/v1/responses/{resp_id}/input_items"), "parameters": by_id,
            "responses": {"200": json("ResponseItemList", "the items", rid),
                          **errors((400, 401, 404), "OpenAIError")}}},
    }
