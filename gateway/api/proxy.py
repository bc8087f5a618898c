"""The routes of every surface, made from the table (``surfaces.SURFACES``).

For each surface: ``POST <path>`` (the proxy, ``pipeline.handler``), its token counter
if it has one (the gateway's own estimate, no upstream call) and its further routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..config import GatewayConfig
from ..errors import GatewayError, ModelNotFound
from ..http import ClientGone, error_response, json_response, request_id
from ..pipeline.handler import proxy_request
from ..pipeline.intake import take_in
from ..pipeline.services import Services
from ..routing import map_model
from ..sse import SSEResponse
from ..surfaces import SURFACES
from ..surfaces.surface import Surface


def _known_model(cfg: GatewayConfig, requested: str) -> None:
    model, _ = map_model(cfg, requested)
    if model != "auto" and model not in cfg.models:
        raise ModelNotFound(f"model: {requested!r} is not a model of this gateway; "
                            f"available: {['auto', *cfg.models]}")


async def count_tokens(request: Request, surface: Surface) -> Response:
    """The prompt's estimated tokens, as the proxy estimates them for routing and limits
    (under the key's rpm and concurrency; it spends no tokens)."""
    svc: Services = request.app.state.svc
    count = surface.count
    assert count is not None
    rid = {"x-request-id": request_id(request.headers)}
    try:
        turn = surface.turn(svc) if surface.turn is not None else None
        it = await take_in(request, svc, surface, upstream=False, validate=count.validate,
                           turn=turn, detect=False)
        try:
            _known_model(svc.rt.snapshot.cfg, it.body["model"])
        finally:
            await it.release()
    except ClientGone:
        return Response(status_code=400)
    except GatewayError as e:
        return error_response(e, surface.dialect, rid)
    return json_response(count.render(it.features.tokens), 200, rid)


def _endpoint(fn: Callable[[Request, Surface], Awaitable[Response | SSEResponse]],
              surface: Surface) -> Callable[[Request], Awaitable[Response | SSEResponse]]:
    async def endpoint(request: Request) -> Response | SSEResponse:
        return await fn(request, surface)
    endpoint.__name__ = f"{surface.name}_{fn.__name__}"
    return endpoint


async def _proxy(request: Request, surface: Surface) -> Response | SSEResponse:
    return await proxy_request(request, request.app.state.svc, surface)


def surface_routes(svc: Services) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for s in SURFACES:
        routes.append(Route(s.path, _endpoint(_proxy, s), methods=["POST"]))
        if s.count is not None:
            routes.append(Route(s.count.path, _endpoint(count_tokens, s), methods=["POST"]))
        if s.routes is not None:
            routes += s.routes(svc)
    return routes
