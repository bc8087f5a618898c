"""The explain view: the routing decision for a chat-completions body, no upstream call.

It runs exactly the code the proxy runs (validate -> features -> decide), so what it
says is what the proxy then does; a request the proxy would refuse gets the same
error here, with the trace that led to it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .. import validate
from ..auth import Caller
from ..bounds import parse_request
from ..config import GatewayConfig
from ..errors import GatewayError
from ..features import extract_features
from ..http import error_response, json_response, read_body, request_id
from ..routing import RouteRequest, decide
from ..runtime import Runtime


def explain_body(cfg: GatewayConfig, body: Any, *, key_name: str | None = None,
                 key_policy: str | None = None, header_policy: str | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON) of the decision for ``body``; shared by the HTTP view and the CLI."""
    trace: list[dict[str, Any]] = []
    features: dict[str, Any] | None = None
    try:
        body = validate.chat_request(body)
        f = extract_features(body, surface="openai", image_tokens=cfg.server.image_tokens)
        features = f.to_json()
        d = decide(cfg, f, RouteRequest(model=body["model"], key_name=key_name,
                                        key_policy=key_policy, header_policy=header_policy,
                                        headers=headers or {},
                                        metadata=body.get("metadata") or {}))
    except GatewayError as e:
        trace = e.trace if e.trace is not None else trace
        out = {**e.openai_body(), "status": e.status, "features": features, "trace": trace}
        return e.status, out
    m = cfg.models[d.model]
    return 200, {
        "model": d.model, "provider": m.provider, "upstream_model": m.upstream,
        "rule": d.rule, "candidates": d.candidates, "policy": list(d.policy.names),
        "features": features, "trace": d.trace,
    }


async def explain(request: Request, rt: Runtime,
                  presented_key: Callable[[Request], str | None],
                  limits: Callable[[Caller], AbstractAsyncContextManager[None]]) -> Response:
    """``limits``: the key's rpm and concurrency (``Services.request_limits``)."""
    snap = rt.snapshot
    rid = {"x-request-id": request_id(request.headers)}
    try:
        caller = snap.keyring.identify(presented_key(request))
        async with limits(caller):
            raw = await read_body(request, snap.cfg.server.max_body_bytes,
                                  snap.cfg.server.body_timeout_s)
            body = parse_request(raw, snap.cfg.server)
            status, out = explain_body(
                snap.cfg, body, key_name=caller.name, key_policy=caller.policy,
                header_policy=request.headers.get("x-gateway-policy"),
                headers=dict(request.headers))
    except GatewayError as e:
        return error_response(e, "openai", rid)
    # A request the proxy would refuse gets that refusal's status, with the trace.
    return json_response(out, status, rid)
