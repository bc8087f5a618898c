"""The proxy endpoint of every surface: one code path for all of them.

    intake (key, body, validate, features) -> decide -> admit -> cache -> engine -> finish

Everything surface-specific comes from the ``Surface`` (``surfaces/surface.py``), so
every surface routes, limits, caches and measures identically.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import Response

from ..errors import GatewayError
from ..http import (
    Afterwards,
    ClientGone,
    error_response,
    json_response,
    request_id,
    unless_client_leaves,
)
from ..limits.limiter import Admission
from ..routing import RouteRequest, decide
from ..sse import SSEResponse
from ..surfaces.surface import Surface
from .exchange import Exchange
from .intake import take_in
from .services import Services

log = logging.getLogger("gateway")


async def proxy_request(request: Request, svc: Services, surface: Surface
                        ) -> Response | SSEResponse:
    t0 = time.perf_counter()
    rt = svc.rt
    snap = rt.snapshot
    rid = request_id(request.headers)
    base_headers = {"x-request-id": rid}
    if rt.demo:
        base_headers["x-gateway-demo"] = "true"
    ex: Exchange | None = None
    turn = surface.turn(svc) if surface.turn is not None else None
    admission: Admission | None = None
    handed_off = False  # the response's own finish (stream end, background) settles
    m = svc.metrics
    inflight = m.child(m.inflight, surface.name) if m is not None else None
    if inflight is not None:
        inflight.inc()
    try:
        it = await take_in(request, svc, surface, turn=turn)
        caller, body, feats, early = it.caller, it.body, it.features, it.admission
        admission = early
        if turn is not None:
            base_headers.update(turn.headers())
        route_req = RouteRequest(
            model=body["model"], key_name=caller.name, key_policy=caller.policy,
            header_policy=request.headers.get("x-gateway-policy"),
            headers=request.headers, metadata=body.get("metadata") or {})
        decision = decide(snap.cfg, feats, route_req)
        ex = Exchange(surface=surface, snap=snap, body=body, request_id=rid,
                      client_headers=surface.forwarded(request.headers), t0=t0,
                      stream=bool(body.get("stream")), features=feats, decision=decision,
                      caller=caller)
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
        engine = svc.engine
        if ex.stream:
            # Until the first byte is relayed, a departed client cancels the upstream.
            up, tr, events, first = await unless_client_leaves(
                request, engine.open_stream(ex, svc.cache_store_wanted(ex)))
            headers = {**base_headers, **ex.headers(), **svc.limit_headers(admission),
                       "x-gateway-overhead-ms": f"{ex.overhead_ms:.2f}"}
            held, admission = admission, None  # the stream's end settles it now
            handed_off = True
            # After the last byte: the assembled answer stored (if it completed and is
            # wanted) and the limits settled, together (see Services.finish).
            chunks = engine.relay(
                ex, up, tr, events, first,
                on_end=lambda assembled: svc.finish(ex, held, inflight, assembled))
            if turn is not None:
                chunks = turn.relay(ex, tr, chunks)
            return SSEResponse(chunks, headers)
        out = await unless_client_leaves(request, engine.complete(ex))
        if turn is not None:
            await turn.keep(ex, out)
        headers = {**base_headers, **ex.headers(), **svc.limit_headers(admission),
                   "x-gateway-overhead-ms": f"{ex.overhead_ms:.2f}"}
        # Cached and settled after the response is sent: the client does not wait for
        # the bookkeeping. Both are queued before this process reads the client's next
        # request, and Redis runs one connection's commands in order, so a key's next
        # request on this replica finds its slot released and the entry stored.
        resp = json_response(out, 200, headers)
        resp.background = Afterwards(svc.finish, ex, admission, inflight, out)
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
            ex.status = surface.dialect.status(e)
            ex.error = e
            headers.update(ex.headers())
        else:
            svc.count_early_error(surface.name, e, rid)
        if admission is not None:
            headers.update(svc.limit_headers(admission))
        return error_response(e, surface.dialect, headers)
    finally:
        # Every failure after routing (upstream error, rate limit, client gone) is
        # counted and logged once, whether or not the key has limits to settle.
        if ex is not None and not handed_off:
            await svc.finish(ex, admission)
        elif ex is None and admission is not None:
            await admission.release()  # refused before routing: its slot is free again
        if inflight is not None and not handed_off:
            inflight.dec()
