"""The OpenAI Responses surface, built on the chat-completions surface.

A Responses body is translated to a chat-completions body (``translate/responses_*``),
which the chat surface then sends to Kimi (passthrough) or Claude (translated); its
answer, whole or streamed, comes back as chat completions and is turned into a
``response`` object or the Responses event sequence. Routing, limits, cache and
metrics see the Responses body and the surface name ``responses``.
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
from ..sse import SSEEvent, SSEResponse
from ..translate.responses_request import HOSTED_TOOLS
from ..translate.responses_request import (
    ResponsesTranslation,
    ToolNames,
    responses_to_chat_request,
)
from ..translate.params import Unsupported
from ..translate.responses_response import chat_to_response, envelope, new_id
from ..translate.responses_stream import ResponseEvents, replay
from .base import Prepared, Usage
from .openai import ClaudeStream, KimiStream, OpenAISurface
from .responses_state import ResponsesState
from .surface import Count, Surface

if TYPE_CHECKING:
    from ..pipeline.exchange import Exchange
    from ..pipeline.services import Services

CHAT = OpenAISurface()
DROPPED_HEADER = "x-gateway-dropped-tools"


@dataclass(slots=True)
class ResponsesContext:
    tr: ResponsesTranslation
    chat: Prepared  # the chat surface's own preparation
    body: dict[str, Any]  # the client's (expanded) Responses body, echoed in the answer
    id: str
    created: int


class _Chunks:
    """Mixed into the chat surface's streams: chunks collected as dicts, not bytes."""

    pending: list[dict[str, Any]]

    def _emit(self, chunks: list[dict[str, Any]]) -> bytes:
        for ch in chunks:
            if ch.get("usage"):
                self._usage = ch["usage"]
        self.pending.extend(chunks)
        return b""


class _KimiChunks(_Chunks, KimiStream):
    pass


class _ClaudeChunks(_Chunks, ClaudeStream):
    pass


class ResponsesStream:
    """Chat chunks from either provider's stream -> Responses events.

    The terminal event (``response.completed`` / ``incomplete``) is held back until
    ``close``, so the pipeline can store the response before the client sees its end.
    """

    def __init__(self, inner: KimiStream | ClaudeStream, events: ResponseEvents) -> None:
        self.inner = inner
        self.inner.pending = []  # type: ignore[union-attr]
        self.events = events
        self.finished = False
        self.closing = False

    def feed(self, ev: SSEEvent) -> bytes:
        inner = self.inner
        inner.feed(ev)
        chunks, inner.pending = inner.pending, []  # type: ignore[union-attr]
        out = self.events.feed(chunks) if chunks or not self.events.started else b""
        if inner.finished and not self.finished:
            self.finished = True
            out += self.events.finish()
        return out

    def close(self) -> bytes:
        self.closing = True  # what follows is the terminal event (``Turn.relay`` below)
        return self.events.terminal()

    def usage(self) -> Usage:
        return self.inner.usage()

    def assembled(self) -> dict[str, Any] | None:
        return self.events.response if self.finished else None

    def fail(self, err: GatewayError) -> bytes:
        return self.events.failed(err.openai_body()["error"])


_EPHEMERAL = {"type": "ephemeral"}


def cache_breakpoints(up: dict[str, Any]) -> None:
    """``prompt_cache_key`` on Claude: cache breakpoints on the last tool, the end of
    the system prompt and the last message (3 of Anthropic's 4), so an agent's long,
    stable instructions and tools, and the conversation so far, are read from the
    prompt cache on its next turn instead of billed again."""
    tools = up.get("tools")
    if isinstance(tools, list) and tools:
        tools[-1] = {**tools[-1], "cache_control": _EPHEMERAL}
    system = up.get("system")
    if isinstance(system, str) and system:
        up["system"] = [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]
    elif isinstance(system, list) and system:
        up["system"] = [*system[:-1], {**system[-1], "cache_control": _EPHEMERAL}]
    messages = up.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        content = last.get("content")
        if isinstance(content, str) and content:
            content = [{"type": "text", "text": content}]
        if isinstance(content, list) and content and content[-1].get("type") not in (
                "thinking", "redacted_thinking"):
            messages[-1] = {**last, "content": [*content[:-1],
                                                {**content[-1], "cache_control": _EPHEMERAL}]}


class ResponsesSurface:
    name = "responses"

    def prepare(self, body: dict[str, Any], model: ModelConfig, provider_type: str,
                client_headers: dict[str, str], unsupported: Unsupported | None = None
                ) -> Prepared:
        chat, tr = responses_to_chat_request(body)
        inner = CHAT.prepare(chat, model, provider_type, client_headers, unsupported)
        if provider_type == "anthropic" and body.get("prompt_cache_key"):
            cache_breakpoints(inner.body)
        ctx = ResponsesContext(tr, inner, body, new_id("resp"), int(time.time()))
        headers = dict(inner.headers)
        return Prepared(inner.body, ctx, headers)

    @staticmethod
    def dropped(prep_ctx: Any) -> list[str]:
        return prep_ctx.tr.dropped_tools if isinstance(prep_ctx, ResponsesContext) else []

    def response(self, provider_type: str, upstream: dict[str, Any], prep: Prepared,
                 model_id: str) -> dict[str, Any]:
        ctx: ResponsesContext = prep.ctx
        chat = CHAT.response(provider_type, upstream, ctx.chat, model_id)
        env = envelope(ctx.body, ctx.id, model_id, ctx.created)
        return chat_to_response(chat, ctx.tr.names, env)

    def stream(self, provider_type: str, prep: Prepared, model_id: str, body: dict[str, Any],
               request_id: str, cacheable: bool = False) -> ResponsesStream:
        ctx: ResponsesContext = prep.ctx
        inner: KimiStream | ClaudeStream
        if provider_type == "openai":
            inner = _KimiChunks(model_id, True, False)
        else:
            inner = _ClaudeChunks(model_id, ctx.chat.ctx, True, False, request_id)
        env = envelope(body, ctx.id, model_id, ctx.created)
        return ResponsesStream(inner, ResponseEvents(env, ctx.tr.names))

    def usage(self, client_body: dict[str, Any]) -> Usage:
        u = client_body.get("usage") or {}
        return Usage(int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0),
                     int((u.get("input_tokens_details") or {}).get("cached_tokens") or 0))

    def error_event(self, err: GatewayError) -> bytes:
        # Without the stream's state (see ResponsesStream.fail, which the API uses).
        return ResponseEvents({}, ToolNames()).failed(err.openai_body()["error"])

    def replay(self, cached: dict[str, Any], body: dict[str, Any]) -> list[bytes]:
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


CODEC = ResponsesSurface()


def _turn(svc: Services) -> Turn:
    return Turn(ResponsesState(svc.rt.store), svc.rt.snapshot.cfg.responses.ttl_s)


SURFACE = Surface(
    name="responses", path="/v1/responses", dialect=OPENAI_ERRORS, key=openai_key,
    validate=validate.responses_request, walker="responses", codec=CODEC,
    count=Count("/v1/responses/input_tokens", validate.input_tokens_request,
                lambda n: {"object": "response.input_tokens", "input_tokens": n}),
    turn=_turn, routes=stored_routes)
