"""Operations endpoints: ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .. import idle, openapi
from ..breaker import STATE_VALUE
from ..http import json_response
from ..metrics import Metrics, config_fingerprint
from ..runtime import Runtime
from ..stores import ResilientStore
from .access import Role, requires

# Left out of gateway_config_info's hash: secrets (and the Redis URL, which may hold one).
_SECRET_FIELDS: Any = {"providers": {"__all__": {"api_key"}}, "keys": {"__all__": {"key"}},
                       "redis": {"url"}, "server": {"metrics_key"}}


@requires(Role.PUBLIC)
async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


@requires(Role.PUBLIC)
async def readyz(request: Request) -> Response:
    ok, detail = await request.app.state.rt.readiness()
    return json_response(detail, 200 if ok else 503)


@requires(Role.PUBLIC)
async def openapi_json(request: Request) -> Response:
    return json_response(openapi.document(request.app.state.rt.snapshot.cfg))


@requires(Role.METRICS)
async def metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    m = rt.metrics
    if m is None:
        return Response(b"", media_type="text/plain")
    idle.flush()  # the exchanges answered so far, counted
    sync_metrics(rt, m)
    accept = request.headers.get("accept")
    if m.multiprocess:
        # Merging every worker's files is file I/O: keep it off the event loop.
        body, ctype = await asyncio.to_thread(m.render, accept)
    else:
        body, ctype = m.render(accept)
    return Response(body, media_type=ctype)


def sync_metrics(rt: Runtime, m: Metrics) -> None:
    """The series that mirror state (config, circuits, store), set before a scrape."""
    snap = rt.snapshot
    if m.config_version != snap.version:
        m.config_version = snap.version
        m.config_hash = config_fingerprint(snap.cfg.model_dump(mode="json",
                                                               exclude=_SECRET_FIELDS))
    m.sync_config(snap.cfg.providers,
                  {a: STATE_VALUE[b.state] for a, b in rt.breakers.items()}, m.config_hash)
    if isinstance(rt.store, ResilientStore):
        # The store's last known state (no probe): the gauge must not depend on
        # something calling /readyz.
        m.store_degraded.set(1 if rt.store.degraded else 0)
