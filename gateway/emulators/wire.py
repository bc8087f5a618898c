"""Connection-level tricks an ASGI app cannot normally play: dropping the TCP
connection, and noticing that the client left while a response is written.

ASGI gives an app no handle on its connection, so ``server.py`` runs uvicorn with a
protocol that puts the asyncio transport into ``scope["extensions"]`` under
``TRANSPORT_EXTENSION``. Without it (another server, an in-process ASGI transport)
``drop_connection`` raises instead: uvicorn then closes the connection if headers
were sent, or answers 500 if not.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType
from typing import Any

from starlette.types import Receive, Scope

TRANSPORT_EXTENSION = "gateway.emulators.transport"


class NoTransportError(ConnectionAbortedError):
    """The app runs without the emulator protocol, so it cannot reset the socket."""


def connection_transport(scope: Scope) -> asyncio.Transport | None:
    extensions: dict[str, Any] = scope.get("extensions") or {}
    # No isinstance check: uvloop's transports do not derive from asyncio's classes.
    return extensions.get(TRANSPORT_EXTENSION)


def drop_connection(scope: Scope, *, rst: bool) -> None:
    """Close the client's TCP connection under the response.

    ``rst``: an abortive close (SO_LINGER 0 makes the kernel send RST, the client
    gets ECONNRESET). Otherwise a plain FIN, which the client reads as a body that
    ended early; every byte written before it still arrives.
    """
    transport = connection_transport(scope)
    if transport is None:
        raise NoTransportError("emulator: no transport in scope to drop the connection")
    if rst:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


class DisconnectWatch:
    """Listens for ``http.disconnect`` in a task while the app writes its response.

    The request body must have been read already: after it, the server's receive()
    only answers when the client leaves (or the response is complete).
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DisconnectWatch:
        self._task = asyncio.create_task(self._listen())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._event.set()
                return

    @property
    def disconnected(self) -> bool:
        return self._event.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep, waking early if the client leaves. True when the full time passed."""
        if seconds <= 0:
            return not self.disconnected
        try:
            await asyncio.wait_for(self._event.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False

    async def wait(self, timeout: float) -> bool:
        """Wait for the client to be gone; True if it went within ``timeout``."""
        return not await self.sleep(timeout)
