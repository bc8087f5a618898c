"""``create_app(...) -> Starlette``: the gateway's HTTP application.

The lifespan owns the long-lived clients (provider pools, the store) and the config
watcher; nothing happens at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import openapi, validate
from .api.anthropic import routes as anthropic_routes
from .api.chat import proxy_request
from .api.context import Services
from .api.explain import explain
from .auth import bearer
from .emulators import (
    EmulatorControl,
    RunningServer,
    create_anthropic_app,
    create_moonshot_app,
    serve_in_loop,
)
from .errors import GatewayError, MethodNotAllowed, NotFound
from .http import error_response, json_response, request_id
from .runtime import Runtime
from .stores import ResilientStore
from .surfaces.openai import OpenAISurface

OPENAI = OpenAISurface()


async def start_demo_emulators(kimi_port: int, anthropic_port: int) -> list[RunningServer]:
    """``--demo``: the loopback emulators, in this process, on the ports the config names."""
    kimi = await serve_in_loop(create_moonshot_app(EmulatorControl()), port=kimi_port)
    claude = await serve_in_loop(create_anthropic_app(EmulatorControl()), port=anthropic_port)
    return [kimi, claude]


def _openai_key(request: Request) -> str | None:
    return bearer(request.headers.get("authorization"))


def _anthropic_key(request: Request) -> str | None:
    return request.headers.get("x-api-key") or bearer(request.headers.get("authorization"))


def create_app(rt: Runtime, *, log_prompts: bool = False, watch_config: bool = True,
               demo_ports: tuple[int, int] | None = None) -> Starlette:
    svc = Services(rt, log_prompts=log_prompts)

    async def chat_completions(request: Request) -> Response:
        return await proxy_request(request, svc, OPENAI, _openai_key, validate.chat_request)

    def _auth(request: Request, anthropic: bool = False) -> None:
        rt.snapshot.keyring.identify(_anthropic_key(request) if anthropic else _openai_key(request))

    async def models(request: Request) -> Response:
        _auth(request)
        created = int(time.time())
        cfg = rt.snapshot.cfg
        data = [{"id": "auto", "object": "model", "created": created, "owned_by": "gateway"}]
        data += [{"id": alias, "object": "model", "created": created, "owned_by": m.provider}
                 for alias, m in cfg.models.items()]
        return json_response({"object": "list", "data": data})

    async def route_explain(request: Request) -> Response:
        return await explain(request, rt, _openai_key)

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
        ok = not rt.draining
        if rt.draining:
            detail["reason"] = "shutting down"
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
        detail["status"] = "ready" if ok else "not ready"
        return json_response(detail, 200 if ok else 503)

    async def openapi_json(request: Request) -> Response:
        _public(request)
        return json_response(openapi.document(rt.snapshot.cfg))

    async def metrics(request: Request) -> Response:
        _public(request)
        if rt.metrics is None:
            return Response(b"", media_type="text/plain")
        body, ctype = rt.metrics.render()
        return Response(body, media_type=ctype)

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/gateway/route", route_explain, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *anthropic_routes(svc, _anthropic_key),
    ]

    def _surface(request: Request) -> str:
        return "anthropic" if request.url.path.startswith("/v1/messages") else "openai"

    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(exc, _surface(request), {"x-request-id": request_id(request.headers)})

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        err: GatewayError
        if exc.status_code == 405:
            err = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.")
        else:
            err = NotFound(f"Unknown path {request.url.path}.")
        return error_response(err, _surface(request), {"x-request-id": request_id(request.headers)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        demo = await start_demo_emulators(*demo_ports) if demo_ports else []
        watcher = asyncio.create_task(rt.watch()) if watch_config and rt.config_path else None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, rt.reload)
        try:
            yield
        finally:
            rt.draining = True
            if watcher is not None:
                watcher.cancel()
            await rt.close()
            for server in demo:
                await server.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={GatewayError: on_gateway_error, HTTPException: on_http_error})
    app.state.rt = rt
    app.state.svc = svc
    return app
