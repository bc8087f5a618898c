"""``/v1/responses`` (OpenAI Responses API ingress) and its stored-response views.

``POST /v1/responses`` runs the shared pipeline (``chat.proxy_request``) with the
Responses surface; a ``Turn`` per request resolves ``previous_response_id`` and
stores the answer (``store``, default true) before the client sees it, so a
follow-up sent the moment the answer arrives finds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..auth import Caller
from ..errors import BadRequest, GatewayError, ModelNotFound, NotFound
from ..features import extract_features
from ..http import error_response, json_response, read_body, request_id
from ..jsonutil import parse_body
from ..proxy import Exchange
from ..streaming import SSEResponse
from ..surfaces.responses import DROPPED_HEADER, ResponsesStream, ResponsesSurface
from ..translate.responses_request import HOSTED_TOOLS
from ..validate import _opt_bool, _opt_int, _opt_number, _want, openai_model
from .chat import proxy_request
from .context import Services
from .responses_state import ResponsesState

RESPONSES = ResponsesSurface()


def responses_request(body: Any) -> dict[str, Any]:
    """Check a Responses body (the fields the gateway relies on)."""
    openai_model(body)
    inp = body.get("input")
    if inp is None and body.get("previous_response_id") is None:
        raise BadRequest("Missing required parameter: 'input'.", param="input",
                         code="missing_required_parameter")
    if inp is not None:
        _want(isinstance(inp, (str, list)), "input", "a string or an array of items", inp)
    for name in ("stream", "store", "parallel_tool_calls", "background"):
        _opt_bool(body, name)
    _opt_number(body, "temperature", 0, 2)
    _opt_number(body, "top_p", 0, 1)
    _opt_int(body, "max_output_tokens", 1)
    for name in ("metadata", "text", "reasoning"):
        v = body.get(name)
        if v is not None:
            _want(isinstance(v, dict), name, "an object", v)
    tools = body.get("tools")
    if tools is not None:
        _want(isinstance(tools, list) and all(isinstance(t, dict) for t in tools), "tools",
              "an array of objects", tools)
    return body


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


def routes(svc: Services, presented_key: Callable[[Request], str | None]) -> list[Route]:
    state = ResponsesState(svc.rt.store)

    def turn() -> Turn:
        return Turn(state, svc.rt.snapshot.cfg.responses.ttl_s)

    async def create(request: Request) -> Response | SSEResponse:
        return await proxy_request(request, svc, RESPONSES, presented_key, responses_request,
                                   hooks=turn)

    async def _stored(request: Request) -> tuple[Caller, str, dict[str, Any]]:
        caller = svc.rt.snapshot.keyring.identify(presented_key(request))
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
            return error_response(e, "openai", _rid(request))
        if request.query_params.get("stream") == "true":
            parts = RESPONSES.replay(rec["response"], {})

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
            return error_response(e, "openai", _rid(request))
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
            return error_response(e, "openai", _rid(request))
        page = items[:int(limit)]
        return json_response({"object": "list", "data": page,
                              "first_id": page[0]["id"] if page else None,
                              "last_id": page[-1]["id"] if page else None,
                              "has_more": len(items) > len(page)}, 200, _rid(request))

    async def input_tokens(request: Request) -> Response:
        snap = svc.rt.snapshot
        try:
            caller = snap.keyring.identify(presented_key(request))
            raw = await read_body(request, snap.cfg.server.max_body_bytes,
                                  snap.cfg.server.body_timeout_s)
            body = parse_body(raw)
            body = responses_request({"model": "auto", **body} if isinstance(body, dict)
                                     else body)
            if body["model"] != "auto" and body["model"] not in snap.cfg.models:
                raise ModelNotFound(f"model: {body['model']!r} is not a model of this gateway; "
                                    f"available: {['auto', *snap.cfg.models]}")
            body, _, _ = await state.expand(body, caller)
            f = extract_features(body, surface="responses", detect_pii=False,
                                 detect_language=False, image_tokens=snap.cfg.server.image_tokens)
        except GatewayError as e:
            return error_response(e, "openai", _rid(request))
        return json_response({"object": "response.input_tokens", "input_tokens": f.tokens},
                             200, _rid(request))

    return [
        Route("/v1/responses", create, methods=["POST"]),
        Route("/v1/responses/input_tokens", input_tokens, methods=["POST"]),
        Route("/v1/responses/{resp_id}", retrieve, methods=["GET"]),
        Route("/v1/responses/{resp_id}", delete, methods=["DELETE"]),
        Route("/v1/responses/{resp_id}/input_items", input_items, methods=["GET"]),
    ]
