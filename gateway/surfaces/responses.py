"""The OpenAI Responses surface: to and from the hub (``translate/hub.py``).

A Responses body is translated to the hub's chat completions
(``translate/responses_request.py``), which the wire-format adapters send to Kimi or
Claude; the answer, whole or streamed, comes back as hub chat completions and becomes
a ``response`` object or the Responses event sequence (``translate/responses_*``).
Routing, limits, cache and metrics see the Responses body and the surface name
``responses``. The surface takes signed reasoning both ways (``encrypted_content``),
so on Claude ``reasoning.effort`` turns extended thinking on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..config import ModelConfig
from ..errors import GatewayError
from ..sse import frame_named
from ..translate.hub import USAGE_LAST, ChunkSource, HubOptions
from ..translate.params import Unsupported
from ..translate.responses_request import (
    ResponsesTranslation,
    ToolNames,
    responses_to_chat_request,
)
from ..translate.responses_response import chat_to_response, envelope, new_id
from ..translate.responses_stream import ResponseEvents, replay
from .base import Frame, HubStream, HubSurface, Prepared, Usage

DROPPED_HEADER = "x-gateway-dropped-tools"
# By prompt_cache_key: Claude gets cache breakpoints for it.
_OPTIONS = {cache: HubOptions(signed_reasoning=True, prompt_cache=cache) for cache in (False, True)}


@dataclass(slots=True)
class ResponsesContext:
    tr: ResponsesTranslation
    body: dict[str, Any]  # the client's (expanded) Responses body, echoed in the answer
    id: str
    created: int


class ResponsesStream(HubStream):
    """The terminal event (``response.completed`` / ``incomplete``) is held back until
    ``close``, so the pipeline can store the response before the client sees its end
    (``closing`` tells it, ``api/responses.py``)."""

    __slots__ = ("closing",)
    sink: ResponseEvents

    def __init__(self, source: ChunkSource, sink: ResponseEvents, frame: Frame) -> None:
        super().__init__(source, sink, frame)
        self.closing = False

    def close(self) -> bytes:
        self.closing = True  # what follows is the terminal event
        return super().close()

    def fail(self, err: GatewayError) -> bytes:
        return self.frame(self.sink.failed(err.openai_body()["error"]))


class ResponsesSurface(HubSurface):
    name = "responses"
    frame = staticmethod(frame_named)
    stream_class = ResponsesStream

    def to_hub(self, body: dict[str, Any], model: ModelConfig, unsupported: Unsupported | None
               ) -> tuple[dict[str, Any], HubOptions, Any]:
        chat, tr = responses_to_chat_request(body)
        ctx = ResponsesContext(tr, body, new_id("resp"), int(time.time()))
        return chat, _OPTIONS[bool(body.get("prompt_cache_key"))], ctx

    def from_hub(self, chat: dict[str, Any], ctx: ResponsesContext, model_id: str,
                 provider: str) -> dict[str, Any]:
        env = envelope(ctx.body, ctx.id, model_id, ctx.created)
        return chat_to_response(chat, ctx.tr.names, env, ctx.tr.sealed)

    def events(self, ctx: ResponsesContext, prep: Prepared, model_id: str,
               body: dict[str, Any], cacheable: bool) -> tuple[ResponseEvents, str]:
        env = envelope(ctx.body, ctx.id, model_id, ctx.created)
        return ResponseEvents(env, ctx.tr.names, ctx.tr.sealed), USAGE_LAST

    def usage(self, client_body: dict[str, Any]) -> Usage:
        u = client_body.get("usage") or {}
        return Usage(int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0),
                     int((u.get("input_tokens_details") or {}).get("cached_tokens") or 0))

    def error_events(self, err: GatewayError) -> list[Any]:
        # Without the stream's state (see ResponsesStream.fail, which the API uses).
        return ResponseEvents({}, ToolNames()).failed(err.openai_body()["error"])

    def replay_events(self, cached: dict[str, Any], body: dict[str, Any]) -> list[Any]:
        return replay(cached, ToolNames())
