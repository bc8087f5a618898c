"""Bookkeeping that need not delay the next request.

An exchange's record (metrics, access line, console) is published after its response
has left. Published at once, it runs before this process reads the client's next
request: at one request at a time, the client waits for it. Deferred here, it runs
while this process waits on an upstream (``while_waiting``, called by the upstream
client once a request is written), at the latest ``LATEST_S`` after it was queued, and
before anything reads what it produces (``flush``: the metrics scrape, the console,
shutdown). An exchange that called no upstream (a cache hit, a refusal) is published
at once, after what is queued (``Services.finish``): its traffic may bring no wait.

At one request at a time this takes the record's ~40 us off every request's path
(bench/README.md, "Third round"). Two costs, both small: a record waits up to
``LATEST_S`` for its access line and counters when the process is idle, and work run
during a wait is charged to that exchange's upstream time (``upstream_ms``) only if the
upstream answers before the work is done (a microsecond mock, not a model).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gateway")

LATEST_S = 0.002  # with no upstream wait to run in (an idle process), 2 ms late at most


class Deferred:
    """One loop's queue: jobs run in the order queued, each on its own (one that raises
    is logged and the rest still run)."""

    __slots__ = ("_jobs", "_loop", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, fn: Callable[..., Any], *args: Any) -> None:
        self._jobs.append((fn, args))
        if self._timer is None:
            self._timer = self._loop.call_later(LATEST_S, self.flush)

    def flush(self) -> None:
        while self._jobs:  # a job may queue more (its record's own sinks): they run too
            jobs, self._jobs = self._jobs, []
            for fn, args in jobs:
                try:
                    fn(*args)
                except Exception:
                    log.exception("deferred bookkeeping failed")
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if _PENDING.get(self._loop) is self:
            del _PENDING[self._loop]


# A loop's queue, while it holds work (so a closed loop leaves nothing behind).
_PENDING: dict[asyncio.AbstractEventLoop, Deferred] = {}


def defer(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` soon, on this loop, off the path of the next request."""
    loop = asyncio.get_running_loop()
    d = _PENDING.get(loop)
    if d is None:
        d = _PENDING[loop] = Deferred(loop)
    d.add(fn, *args)


def while_waiting(loop: asyncio.AbstractEventLoop) -> None:
    """This process is waiting on I/O it just started (an upstream's answer)."""
    d = _PENDING.get(loop)
    if d is not None:
        d.flush()


def flush() -> None:
    """Run this loop's deferred work now: before reading what it produces."""
    while_waiting(asyncio.get_running_loop())
