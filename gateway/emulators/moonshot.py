"""A loopback emulator of Moonshot's Kimi API (base URL ``http://host:port/v1``).

Serves ``POST /v1/chat/completions`` (streaming and not) and ``GET /v1/models``, and,
like Moonshot, the Anthropic Messages API under ``/anthropic`` (``/anthropic/v1/messages``)
for the same models and key.
Answers follow Moonshot's wire format where it differs from OpenAI's: ids like
``cmpl-...`` and ``functions.get_weather:0``, errors ``{"error": {"type",
"message"}}``, and in streams the usage inside the last chunk's choice
(``choices[0].usage``) rather than a separate usage chunk.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.routing import Route

from .anthropic import anthropic_api, messages_routes
from .control import EmulatorControl
from .errors import MOONSHOT_ERRORS, ApiError, moonshot_error_body
from .moonshot_prompt import build_prompt, input_tokens, prior_tool_calls
from .moonshot_validate import (
    CONTEXT_WINDOWS,
    DEFAULT_CONTEXT,
    DEFAULT_MODELS,
    check_auth,
    check_json_request,
    validate_chat,
)
from .replies import Reply, generate_reply, split_fragments, split_words
from .responder import Answer, ApiEndpoint, Call, Dialect, EventStream, JsonBody

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}
MODEL_CREATED = 1_700_000_000


def _stream_error(error_type: str, message: str, _rid: str | None) -> bytes:
    # The openai SDK raises APIError on a data line carrying an "error" object.
    return b"data: " + moonshot_error_body(error_type, message) + b"\n\n"


MOONSHOT_DIALECT = Dialect(
    errors=MOONSHOT_ERRORS,
    render_error=lambda error_type, message, _rid: moonshot_error_body(error_type, message),
    stream_error=_stream_error,
    garbage_event=b"data: {this is not json\n\n",
    overload_status=429,
)


def create_moonshot_app(
    control: EmulatorControl,
    api_key: str = "sk-emu-kimi",
    models: Iterable[str] | None = None,
) -> Starlette:
    known = tuple(models) if models is not None else DEFAULT_MODELS
    api = _MoonshotApi(control, api_key, known)

    def endpoint(handler: Any) -> ApiEndpoint:
        return ApiEndpoint(control, MOONSHOT_DIALECT, handler)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", endpoint(api.chat), methods=["POST"]),
            Route("/v1/models", endpoint(api.list_models), methods=["GET"]),
            # Moonshot's Anthropic-compatible endpoint (base URL .../anthropic): the
            # Messages API, for the same models and key.
            *messages_routes(control, anthropic_api(control, api_key, known), "/anthropic"),
            Route("/{path:path}", endpoint(api.not_found), methods=_ALL_METHODS),
        ]
    )


_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class _MoonshotApi:
    def __init__(self, control: EmulatorControl, api_key: str, models: tuple[str, ...]) -> None:
        self.control = control
        self.api_key = api_key
        self.models = models

    def list_models(self, call: Call) -> Answer:
        check_auth(call.headers, self.api_key)
        data = [
            {"id": m, "object": "model", "created": MODEL_CREATED, "owned_by": "moonshot"}
            for m in self.models
        ]
        return JsonBody(200, orjson.dumps({"object": "list", "data": data}))

    def not_found(self, call: Call) -> Answer:
        raise ApiError(404, "resource_not_found_error", "Not found")

    def chat(self, call: Call) -> Answer:
        check_auth(call.headers, self.api_key)
        check_json_request(call.headers, len(call.raw), call.json_error)
        body: dict[str, Any] = call.json
        validate_chat(body, self.models)
        prompt_tokens = input_tokens(body)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        window = CONTEXT_WINDOWS.get(body["model"], DEFAULT_CONTEXT)
        if prompt_tokens + max_tokens > window:
            raise ApiError(
                400,
                "invalid_request_error",
                f"Invalid request: Your request exceeded model token limit: {window}",
            )
        reply = generate_reply(build_prompt(body, self.control.text_override),
                               eager_tools=self.control.eager_tools)
        render = _Render(body, reply, prompt_tokens)
        if body.get("stream"):
            return EventStream(render.chunks())
        return JsonBody(200, orjson.dumps(render.completion()))


class _Render:
    """One reply as a ``chat.completion`` object or as stream chunks."""

    def __init__(self, body: dict[str, Any], reply: Reply, prompt_tokens: int) -> None:
        self.body = body
        self.reply = reply
        self.id = "cmpl-" + secrets.token_hex(16)
        self.created = int(time.time())
        self.n = body.get("n") or 1
        first = prior_tool_calls(body)
        self.call_ids = [
            f"functions.{call.name}:{first + i}" for i, call in enumerate(reply.tool_calls)
        ]
        self.usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": prompt_tokens + reply.output_tokens,
        }
        self.finish_reason = FINISH_REASONS[reply.stop_reason]
        # OpenAI-compatible logprobs: one entry per streamed word of the text.
        self.logprobs = body.get("logprobs") is True
        self.top_logprobs = body.get("top_logprobs") or 0

    def _logprobs(self, pieces: list[str]) -> dict[str, Any]:
        def entry(piece: str, rank: int) -> dict[str, Any]:
            return {"token": piece, "logprob": -0.25 * rank - len(piece) / 100,
                    "bytes": list(piece.encode())}
        return {"content": [{**entry(p, 0), "top_logprobs": [
            entry(p, r) for r in range(self.top_logprobs)]} for p in pieces], "refusal": None}

    def _tool_calls(self) -> list[dict[str, Any]]:
        return [
            {
                "index": i,
                "id": self.call_ids[i],
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for i, call in enumerate(self.reply.tool_calls)
        ]

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.text}
        if self.reply.thinking is not None:
            message["reasoning_content"] = self.reply.thinking
        if self.reply.tool_calls:
            message["tool_calls"] = self._tool_calls()
        choices = [
            {"index": i, "message": message, "finish_reason": self.finish_reason}
            for i in range(self.n)
        ]
        if self.logprobs:
            for choice in choices:
                choice["logprobs"] = self._logprobs(split_words(self.reply.text))
        usage = dict(self.usage)
        if self.n > 1:  # every choice is generated, so every one is billed
            usage["completion_tokens"] *= self.n
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.body["model"],
            "choices": choices,
            "usage": usage,
        }

    def _chunk(self, choice: dict[str, Any], **extra: Any) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.body["model"],
            "choices": [choice],
            **extra,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def chunks(self) -> list[bytes]:
        out: list[bytes] = []
        include_usage = bool((self.body.get("stream_options") or {}).get("include_usage"))
        for index in range(self.n):
            out.extend(self._choice_chunks(index))
            final = {"index": index, "delta": {}, "finish_reason": self.finish_reason}
            # Moonshot reports usage inside the final choice, not in a usage chunk;
            # with include_usage it also fills the top-level field of that chunk.
            final["usage"] = self.usage
            extra = {"usage": self.usage} if include_usage and index == self.n - 1 else {}
            out.append(self._chunk(final, **extra))
        out.append(b"data: [DONE]\n\n")
        return out

    def _choice_chunks(self, index: int) -> list[bytes]:
        def delta(**fields: Any) -> bytes:
            choice = {"index": index, "delta": fields, "finish_reason": None}
            if self.logprobs and fields.get("content"):
                choice["logprobs"] = self._logprobs([fields["content"]])
            return self._chunk(choice)

        out = [delta(role="assistant", content="")]
        for piece in split_words(self.reply.thinking or ""):
            out.append(delta(reasoning_content=piece))
        for piece in split_words(self.reply.text):
            out.append(delta(content=piece))
        for i, call in enumerate(self.reply.tool_calls):
            head = {
                "index": i,
                "id": self.call_ids[i],
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            out.append(delta(tool_calls=[head]))
            for fragment in split_fragments(call.arguments_json):
                out.append(delta(tool_calls=[{"index": i, "function": {"arguments": fragment}}]))
        return out
