"""The gateway's own OpenAPI 3.1 document (``GET /openapi.json``).

Built from the running config: the model enum is ``auto`` plus the config's aliases
(a free string is also valid input: it gets a 404 ``model_not_found``), the
``x-gateway-policy`` enum is the config's policies, and security is declared only
when gateway keys are configured, and not on ``server.public_paths``.

Request schemas say exactly what the gateway itself checks (``validate.py``) plus
the shapes the upstream APIs require of the fields the gateway forwards; unknown
fields are allowed (they pass through to the upstream). Response schemas are what the
gateway sends, every error with its surface's shape. ``tests/hardening/test_fuzz.py``
fuzzes a live gateway from this document with schemathesis, so a mismatch between the
document and the gateway fails a test.
"""

from __future__ import annotations

from typing import Any

from . import openapi_responses
from .config import GatewayConfig

J = dict[str, Any]
_STR: J = {"type": "string"}
_INT: J = {"type": "integer"}
_BOOL: J = {"type": "boolean"}
_TEXT: J = {"type": "string", "minLength": 1}
# What both providers take as a tool name (Moonshot: a letter or _ first).
_TOOL_NAME = "^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$"
_OBJ: J = {"type": "object"}
_INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}
# Counts: positive and within 64 bits (a larger JSON integer parses as a float: a 400).
_COUNT = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def _ref(name: str) -> J:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: J, required: list[str] | None = None, **extra: Any) -> J:
    out: J = {"type": "object", "properties": props, **extra}
    if required:
        out["required"] = required
    return out


def _num(lo: float, hi: float) -> J:
    return {"type": "number", "minimum": lo, "maximum": hi}


def _const(value: str) -> J:
    return {"type": "string", "const": value}


# -- request pieces --------------------------------------------------------------
# Image URLs: any string is passed on; the patterns steer generation at URLs that both
# providers take (a data URL) or Claude takes (https; Kimi's translation refuses it).
_DATA_URL = {"type": "string",
             "pattern": r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]{4,64}={0,2}$"}
_HTTP_URL = {"type": "string", "pattern": r"^https://[a-z]{1,12}\.example/[a-z0-9]{1,12}\.png$"}


def _openai_schemas() -> J:
    text_part = _obj({"type": _const("text"), "text": _STR}, ["type", "text"])
    image_part = _obj({"type": _const("image_url"), "image_url": _obj(
        {"url": {"anyOf": [_DATA_URL, _HTTP_URL, _STR]},
         "detail": {"enum": ["auto", "low", "high"]}},
        ["url"])}, ["type", "image_url"])
    texts = {"anyOf": [_STR, {"type": "array", "items": _ref("TextPart")}]}
    tool_call = _obj({"id": _STR, "type": _const("function"), "function": _obj(
        {"name": _STR, "arguments": _STR}, ["name", "arguments"])}, ["id", "type", "function"])
    return {
        "TextPart": text_part,
        "ImagePart": image_part,
        "SystemMessage": _obj({"role": {"enum": ["system", "developer"]}, "content": texts,
                               "name": _STR}, ["role", "content"]),
        "UserMessage": _obj({"role": _const("user"), "name": _STR, "content": {"anyOf": [
            _STR, {"type": "array", "items": {"anyOf": [_ref("TextPart"), _ref("ImagePart")]}}]}},
            ["role", "content"]),
        # Content, tool calls or both (Moonshot refuses an assistant turn with neither).
        "AssistantMessage": {**_obj({"role": _const("assistant"), "name": _STR,
                                     "content": {"anyOf": [texts, {"type": "null"}]},
                                     "tool_calls": {"type": "array", "minItems": 1,
                                                    "items": _ref("ToolCall")}}, ["role"]),
                             "anyOf": [{"required": ["content"]}, {"required": ["tool_calls"]}]},
        "ToolMessage": _obj({"role": _const("tool"), "content": texts, "tool_call_id": _STR},
                            ["role", "content", "tool_call_id"]),
        "ToolCall": tool_call,
        "ChatMessage": {"anyOf": [_ref("SystemMessage"), _ref("UserMessage"),
                                  _ref("AssistantMessage"), _ref("ToolMessage")]},
        "Tool": _obj({"type": _const("function"), "function": _obj({
            "name": {"type": "string", "pattern": _TOOL_NAME},
            "description": _STR, "parameters": _OBJ}, ["name"])}, ["type", "function"]),
    }


def _chat_request(models: list[str]) -> J:
    return _obj({
        "model": _model(models),
        "messages": {"type": "array", "minItems": 1, "items": _ref("ChatMessage")},
        "stream": _BOOL,
        "stream_options": _obj({"include_usage": _BOOL}),
        "temperature": _num(0, 2),
        "top_p": _num(0, 1),
        "frequency_penalty": _num(-2, 2),
        "presence_penalty": _num(-2, 2),
        "max_tokens": _COUNT,
        "max_completion_tokens": _COUNT,
        "n": _COUNT,
        "seed": {**_INT, **_INT64},
        "parallel_tool_calls": _BOOL,
        "stop": {"anyOf": [_STR, {"type": "array", "items": _STR}]},
        "tools": {"type": "array", "items": _ref("Tool")},
        "tool_choice": {"anyOf": [{"enum": ["none", "auto", "required"]}, _obj(
            {"type": _const("function"), "function": _obj({"name": _STR}, ["name"])},
            ["type", "function"])]},
        "response_format": _obj({"type": {"enum": ["text", "json_object", "json_schema"]},
                                 "json_schema": _OBJ}, ["type"]),
        "metadata": _OBJ,
        "user": _STR,
    }, ["model", "messages"])


def _anthropic_schemas() -> J:
    source = {"anyOf": [
        _obj({"type": _const("base64"), "media_type": {"enum": ["image/png", "image/jpeg",
                                                                "image/gif", "image/webp"]},
              "data": {"type": "string", "pattern": "^[A-Za-z0-9+/]{4,64}={0,2}$"}},
             ["type", "media_type", "data"]),
        _obj({"type": _const("url"), "url": {"anyOf": [_HTTP_URL, _STR]}}, ["type", "url"])]}
    # Anthropic refuses empty text and an empty conversation.
    text = _obj({"type": _const("text"), "text": _TEXT}, ["type", "text"])
    return {
        "TextBlock": text,
        "ContentBlock": {"anyOf": [
            _ref("TextBlock"),
            _obj({"type": _const("image"), "source": source}, ["type", "source"]),
            _obj({"type": _const("tool_use"), "id": _STR, "name": _STR, "input": _OBJ},
                 ["type", "id", "name", "input"]),
            _obj({"type": _const("tool_result"), "tool_use_id": _STR, "content": {
                "anyOf": [_STR, {"type": "array", "items": _ref("TextBlock")}]},
                "is_error": _BOOL}, ["type", "tool_use_id"])]},
        "Message": _obj({"role": {"enum": ["user", "assistant"]}, "content": {"anyOf": [
            _TEXT, {"type": "array", "minItems": 1, "items": _ref("ContentBlock")}]}},
            ["role", "content"]),
        "AnthropicTool": _obj({"name": {"type": "string", "pattern": _TOOL_NAME},
                               "description": _STR, "input_schema": _OBJ},
                              ["name", "input_schema"]),
    }


def _messages_request(models: list[str], *, count: bool = False) -> J:
    props: J = {
        "model": _model(models),
        "messages": {"type": "array", "minItems": 1, "items": _ref("Message")},
        "system": {"anyOf": [_STR, {"type": "array", "items": _ref("TextBlock")}]},
        "tools": {"type": "array", "items": _ref("AnthropicTool")},
        "tool_choice": _obj({"type": {"enum": ["auto", "any", "tool", "none"]}, "name": _STR},
                            ["type"]),
    }
    if count:
        return _obj(props, ["model", "messages"])
    props.update({
        "max_tokens": _COUNT,
        "stream": _BOOL,
        "temperature": _num(0, 1),
        "top_p": _num(0, 1),
        "top_k": {**_COUNT, "minimum": 0},
        "stop_sequences": {"type": "array", "items": _STR},
        "metadata": _OBJ,
    })
    return _obj(props, ["model", "max_tokens", "messages"])


def _model(models: list[str]) -> J:
    # The enum steers generation at real models; any other string is valid input too.
    return {"anyOf": [{"type": "string", "enum": models}, {"type": "string", "minLength": 1}]}


# -- responses ---------------------------------------------------------------------
def _response_schemas() -> J:
    nullable_str = {"type": ["string", "null"]}
    return {
        "OpenAIError": _obj({"error": _obj({"message": _STR, "type": _STR, "param": nullable_str,
                                            "code": nullable_str},
                                           ["message", "type", "param", "code"])}, ["error"]),
        "AnthropicError": _obj({"type": _const("error"), "error": _obj(
            {"type": _STR, "message": _STR}, ["type", "message"]), "request_id": _STR},
            ["type", "error"]),
        "ChatCompletion": _obj({
            "id": _STR, "object": _const("chat.completion"), "created": _INT, "model": _STR,
            "choices": {"type": "array", "items": _obj({
                "index": _INT, "finish_reason": nullable_str,
                "message": _obj({"role": _const("assistant"),
                                 "content": nullable_str,
                                 "tool_calls": {"type": "array", "items": _ref("ToolCall")}},
                                ["role"])}, ["index", "message"])},
            "usage": _obj({"prompt_tokens": _INT, "completion_tokens": _INT,
                           "total_tokens": _INT})}, ["id", "object", "model", "choices"]),
        "AnthropicMessage": _obj({
            "id": _STR, "type": _const("message"), "role": _const("assistant"), "model": _STR,
            "content": {"type": "array", "items": _obj({"type": _STR}, ["type"])},
            "stop_reason": nullable_str,
            "usage": _obj({"input_tokens": _INT, "output_tokens": _INT},
                          ["input_tokens", "output_tokens"])},
            ["id", "type", "role", "model", "content", "usage"]),
        "Features": _obj({"tokens": _INT, "requested_output": {"type": ["integer", "null"]},
                          "language": nullable_str, "pii": {"type": "array", "items": _STR},
                          "has_images": _BOOL, "has_tools": _BOOL, "stream": _BOOL},
                         ["tokens", "language", "pii"]),
        "Explain": _obj({"surface": {"enum": ["chat_completions", "messages", "responses"]},
                         "model": _STR, "provider": _STR, "upstream_model": _STR, "rule": _STR,
                         "candidates": {"type": "array", "items": _STR},
                         "policy": {"type": "array", "items": _STR},
                         "features": _ref("Features"), "trace": {"type": "array"}},
                        ["model", "provider", "rule", "candidates", "features", "trace"]),
        # The refusal the proxy would give, with the features and trace that led to it
        # (a body that is not JSON at all has neither).
        "ExplainError": {"allOf": [_ref("OpenAIError"), _obj({
            "status": _INT, "features": {"anyOf": [_ref("Features"), {"type": "null"}]},
            "trace": {"type": "array"}})]},
        "ModelList": _obj({"object": _const("list"), "data": {"type": "array", "items": _ref(
            "Model")}}, ["object", "data"]),
        "Model": _obj({"id": _STR, "object": _const("model"), "created": _INT, "owned_by": _STR},
                      ["id", "object", "owned_by"]),
        # `data:` a chat.completion.chunk, the final error object, or [DONE].
        "ChatStreamEvent": _obj({"data": _STR}, ["data"]),
        "MessagesStreamEvent": _obj({"event": {"enum": [
            "message_start", "content_block_start", "content_block_delta",
            "content_block_stop", "message_delta", "message_stop", "ping", "error"]},
            "data": _STR}, ["event", "data"]),
        "Ready": _obj({"status": {"enum": ["ready", "not ready"]}, "config_version": _INT,
                       "circuits": _OBJ, "store": _OBJ, "reason": _STR},
                      ["status", "circuits", "store"]),
    }


_MESSAGES = {
    400: "invalid request (the field is named in `param` / the message)",
    401: "missing or invalid gateway key",
    403: "forbidden by the key's or the request's policy",
    404: "unknown model (`model_not_found`)",
    408: "the body was not received within `server.body_timeout_s`",
    413: "the body is over `server.max_body_bytes`, `server.max_json_nodes`, "
         "`server.max_messages` or `server.max_content_parts`",
    429: "rate limited (key limits or the upstream's)",
    502: "upstream failure or an answer that is not its API",
    503: "upstream overloaded (529), circuit open, or provider without a key",
    504: "upstream timeout",
    529: "upstream overloaded (Anthropic's own status, kept on the Anthropic surface)",
}
_PROXY = (400, 401, 403, 404, 408, 413, 429, 502, 503, 504)
_H = {"schema": _STR}
_GATEWAY_HEADERS = {h: {**_H, "required": True} for h in (
    "x-request-id", "x-gateway-provider", "x-gateway-model", "x-gateway-route",
    "x-gateway-cache", "x-gateway-overhead-ms")}
_RID = {"x-request-id": {**_H, "required": True}}


def _errors(codes: tuple[int, ...], schema: str, *, rid: bool = True) -> J:
    out: J = {}
    for c in codes:
        headers: J = dict(_RID) if rid else {}
        if c in (429, 503, 529):
            headers["retry-after"] = _H
        out[str(c)] = {"description": _MESSAGES[c], "headers": headers,
                       "content": {"application/json": {"schema": _ref(schema)}}}
    return out


def _json(schema: str, description: str, headers: J | None = None) -> J:
    return {"description": description, "headers": headers or {},
            "content": {"application/json": {"schema": _ref(schema)}}}


def _header_params(cfg: GatewayConfig, *names: str) -> list[J]:
    known = {
        "x-request-id": "echoed back when it is a plain token (else replaced)",
        "x-gateway-policy": "a second policy on top of the key's (stricter, never looser)",
        "anthropic-version": "sent upstream instead of the configured version",
        "anthropic-beta": "forwarded to Anthropic",
    }
    out = []
    for n in names:
        schema = _STR
        if n == "x-gateway-policy":
            schema = {"type": "string", "enum": sorted(cfg.policies)}
        elif n == "anthropic-version":  # Anthropic refuses any other (a 400 passed on)
            schema = {"type": "string", "enum": ["2023-06-01", "2023-01-01"]}
        out.append({"name": n, "in": "header", "required": False, "description": known[n],
                    "schema": schema})
    return out


def document(cfg: GatewayConfig) -> dict[str, Any]:
    """OpenAPI 3.1 for the routes the gateway serves; model enums from the config."""
    models = ["auto", *cfg.models]
    keyed = bool(cfg.active_keys())
    public = set(cfg.server.public_paths)

    def security(path: str, anthropic: bool = False) -> J:
        if not keyed or path in public:
            return {"security": []}
        return {"security": [{"apiKey": []}, {"bearer": []}] if anthropic else [{"bearer": []}]}

    def auth_errors(path: str, schema: str = "OpenAIError") -> J:
        return {} if not keyed or path in public else _errors((401,), schema, rid=False)

    def body(schema: str) -> J:
        return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}

    # On text/event-stream, OpenAPI 3.1's `schema` describes one event.
    ok_stream = {"description": "the completion, or its SSE stream when `stream` is true",
                 "headers": _GATEWAY_HEADERS, "content": {
                     "application/json": {"schema": _ref("ChatCompletion")},
                     "text/event-stream": {"schema": _ref("ChatStreamEvent")}}}
    ok_messages = {**ok_stream, "content": {
        "application/json": {"schema": _ref("AnthropicMessage")},
        "text/event-stream": {"schema": _ref("MessagesStreamEvent")}}}
    paths: J = {
        "/v1/chat/completions": {"post": {
            "operationId": "chat_completions", "summary": "OpenAI chat completions",
            **security("/v1/chat/completions"),
            "parameters": _header_params(cfg, "x-request-id", "x-gateway-policy"),
            "requestBody": body("ChatRequest"),
            "responses": {"200": ok_stream, **_errors(_PROXY, "OpenAIError")}}},
        "/v1/models": {"get": {
            "operationId": "list_models", "summary": "`auto` and the config's model aliases",
            **security("/v1/models"),
            "description": "OpenAI's list shape; with `anthropic-version` or `x-api-key`, "
                           "Anthropic's page (`type: model`, `display_name`, `created_at`, "
                           "`has_more`, `first_id`, `last_id`).",
            "responses": {"200": _json("ModelList", "the models"), **auth_errors("/v1/models")}}},
        "/v1/models/{model_id}": {"get": {
            "operationId": "get_model",
            "summary": "one model: an alias, `auto`, or a name `model_map` maps",
            **security("/v1/models"),
            "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": _STR}],
            "responses": {"200": _json("Model", "the model"), **auth_errors("/v1/models"),
                          **_errors((404,), "OpenAIError")}}},
        "/v1/messages": {"post": {
            "operationId": "messages", "summary": "Anthropic Messages",
            **security("/v1/messages", anthropic=True),
            "parameters": _header_params(cfg, "x-request-id", "x-gateway-policy",
                                         "anthropic-version", "anthropic-beta"),
            "requestBody": body("MessagesRequest"),
            "responses": {"200": ok_messages, **_errors((*_PROXY, 529), "AnthropicError")}}},
        "/v1/messages/count_tokens": {"post": {
            "operationId": "count_tokens", "summary": "the gateway's token estimate",
            **security("/v1/messages/count_tokens", anthropic=True),
            "parameters": _header_params(cfg, "x-request-id"),
            "requestBody": body("CountTokensRequest"),
            "responses": {
                "200": _json("TokenCount", "estimated input tokens", _RID),
                **_errors((400, 401, 404, 408, 413, 429), "AnthropicError")}}},
        "/v1/gateway/route": {"post": {
            "operationId": "explain_route", "summary": "the routing decision, no upstream call",
            **security("/v1/gateway/route"),
            "parameters": [
                {"name": "surface", "in": "query", "required": False,
                 "description": "the API the body is for (default: anthropic-version header "
                 "means messages, else by the body's shape; see README, Explain)",
                 "schema": {"type": "string",
                            "enum": ["chat_completions", "messages", "responses"]}},
                {"name": "anthropic-version", "in": "header", "required": False,
                 "description": "present: the body is a Messages body (unless `surface` says "
                 "otherwise)", "schema": _STR},
                *_header_params(cfg, "x-request-id", "x-gateway-policy")],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "anyOf": [_ref("ChatRequest"), _ref("MessagesRequest"),
                          _ref("ResponsesRequest")]}}}},
            "responses": {
                "200": _json("Explain", "the decision", _RID),
                **_errors((401, 408, 413, 429), "OpenAIError"),
                **_errors((400, 403, 404), "ExplainError")}}},
        "/healthz": {"get": {
            "operationId": "healthz", "summary": "liveness", **security("/healthz"),
            "responses": {"200": _json("Health", "serving"), **auth_errors("/healthz")}}},
        "/readyz": {"get": {
            "operationId": "readyz", "summary": "readiness", **security("/readyz"),
            "responses": {"200": _json("Ready", "ready"), "503": _json("Ready", "not ready"),
                          **auth_errors("/readyz")}}},
        "/metrics": {"get": {
            "operationId": "metrics", "summary": "Prometheus exposition", **security("/metrics"),
            "responses": {"200": {"description": "metrics", "content": {
                "text/plain": {"schema": _STR}}},
                **(_errors((401,), "OpenAIError", rid=False) if cfg.server.metrics_key
                   else auth_errors("/metrics"))}}},
    }
    paths.update(openapi_responses.paths(
        security, _errors, body, _json, _GATEWAY_HEADERS, _RID, _PROXY,
        _header_params(cfg, "x-request-id", "x-gateway-policy")))
    schemas: J = {
        **openapi_responses.schemas(models),
        **_openai_schemas(), **_anthropic_schemas(), **_response_schemas(),
        "ChatRequest": _chat_request(models),
        "MessagesRequest": _messages_request(models),
        "CountTokensRequest": _messages_request(models, count=True),
        "TokenCount": _obj({"input_tokens": {**_INT, "minimum": 0}}, ["input_tokens"]),
        "Health": _obj({"status": _const("ok")}, ["status"]),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "LLM gateway", "version": "0.1.0",
                 "description": "OpenAI- and Anthropic-compatible gateway to Kimi and Claude."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a gateway key: `Authorization: Bearer <key>`"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                       "description": "a gateway key (Anthropic surface)"}}},
        "x-models": models,
    }
