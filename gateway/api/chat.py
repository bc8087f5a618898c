"""Shared request pipeline of the two proxy surfaces.

    auth -> body -> validate -> features -> decide -> admit -> cache -> engine

The surface-specific parts (key header, body validation, feature surface, error
shape) are passed in; everything else is one code path so both surfaces route,
limit, cache and measure identically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from ..auth import Caller
from ..bounds import parse_request
from ..errors import GatewayError
from ..features import extract_features
from ..http import (
    ClientGone,
    error_response,
    json_response,
    read_body,
    request_id,
    unless_client_leaves,
)
from ..proxy import Engine, Exchange
from ..routing import RouteRequest, decide
from ..streaming import SSEResponse
from ..surfaces.base import Surface
from .context import Services

log = logging.getLogger("gateway")


async def proxy_request(
    request: Request,
    svc: Services,
    surface: Surface,
    presented_key: Callable[[Request], str | None],
    validate: Callable[[Any], dict[str, Any]],
) -> Response | SSEResponse:
    t0 = time.perf_counter()
    rt = svc.rt
    snap = rt.snapshot
    rid = request_id(request.headers)
    base_headers = {"x-request-id": rid}
    if rt.demo:
        base_headers["x-gateway-demo"] = "true"
    ex: Exchange | None = None
    admission = None
    handed_off = False  # the response's own finish (stream end, background) settles
    m = svc.metrics
    inflight = m.child(m.inflight, surface.name) if m is not None else None
    if inflight is not None:
        inflight.inc()
    try:
        caller: Caller = snap.keyring.identify(presented_key(request))
        early = admission = await svc.admit_early(caller, request.headers)
        raw = await read_body(request, snap.cfg.server.max_body_bytes, snap.cfg.server.body_timeout_s)
        body = validate(parse_request(raw, snap.cfg.server))
        feats = extract_features(body, surface=surface.name,
                                 image_tokens=snap.cfg.server.image_tokens)
        route_req = RouteRequest(
            model=body["model"], key_name=caller.name, key_policy=caller.policy,
            header_policy=request.headers.get("x-gateway-policy"),
            headers=request.headers, metadata=body.get("metadata") or {})
        decision = decide(snap.cfg, feats, route_req)
        stream = bool(body.get("stream"))
        ex = Exchange(surface=surface, snap=snap, body=body, request_id=rid,
                      client_headers={k: v for k, v in request.headers.items()
                                      if k.startswith("anthropic-")},
                      t0=t0, stream=stream, decision=decision, caller=caller, features=feats)
        if m is not None:
            m.child(m.routing_decisions, decision.rule, decision.model).inc()
        lookup = svc.cache_lookup(ex, request.headers)
        try:
            admission = await svc.admit(ex, early)
        except BaseException:
            svc.drop_lookup(lookup)
            raise
        cached = await lookup if lookup is not None else None
        if cached is not None:
            handed_off = True
            return svc.serve_cached(ex, cached, base_headers, admission, inflight)
        engine: Engine = svc.engine
        if stream:
            # Until the first byte is relayed, a departed client cancels the upstream.
            up, tr, events, first = await unless_client_leaves(
                request, engine.open_stream(ex, svc.cache_store_wanted(ex)))
            headers = {**base_headers, **ex.headers(), **svc.limit_headers(admission),
                       "x-gateway-overhead-ms": f"{ex.overhead_ms:.2f}"}
            held, admission = admission, None  # the stream's end settles it now
            handed_off = True
            # After the last byte: the assembled answer stored (if it completed and is
            # wanted) and the limits settled, together (see Services.finish).
            return SSEResponse(engine.relay(
                ex, up, tr, events, first,
                on_end=lambda assembled: svc.finish(ex, held, inflight, assembled)), headers)
        out = await unless_client_leaves(request, engine.complete(ex))
        headers = {**base_headers, **ex.headers(), **svc.limit_headers(admission),
                   "x-gateway-overhead-ms": f"{ex.overhead_ms:.2f}"}
        # Cached and settled after the response is sent: the client does not wait for
        # the bookkeeping. Both are queued before this process reads the client's next
        # request, and Redis runs one connection's commands in order, so a key's next
        # request on this replica finds its slot released and the entry stored.
        resp = json_response(out, 200, headers)
        resp.background = BackgroundTask(svc.finish, ex, admission, inflight, out)
        handed_off = True
        return resp
    except ClientGone:
        if ex is not None:
            ex.status = 499
        return Response(status_code=400)
    except GatewayError as e:
        headers = dict(base_headers)
        if ex is not None:
            # What the client gets: 529 stays 529 on the Anthropic surface.
            ex.status = (e.anthropic_status or e.status) if surface.name == "anthropic" else e.status
            ex.error = e
            headers.update(ex.headers())
        else:
            svc.count_early_error(surface.name, e, rid)
        if admission is not None:
            headers.update(svc.limit_headers(admission))
        return error_response(e, surface.name, headers)
    finally:
        # Every failure after routing (upstream error, rate limit, client gone) is
        # counted and logged once, whether or not the key has limits to settle.
        if ex is not None and not handed_off:
            await svc.finish(ex, admission)
        elif ex is None and admission is not None:
            await admission.release()  # refused before routing: its slot is free again
        if inflight is not None and not handed_off:
            inflight.dec()
