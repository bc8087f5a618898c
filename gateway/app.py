"""``create_app(...) -> Starlette``: the gateway's HTTP application.

The lifespan owns the long-lived clients (provider pools, the store) and the config
watcher; nothing happens at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import openapi, validate
from .api.anthropic import routes as anthropic_routes
from .api.chat import proxy_request
from .api.responses import routes as responses_routes
from .api.context import Services
from .api.explain import explain
from .api.models import anthropic_dialect
from .api.models import routes as model_routes
from .auth import bearer
from .breaker import STATE_VALUE
from .console import console_routes
from .emulators import (
    EmulatorControl,
    RunningServer,
    create_anthropic_app,
    create_moonshot_app,
    serve_in_loop,
)
from .errors import AuthError, GatewayError, MethodNotAllowed, NotFound
from .http import error_response, json_response, request_id
from .metrics import Metrics, config_fingerprint, mark_process_dead
from .runtime import Runtime
from .stores import ResilientStore
from .streaming import SSEResponse
from .surfaces.openai import OpenAISurface

OPENAI = OpenAISurface()
log = logging.getLogger("gateway")


async def start_demo_emulators(kimi_port: int, anthropic_port: int) -> list[RunningServer]:
    """``--demo``: the loopback emulators, in this process, on the ports the config names."""
    controls = [EmulatorControl(), EmulatorControl()]
    for control in controls:
        control.eager_tools = True  # a tool round trip works without naming the tool
    kimi = await serve_in_loop(create_moonshot_app(controls[0]), port=kimi_port)
    claude = await serve_in_loop(create_anthropic_app(controls[1]), port=anthropic_port)
    return [kimi, claude]


def _openai_key(request: Request) -> str | None:
    return bearer(request.headers.get("authorization"))


def _anthropic_key(request: Request) -> str | None:
    return request.headers.get("x-api-key") or bearer(request.headers.get("authorization"))


# Left out of gateway_config_info's hash: secrets (and the Redis URL, which may hold one).
_SECRET_FIELDS: Any = {"providers": {"__all__": {"api_key"}}, "keys": {"__all__": {"key"}},
                       "redis": {"url"}, "server": {"metrics_key"}}


def _hook_shutdown_signals(loop: asyncio.AbstractEventLoop, rt: Runtime,
                           grace_s: float) -> Callable[[], None]:
    """Start ``rt.drain`` on SIGTERM/SIGINT, then let uvicorn's own handler run.

    uvicorn installs its handlers with ``signal.signal`` (only in the main thread) before
    the lifespan starts; ours is chained in front of them, so both see the signal:
    uvicorn stops accepting and waits, the drain cuts streams at the grace period.
    Not in the main thread (a test server) or under a server without a Python handler,
    nothing is hooked and shutdown is that server's business. Returns the undo.
    """
    installed: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def hook(signum: int, frame: FrameType | None,
                 previous: Callable[[int, FrameType | None], Any] = previous) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(rt.drain.begin, grace_s)
            previous(signum, frame)

        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(sig, hook)
            installed[sig] = (hook, previous)

    def undo() -> None:
        for sig, (hook, previous) in installed.items():
            if signal.getsignal(sig) is hook:
                signal.signal(sig, previous)
    return undo


def create_app(rt: Runtime, *, log_prompts: bool = False, watch_config: bool = True,
               demo_ports: tuple[int, int] | None = None) -> Starlette:
    svc = Services(rt, log_prompts=log_prompts)

    async def chat_completions(request: Request) -> Response | SSEResponse:
        return await proxy_request(request, svc, OPENAI, _openai_key, validate.chat_request)

    def _auth(request: Request, anthropic: bool = False) -> None:
        rt.snapshot.keyring.identify(_anthropic_key(request) if anthropic else _openai_key(request))

    async def route_explain(request: Request) -> Response:
        return await explain(request, rt, _openai_key, svc.request_limits)

    def _public(request: Request) -> None:
        """Health and metrics answer without a key unless the config says otherwise."""
        if request.url.path not in rt.snapshot.cfg.server.public_paths:
            _auth(request)

    async def healthz(request: Request) -> Response:
        _public(request)
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        _public(request)
        detail: dict[str, Any] = {"config_version": rt.snapshot.version,
                                  "circuits": {a: b.snapshot() for a, b in rt.breakers.items()}}
        draining = rt.drain.draining
        ok = not draining
        store = rt.store
        if isinstance(store, ResilientStore):
            await store.ping()  # probe now, not just report the last call's outcome
            st = store.status()
            detail["store"] = st
            if rt.metrics is not None:
                rt.metrics.store_degraded.set(1 if st["degraded"] else 0)
            if not st["ok"]:
                ok = False
                mode = ("fail_open: still serving, limits per process and cache bypassed"
                        if st["on_error"] == "fail_open" else "fail_closed: refusing requests")
                detail["reason"] = f"Redis is unreachable ({st['error']}); {mode}"
        else:
            detail["store"] = {"store": "memory", "ok": True}
        if draining:  # the store's state must not overwrite why the replica is leaving
            detail["reason"] = "shutting down"
        detail["status"] = "ready" if ok else "not ready"
        return json_response(detail, 200 if ok else 503)

    async def openapi_json(request: Request) -> Response:
        _public(request)
        return json_response(openapi.document(rt.snapshot.cfg))

    async def metrics(request: Request) -> Response:
        metrics_key = rt.snapshot.cfg.server.metrics_key
        if metrics_key:  # its own credential, not a tenant's key (docs/hardening.md)
            presented = (_openai_key(request) or "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(presented, metrics_key.encode()):
                raise AuthError("/metrics needs `Authorization: Bearer <server.metrics_key>`.")
        else:
            _public(request)
        m = rt.metrics
        if m is None:
            return Response(b"", media_type="text/plain")
        _sync_metrics(m)
        accept = request.headers.get("accept")
        if m.multiprocess:
            # Merging every worker's files is file I/O: keep it off the event loop.
            body, ctype = await asyncio.to_thread(m.render, accept)
        else:
            body, ctype = m.render(accept)
        return Response(body, media_type=ctype)

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        *model_routes(rt, _openai_key, _anthropic_key),
        Route("/v1/gateway/route", route_explain, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *anthropic_routes(svc, _anthropic_key),
        *console_routes(rt, svc),
        *responses_routes(svc, _openai_key),
    ]

    def _surface(request: Request) -> str:
        path = request.url.path
        if path.startswith("/v1/messages") or (path.startswith("/v1/models")
                                               and anthropic_dialect(request.headers)):
            return "anthropic"
        return "openai"

    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(exc, _surface(request), {"x-request-id": request_id(request.headers)})

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        err: GatewayError
        if exc.status_code == 405:
            # RFC 9110: a 405 names the methods the path takes (Starlette's Allow).
            err = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.",
                                   headers=dict(exc.headers or {}))
        else:
            err = NotFound(f"Unknown path {request.url.path}.")
        return error_response(err, _surface(request), {"x-request-id": request_id(request.headers)})

    def _sync_metrics(m: Metrics) -> None:
        snap = rt.snapshot
        if fingerprint.get("version") != snap.version:
            fingerprint["version"] = snap.version
            fingerprint["hash"] = config_fingerprint(snap.cfg.model_dump(
                mode="json", exclude=_SECRET_FIELDS))
        m.sync_config(snap.cfg.providers,
                      {a: STATE_VALUE[b.state] for a, b in rt.breakers.items()},
                      fingerprint["hash"])
        if isinstance(rt.store, ResilientStore):
            # The store's last known state (no probe): the gauge must not depend on
            # something calling /readyz.
            m.store_degraded.set(1 if rt.store.degraded else 0)

    fingerprint: dict[str, Any] = {}

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # A bug of ours: log it with its traceback, answer in the surface's shape
        # without any detail (no traceback, no message that could carry a secret).
        rid = request_id(request.headers)
        log.error("unhandled error on %s (request %s)", request.url.path, rid, exc_info=exc)
        err = GatewayError("The gateway failed unexpectedly; the error was logged with this "
                           f"request's id ({rid}).")
        return error_response(err, _surface(request), {"x-request-id": rid})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        demo = await start_demo_emulators(*demo_ports) if demo_ports else []
        if rt.metrics is not None:
            _sync_metrics(rt.metrics)  # config series exist from the first scrape
        watcher = asyncio.create_task(rt.watch()) if watch_config and rt.config_path else None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, rt.reload)
        # Read once, like the CLI reads it for uvicorn's own timeout.
        grace_s = rt.snapshot.cfg.server.graceful_shutdown_s
        unhook = _hook_shutdown_signals(loop, rt, grace_s)
        try:
            yield
        finally:
            unhook()
            # Shutting down without our signal hook (a test server, another server):
            # /readyz says so from here on. After SIGTERM this is a no-op.
            rt.drain.begin(grace_s)
            if watcher is not None:
                watcher.cancel()
            await rt.close()
            for server in demo:
                await server.close()
            if rt.metrics is not None and rt.metrics.multiprocess:
                # This worker's in-flight and breaker gauges must stop counting; its
                # counters stay in the directory so the totals never go backwards.
                mark_process_dead(os.getpid())

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={GatewayError: on_gateway_error, HTTPException: on_http_error,
                                        Exception: on_unexpected})
    app.state.rt = rt
    app.state.svc = svc
    return app
