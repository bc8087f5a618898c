"""Run an emulator app on a loopback port: in a background thread with its own loop
(``EmulatorServer``, for synchronous tests and SDK clients) or inside a running loop
(``serve_in_loop``, for ``gateway serve --demo`` and async tests).

Both run uvicorn with ``EmulatorProtocol``, which hands the connection's transport to
the app (see ``wire.py``) so faults can reset connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Generator
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .wire import TRANSPORT_EXTENSION

START_TIMEOUT = 10.0


class EmulatorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, exposing the transport in each request's scope."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {TRANSPORT_EXTENSION: self.transport}  # type: ignore[dict-item]


class _QuietServer(uvicorn.Server):
    # uvicorn installs SIGINT/SIGTERM handlers when serving from the main thread;
    # an emulator inside the gateway's loop must leave the gateway's handlers alone.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose
    # proto says TCP, and without it every reused connection waits out a 40 ms
    # delayed ACK between the response headers and the body (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: ASGIApp) -> _QuietServer:
    config = uvicorn.Config(
        app,
        http=EmulatorProtocol,
        lifespan="off",
        log_level="warning",
        access_log=False,
        # Stopping must not wait long for a stream a test left stalled.
        timeout_graceful_shutdown=1,
    )
    return _QuietServer(config)


class EmulatorServer:
    """An app served on 127.0.0.1 and a free port, from a background thread.

    >>> with EmulatorServer(create_moonshot_app(control)) as server:
    ...     openai.OpenAI(base_url=server.url + "/v1", api_key="sk-emu-kimi")
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; still known after ``stop()``."""
        if self._url is None:
            raise RuntimeError("EmulatorServer is not started")
        return self._url

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            raise RuntimeError("EmulatorServer already started")
        self._sock = _bind(self.host, self.port)
        self._url = _url(self._sock)
        self._server = _server(self.app)
        self._thread = threading.Thread(target=self._run, name="emulator-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"emulator server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError("emulator server did not start in time")
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # surfaced by start(); a thread cannot raise
            self._error = exc

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # a connection would not finish: stop waiting for it
            self._server.force_exit = True
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RunningServer:
    """An emulator serving inside the caller's event loop."""

    def __init__(self, server: _QuietServer, task: asyncio.Task[Any], sock: socket.socket) -> None:
        self._server = server
        self._task = task
        self._sock = sock
        self.url = _url(sock)

    async def close(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self._sock.close()

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def serve_in_loop(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start serving ``app`` in the running loop; returns once it accepts connections."""
    sock = _bind(host, port)
    server = _server(app)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="emulator-server")
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if task.done():
            sock.close()
            exc = task.exception()
            raise RuntimeError(f"emulator server failed to start: {exc!r}")
        if time.monotonic() > deadline:
            task.cancel()
            sock.close()
            raise TimeoutError("emulator server did not start in time")
        await asyncio.sleep(0.005)
    return RunningServer(server, task, sock)
