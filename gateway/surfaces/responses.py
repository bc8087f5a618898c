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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import validate
from ..auth import Caller, openai_key
from ..config import ModelConfig
from ..errors import BadRequest, GatewayError, NotFound
from ..http import OPENAI_ERRORS, error_response, json_response, request_id
from ..sse import SSEResponse, frame_named
from ..translate.hub import USAGE_LAST, ChunkSource, HubOptions
from ..translate.params import Unsupported
from ..translate.responses_request import (
    HOSTED_TOOLS,
    ResponsesTranslation,
    ToolNames,
    responses_to_chat_request,
)
from ..translate.responses_response import chat_to_response, envelope, new_id
from ..translate.responses_stream import ResponseEvents, replay
from .base import Frame, HubStream, HubCodec, Prepared, Usage
from .responses_state import ResponsesState
from .surface import Count, Surface

if TYPE_CHECKING:
    from ..pipeline.exchange import Exchange
    from ..pipeline.services import Services

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
    (``closing`` tells it, ``Turn.relay``)."""

    __slots__ = ("closing",)
    sink: ResponseEvents

    def __init__(self, source: ChunkSource, sink: ResponseEvents, frame: Frame) -> None:
        super().__init__(source, sink, frame)
        self.closing = False

    def close(self) -> bytes:
        self.closing = True  # what follows is the terminal event (``Turn.relay`` below)
        return super().close()

    def fail(self, err: GatewayError) -> bytes:
        return self.frame(self.sink.failed(err.openai_body()["error"]))


class ResponsesCodec(HubCodec):
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


class Turn:
    """One POST's state: the conversation it continues, and what it stores."""

    def __init__(self, state: ResponsesState, ttl_s: int) -> None:
        self.state = state
        self.ttl_s = ttl_s
        self.caller: Caller | None = None
        self.history: list[dict[str, Any]] = []
        self.own: list[dict[str, Any]] = []
        self.store = True
        self.dropped: list[str] = []

    async def expand(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        self.caller = caller
        self.store = body.get("store") is not False
        self.dropped = [t["type"] for t in body.get("tools") or ()
                        if t.get("type") in HOSTED_TOOLS]
        body, self.history, self.own = await self.state.expand(body, caller)
        return body

    def headers(self) -> dict[str, str]:
        return {DROPPED_HEADER: ",".join(self.dropped)} if self.dropped else {}

    async def keep(self, ex: Exchange, out: dict[str, Any] | None) -> None:
        if self.store and out is not None and self.caller is not None:
            await self.state.save(self.caller, out, self.history, self.own, self.ttl_s)

    async def relay(self, ex: Exchange, tr: Any, chunks: AsyncIterator[bytes]
                    ) -> AsyncIterator[bytes]:
        """The client's stream: the answer stored before its terminal event, a failure
        turned into ``error`` + ``response.failed`` with this stream's numbering."""
        failed = kept = False
        try:
            async for chunk in chunks:
                if ex.error is not None and isinstance(tr, ResponsesStream):
                    if not failed:
                        failed = True
                        yield tr.fail(ex.error)
                    continue
                if getattr(tr, "closing", False) and not kept:
                    kept = True  # this chunk is the terminal event
                    await self.keep(ex, tr.assembled())
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]


def stored_routes(svc: Services) -> list[BaseRoute]:
    """``GET``/``DELETE /v1/responses/{id}`` and ``GET .../input_items``: a stored
    response, visible to the key that created it only."""
    state = ResponsesState(svc.rt.store)

    async def _stored(request: Request) -> tuple[Caller, str, dict[str, Any]]:
        caller = svc.rt.snapshot.keyring.identify(openai_key(request.headers))
        resp_id = request.path_params["resp_id"]
        rec = await state.load(caller, resp_id)
        if rec is None:
            raise NotFound(f"Response with id '{resp_id}' not found.")
        return caller, resp_id, rec

    def _rid(request: Request) -> dict[str, str]:
        return {"x-request-id": request_id(request.headers)}

    async def retrieve(request: Request) -> Response | SSEResponse:
        try:
            _, _, rec = await _stored(request)
        except GatewayError as e:
            return error_response(e, OPENAI_ERRORS, _rid(request))
        if request.query_params.get("stream") == "true":
            parts = CODEC.replay(rec["response"], {})

            async def gen() -> AsyncIterator[bytes]:
                for p in parts:
                    yield p
            return SSEResponse(gen(), _rid(request))
        return json_response(rec["response"], 200, _rid(request))

    async def delete(request: Request) -> Response:
        try:
            caller, resp_id, _ = await _stored(request)
            await state.delete(caller, resp_id)
        except GatewayError as e:
            return error_response(e, OPENAI_ERRORS, _rid(request))
        return json_response({"id": resp_id, "object": "response", "deleted": True}, 200,
                             _rid(request))

    async def input_items(request: Request) -> Response:
        try:
            _, _, rec = await _stored(request)
            items = list(rec.get("input") or ())
            q = request.query_params
            if q.get("order", "desc") not in ("asc", "desc"):
                raise BadRequest("order must be 'asc' or 'desc'", param="order")
            if q.get("order", "desc") == "desc":
                items.reverse()
            limit = q.get("limit", "20")
            if not limit.isdigit() or not 1 <= int(limit) <= 100:
                raise BadRequest("limit must be an integer from 1 to 100", param="limit")
            ids = [i.get("id") for i in items]
            if q.get("after") in ids:
                items = items[ids.index(q["after"]) + 1:]
            elif q.get("before") in ids:
                items = items[:ids.index(q["before"])]
        except GatewayError as e:
            return error_response(e, OPENAI_ERRORS, _rid(request))
        page = items[:int(limit)]
        return json_response({"object": "list", "data": page,
                              "first_id": page[0]["id"] if page else None,
                              "last_id": page[-1]["id"] if page else None,
                              "has_more": len(items) > len(page)}, 200, _rid(request))

    return [
        Route("/v1/responses/{resp_id}", retrieve, methods=["GET"]),
        Route("/v1/responses/{resp_id}", delete, methods=["DELETE"]),
        Route("/v1/responses/{resp_id}/input_items", input_items, methods=["GET"]),
    ]


CODEC = ResponsesCodec()


def _turn(svc: Services) -> Turn:
    return Turn(ResponsesState(svc.rt.store), svc.rt.snapshot.cfg.responses.ttl_s)


SURFACE = Surface(
    name="responses", path="/v1/responses", dialect=OPENAI_ERRORS, key=openai_key,
    validate=validate.responses_request, walker="responses", codec=CODEC,
    count=Count("/v1/responses/input_tokens", validate.input_tokens_request,
                lambda n: {"object": "response.input_tokens", "input_tokens": n}),
    turn=_turn, routes=stored_routes)
