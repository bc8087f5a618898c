"""A loopback emulator of Anthropic's Messages API (base URL ``http://host:port``, as
the anthropic SDK expects).

Serves ``POST /v1/messages`` (streaming and not) and ``POST /v1/messages/count_tokens``.
Every response carries a ``request-id`` header; errors are ``{"type": "error", "error":
{"type", "message"}, "request_id"}``; streams use named SSE events in the real order:
message_start, ping, content blocks (start, deltas, stop), message_delta, message_stop.
A request carrying ``cache_control`` reports most of its input as written to the
prompt cache the first time its cached prefix (tools, system and the messages up to
the last one marked) is seen since the control's last reset, and as read from the
cache afterwards, so usage mapping of cache writes and reads can be tested.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.routing import Route

from .anthropic_content import sign_thinking
from .anthropic_prompt import build_prompt, input_tokens, uses_cache_control
from .anthropic_validate import (
    CONTEXT_WINDOW,
    DEFAULT_MODELS,
    DEFAULT_VERSIONS,
    check_headers,
    check_json_request,
    validate_count,
    validate_create,
)
from .control import EmulatorControl
from .errors import ANTHROPIC_ERRORS, ApiError, anthropic_error_body, new_request_id, random_base62
from .replies import Reply, generate_reply, split_fragments, split_words
from .responder import Answer, ApiEndpoint, Call, Dialect, EventStream, JsonBody


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _stream_error(error_type: str, message: str, rid: str | None) -> bytes:
    return b"event: error\ndata: " + anthropic_error_body(error_type, message, rid) + b"\n\n"


ANTHROPIC_DIALECT = Dialect(
    errors=ANTHROPIC_ERRORS,
    render_error=anthropic_error_body,
    stream_error=_stream_error,
    garbage_event=b"event: message_start\ndata: {this is not json\n\n",
    overload_status=529,
    request_id_header="request-id",
    new_request_id=new_request_id,
)


def create_anthropic_app(
    control: EmulatorControl,
    api_key: str = "sk-ant-emu",
    models: Iterable[str] | None = None,
    versions: Iterable[str] | None = None,
) -> Starlette:
    api = _AnthropicApi(
        control,
        api_key,
        tuple(models) if models is not None else DEFAULT_MODELS,
        tuple(versions) if versions is not None else DEFAULT_VERSIONS,
    )
    return Starlette(
        routes=[
            *messages_routes(control, api),
            Route(
                "/{path:path}",
                ApiEndpoint(control, ANTHROPIC_DIALECT, api.not_found),
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            ),
        ]
    )


def messages_routes(control: EmulatorControl, api: _AnthropicApi, prefix: str = "") -> list[Route]:
    """The Messages API under ``prefix`` (Moonshot serves it under ``/anthropic``)."""

    def endpoint(handler: Any) -> ApiEndpoint:
        return ApiEndpoint(control, ANTHROPIC_DIALECT, handler)

    return [
        Route(prefix + "/v1/messages", endpoint(api.create), methods=["POST"]),
        Route(prefix + "/v1/messages/count_tokens", endpoint(api.count_tokens), methods=["POST"]),
    ]


def anthropic_api(control: EmulatorControl, api_key: str, models: Collection[str]) -> _AnthropicApi:
    return _AnthropicApi(control, api_key, models, DEFAULT_VERSIONS)


class _AnthropicApi:
    def __init__(
        self,
        control: EmulatorControl,
        api_key: str,
        models: Collection[str],
        versions: Collection[str],
    ) -> None:
        self.control = control
        self.api_key = api_key
        self.models = models
        self.versions = versions

    def _checked(self, call: Call) -> dict[str, Any]:
        check_headers(call.headers, self.api_key, self.versions)
        check_json_request(call.headers, len(call.raw), call.json_error)
        return call.json  # type: ignore[no-any-return]

    def _cache_use(self, body: dict[str, Any]) -> str | None:
        """``"write"``, ``"read"`` or None (no cache_control) for this request."""
        if not uses_cache_control(body):
            return None
        messages = body.get("messages") or []
        marked = [i for i, m in enumerate(messages) if uses_cache_control(m)]
        prefix = messages[: marked[-1] + 1] if marked else []
        key = orjson.dumps([body.get("model"), body.get("tools"), body.get("system"), prefix])
        return "read" if self.control.cache_prefix(key) else "write"

    def not_found(self, call: Call) -> Answer:
        raise ApiError(404, "not_found_error", "Not found")

    def count_tokens(self, call: Call) -> Answer:
        body = self._checked(call)
        turns = validate_count(body, self.models)
        return JsonBody(200, orjson.dumps({"input_tokens": input_tokens(body, turns)}))

    def create(self, call: Call) -> Answer:
        body = self._checked(call)
        turns = validate_create(body, self.models)
        total = input_tokens(body, turns)
        if total > CONTEXT_WINDOW:
            raise ApiError(
                400,
                "invalid_request_error",
                f"prompt is too long: {total} tokens > {CONTEXT_WINDOW} maximum",
            )
        reply = generate_reply(build_prompt(body, turns, self.control.text_override),
                               eager_tools=self.control.eager_tools)
        render = _Render(body["model"], reply, total, cached=self._cache_use(body))
        if body.get("stream"):
            return EventStream(render.events())
        return JsonBody(200, orjson.dumps(render.message()))


class _Render:
    """One reply as a ``message`` object or as its stream of events."""

    def __init__(self, model: str, reply: Reply, total_input: int, *,
                 cached: str | None) -> None:
        self.model = model
        self.reply = reply
        self.id = "msg_01" + random_base62(22)
        part = total_input * 3 // 4 if cached else 0
        self.input_usage = {
            "input_tokens": total_input - part,
            "cache_creation_input_tokens": part if cached == "write" else 0,
            "cache_read_input_tokens": part if cached == "read" else 0,
        }
        self.tool_ids = ["toolu_01" + random_base62(22) for _ in reply.tool_calls]
        self.signature = sign_thinking(reply.thinking) if reply.thinking is not None else ""

    def _usage(self, output_tokens: int) -> dict[str, Any]:
        return {**self.input_usage, "output_tokens": output_tokens, "service_tier": "standard"}

    def _blocks(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.reply.thinking is not None:
            blocks.append(
                {"type": "thinking", "thinking": self.reply.thinking, "signature": self.signature}
            )
        if self.reply.text:  # the API never returns an empty text block
            blocks.append({"type": "text", "text": self.reply.text})
        for tool_id, call in zip(self.tool_ids, self.reply.tool_calls, strict=True):
            blocks.append(
                {"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments}
            )
        return blocks

    def message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self._blocks(),
            "stop_reason": self.reply.stop_reason,
            "stop_sequence": self.reply.stop_sequence,
            "usage": self._usage(self.reply.output_tokens),
        }

    def events(self) -> list[bytes]:
        start = {**self.message(), "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = self._usage(min(1, self.reply.output_tokens))
        out = [sse("message_start", {"type": "message_start", "message": start})]
        out.append(sse("ping", {"type": "ping"}))
        for index, block in enumerate(self._blocks()):
            out.extend(self._block_events(index, block))
        delta = {"stop_reason": self.reply.stop_reason, "stop_sequence": self.reply.stop_sequence}
        usage = {**self.input_usage, "output_tokens": self.reply.output_tokens}
        out.append(sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(sse("message_stop", {"type": "message_stop"}))
        return out

    def _block_events(self, index: int, block: dict[str, Any]) -> list[bytes]:
        def delta(**fields: Any) -> bytes:
            return sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": fields},
            )

        kind = block["type"]
        head: dict[str, Any]
        if kind == "thinking":
            head = {"type": "thinking", "thinking": "", "signature": ""}
            body = [
                delta(type="thinking_delta", thinking=p) for p in split_words(block["thinking"])
            ]
            body.append(delta(type="signature_delta", signature=block["signature"]))
        elif kind == "text":
            head = {"type": "text", "text": ""}
            body = [delta(type="text_delta", text=p) for p in split_words(block["text"])]
        else:
            head = {**block, "input": {}}
            # The API opens every tool input with an empty fragment.
            pieces = ["", *split_fragments(orjson.dumps(block["input"]).decode())]
            body = [delta(type="input_json_delta", partial_json=p) for p in pieces]
        start = sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": head},
        )
        stop = sse("content_block_stop", {"type": "content_block_stop", "index": index})
        return [start, *body, stop]
