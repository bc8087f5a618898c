"""``create_app(...) -> GatewayApp``: the gateway's HTTP application.

The lifespan owns the long-lived clients (provider pools, the store) and the config
watcher; nothing happens at import.

Every route is a Starlette route, but a surface's proxy ``POST`` (the hot path: every
model call) does not go through Starlette's middleware stack and router: ``GatewayApp``
hands it to the pipeline's handler directly and renders what that handler does not
(an unexpected exception) exactly as Starlette's stack would. Starlette's per-request
layers (two middlewares, the router's walk of every route, the endpoint wrapper, each
wrapping ``send``) cost about a tenth of a request's CPU (bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from types import FrameType
from typing import Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from . import idle
from .api import ops
from .api.explain import explain
from .api.models import ROUTES as MODEL_ROUTES
from .api.proxy import surface_routes
from .console import console_routes
from .direct import DirectCycle
from .emulators import (
    EmulatorControl,
    RunningServer,
    create_anthropic_app,
    create_moonshot_app,
    serve_in_loop,
)
from .errors import GatewayError, MethodNotAllowed, NotFound
from .http import JSONResponse, ProxiedRequest, error_response, request_id
from .metrics import mark_process_dead
from .pipeline.handler import proxy_request
from .pipeline.services import Services
from .runtime import Runtime
from .surfaces import SURFACES, dialect_for
from .surfaces.surface import Surface

log = logging.getLogger("gateway")


async def start_demo_emulators(kimi_port: int, anthropic_port: int) -> list[RunningServer]:
    """``--demo``: the loopback emulators, in this process, on the ports the config names."""
    controls = [EmulatorControl(), EmulatorControl()]
    for control in controls:
        control.eager_tools = True  # a tool round trip works without naming the tool
    kimi = await serve_in_loop(create_moonshot_app(controls[0]), port=kimi_port)
    claude = await serve_in_loop(create_anthropic_app(controls[1]), port=anthropic_port)
    return [kimi, claude]


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


async def on_gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc, dialect_for(request.url.path, request.headers),
                          {"x-request-id": request_id(request.headers)})


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    err: GatewayError
    if exc.status_code == 405:
        # RFC 9110: a 405 names the methods the path takes (Starlette's Allow).
        err = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.",
                               headers=dict(exc.headers or {}))
    else:
        err = NotFound(f"Unknown path {request.url.path}.")
    return error_response(err, dialect_for(request.url.path, request.headers),
                          {"x-request-id": request_id(request.headers)})


async def on_unexpected(request: Request, exc: Exception) -> Response:
    # A bug of ours: log it with its traceback, answer in the surface's shape
    # without any detail (no traceback, no message that could carry a secret).
    rid = request_id(request.headers)
    log.error("unhandled error on %s (request %s)", request.url.path, rid, exc_info=exc)
    err = GatewayError("The gateway failed unexpectedly; the error was logged with this "
                       f"request's id ({rid}).")
    return error_response(err, dialect_for(request.url.path, request.headers),
                          {"x-request-id": rid})


OPS_ROUTES = [
    Route("/v1/gateway/route", explain, methods=["POST"]),
    Route("/healthz", ops.healthz, methods=["GET"]),
    Route("/readyz", ops.readyz, methods=["GET"]),
    Route("/metrics", ops.metrics, methods=["GET"]),
    Route("/openapi.json", ops.openapi_json, methods=["GET"]),
]


class GatewayApp:
    """The ASGI application: a surface's proxy ``POST`` straight to ``proxy_request``,
    everything else (and the lifespan) to the Starlette app.

    For the routes it takes it does what Starlette's stack would do with them: the
    same handler, an unexpected exception logged and answered by ``on_unexpected`` (if
    no response has started) and re-raised for the server to log, as Starlette's
    ``ServerErrorMiddleware`` does. A request under a ``root_path`` goes to Starlette,
    whose router knows how to strip it.
    """

    __slots__ = ("_proxied", "_svc", "direct_routes", "starlette")

    def __init__(self, starlette: Starlette, svc: Services, surfaces: tuple[Surface, ...]
                 ) -> None:
        self.starlette = starlette
        self._svc = svc
        self._proxied = {s.path: s for s in surfaces}
        # What the gateway's own protocol serves without the ASGI cycle (direct.py):
        # the same handler, by the exact raw path.
        self.direct_routes: dict[bytes, Callable[[DirectCycle], Awaitable[None]]] = {
            s.path.encode("ascii"): functools.partial(self._direct, surface=s)
            for s in surfaces}

    @property
    def state(self) -> Any:
        return self.starlette.state

    @property
    def routes(self) -> list[BaseRoute]:
        return self.starlette.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            surface = self._proxied.get(scope["path"])
            if surface is not None:
                await self._proxy(scope, receive, send, surface)
                return
        await self.starlette(scope, receive, send)

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, surface: Surface
                     ) -> None:
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        await self._handle(ProxiedRequest(scope, receive, send), surface, sending,
                           lambda: started)

    async def _direct(self, cycle: DirectCycle, surface: Surface) -> None:
        """A proxy request on the direct way (``http.HeaderLimitedHttpTools``): its body
        taken whole and a JSON answer written whole by the cycle, anything else (a
        stream, an answer the cycle leaves to ASGI) sent through it as ASGI messages."""
        send = cast(Send, cycle.send)
        request = ProxiedRequest(cast(Scope, cycle.scope), cast(Receive, cycle.receive), send,
                                 cycle.whole_body)
        await self._handle(request, surface, send, lambda: cycle.response_started,
                           cycle.answer)

    async def _handle(self, request: ProxiedRequest, surface: Surface, send: Send,
                      started: Callable[[], bool],
                      answer: Callable[[int, list[tuple[str, str]], bytes], bool] | None = None
                      ) -> None:
        scope, receive = request.scope, request.receive
        scope["app"] = self.starlette  # what Starlette sets for its endpoints
        try:
            response = await proxy_request(request, self._svc, surface)
            if (answer is not None and type(response) is JSONResponse
                    and response.given_only()
                    and answer(response.status_code, response.head_fields(),
                               bytes(response.body))):
                if response.background is not None:
                    await response.background()
            else:
                await response(scope, receive, send)
        except Exception as exc:
            failed = await on_unexpected(request, exc)
            if not started():
                await failed(scope, receive, send)
            raise


def create_app(rt: Runtime, *, log_prompts: bool = False, watch_config: bool = True,
               demo_ports: tuple[int, int] | None = None) -> GatewayApp:
    """The app: every surface's routes from ``surfaces.SURFACES``, the models list, the
    operations endpoints and the console; endpoints find the runtime and the services
    in ``app.state`` (``rt``, ``svc``)."""
    svc = Services(rt, log_prompts=log_prompts)
    routes = [*surface_routes(svc), *MODEL_ROUTES, *OPS_ROUTES, *console_routes(rt, svc)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        demo = await start_demo_emulators(*demo_ports) if demo_ports else []
        if rt.metrics is not None:
            ops.sync_metrics(rt, rt.metrics)  # config series exist from the first scrape
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
            idle.flush()  # what was answered is counted and logged
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
    return GatewayApp(app, svc, SURFACES)
