"""Slow and surplus client connections (slowloris), per process.

uvicorn closes a keep-alive connection idle for ``timeout_keep_alive`` (5 s), but
once a client has sent one byte of a request head it waits for the rest forever, and
it accepts connections until the process runs out of file descriptors; then nothing,
``/healthz`` included, can connect. ``GuardedHttpTools`` (what ``gateway serve``
runs) adds:

- **a head deadline**: a connection must send a complete request head within
  ``server.head_timeout_s`` of when it started waiting for one (its opening, or the
  end of its previous response); otherwise it gets a 408 (if it had sent part of a
  head) and is closed;
- **a connection cap**: at most ``server.max_connections`` open per process. A
  connection past the cap takes the place of the one that has waited longest for a
  head (slow or idle: it is doing nothing for anyone); only when every connection is
  busy with a request is the newcomer refused with a 503. So a flood of slow clients
  can never lock out a health check or a real client, and idle keep-alive connections
  are bounded by the same cap (the oldest go first);
- **enough descriptors**: ``configure`` raises the soft ``RLIMIT_NOFILE`` to what the
  cap needs (up to the hard limit) and lowers the cap, with a warning, if the hard
  limit is too low.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from .http import HeaderLimitedHttpTools

log = logging.getLogger("gateway")

# Descriptors kept free beside client connections: upstream connections, Redis,
# the listening socket, log and metric files.
RESERVE_FDS = 256


class GuardedHttpTools(HeaderLimitedHttpTools):
    head_timeout_s = 10.0
    max_connections = 4096
    # Per process (uvicorn's protocol instances of this process): all open connections,
    # and those waiting for a head, oldest first (dicts keep insertion order).
    _open: set[GuardedHttpTools] = set()
    _waiting: dict[GuardedHttpTools, None] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False  # some bytes of the awaited head arrived

    # -- waiting for a head ----------------------------------------------------------
    def _await_head(self) -> None:
        self._head_started = False
        self._waiting.pop(self, None)
        self._waiting[self] = None
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_expired)

    def _head_done(self) -> None:
        self._waiting.pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self not in self._waiting or self.transport.is_closing():
            return
        self._waiting.pop(self, None)
        if self._head_started:
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n"
                                 b"connection: close\r\n\r\n")
        self.transport.close()

    # -- uvicorn's protocol -----------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._open.add(self)
        if len(self._open) > self.max_connections:
            victim = next(iter(self._waiting), None)
            if victim is None:
                self._open.discard(self)
                transport.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
                                b"connection: close\r\nretry-after: 1\r\n\r\n")
                transport.close()
                return
            victim._head_done()
            victim._open.discard(victim)
            victim.transport.close()
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._open.discard(self)
        self._head_done()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._head_started = True
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._await_head()


def configure(server: Any, reserve: int = RESERVE_FDS) -> None:
    """Apply ``server``'s (a ``ServerConfig``) limits to this process's connections."""
    GuardedHttpTools.head_timeout_s = server.head_timeout_s
    want = server.max_connections + reserve
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    cap = server.max_connections
    if soft != resource.RLIM_INFINITY and soft - reserve < cap:
        cap = max(16, soft - reserve)
        log.warning("server.max_connections %d lowered to %d: this process may open only "
                    "%d files (raise `ulimit -n`)", server.max_connections, cap, soft)
    GuardedHttpTools.max_connections = cap
