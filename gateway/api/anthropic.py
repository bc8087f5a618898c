"""``POST /v1/messages`` and ``/v1/messages/count_tokens`` (Anthropic ingress)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import validate
from ..errors import GatewayError, ModelNotFound
from ..features import extract_features
from ..http import error_response, json_response, read_body, request_id
from ..bounds import parse_request
from ..routing import map_model
from ..streaming import SSEResponse
from ..surfaces.anthropic import AnthropicSurface
from .chat import proxy_request
from .context import Services

ANTHROPIC = AnthropicSurface()


def routes(svc: Services, presented_key: Callable[[Request], str | None]) -> list[Route]:
    async def messages(request: Request) -> Response | SSEResponse:
        return await proxy_request(request, svc, ANTHROPIC, presented_key,
                                   validate.messages_request)

    async def count_tokens(request: Request) -> Response:
        snap = svc.rt.snapshot
        rid = {"x-request-id": request_id(request.headers)}
        try:
            caller = snap.keyring.identify(presented_key(request))
            async with svc.request_limits(caller):
                raw = await read_body(request, snap.cfg.server.max_body_bytes,
                                      snap.cfg.server.body_timeout_s)
                body = validate.count_tokens_request(parse_request(raw, snap.cfg.server))
                model, _ = map_model(snap.cfg, body["model"])
                if model != "auto" and model not in snap.cfg.models:
                    raise ModelNotFound(f"model: {body['model']!r} is not a model of this "
                                        f"gateway; available: {['auto', *snap.cfg.models]}")
                f = extract_features(body, surface="anthropic", detect_pii=False,
                                     detect_language=False,
                                     image_tokens=snap.cfg.server.image_tokens)
        except GatewayError as e:
            return error_response(e, "anthropic", rid)
        return json_response({"input_tokens": f.tokens}, 200, rid)

    return [
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    ]
