"""Graceful shutdown: the drain that starts with SIGTERM and cuts streams at its end.

uvicorn, on SIGTERM, stops accepting, lets open requests finish and, when its
``timeout_graceful_shutdown`` runs out, cancels what is left: a cancelled stream just
stops, which a client cannot tell from a network fault. So the gateway runs its own
clock, started by the same signal (``app.py`` chains a hook in front of uvicorn's
handler): at ``server.graceful_shutdown_s`` every stream still open is ended with a
final SSE error event by ``Engine.relay``, and uvicorn's own timeout, set
``SHUTDOWN_MARGIN_S`` later by the CLI, only has finished work to collect.

A relay waiting for the upstream's next event is cancelled at the deadline (its
``Cut`` knows the cancellation was ours and turns it into the error event); a relay
handing a chunk to the client is not interrupted mid-send and sees ``Cut.expired``
right after it.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger("gateway")

# uvicorn's hard timeout is the grace period plus this: time for the cut streams to send
# their error event, close upstream connections and reconcile usage in the store.
SHUTDOWN_MARGIN_S = 2.0

SHUTTING_DOWN_MESSAGE = ("the gateway is shutting down and the stream outlived its "
                         "graceful-shutdown period ({grace:g} s); retry the request")


class Cut:
    """One open stream's link to the drain; created by ``Drain.watch()``."""

    __slots__ = ("_cancelled", "_drain", "_task", "expired", "waiting")

    def __init__(self, drain: Drain, task: asyncio.Task[object] | None) -> None:
        self._drain = drain
        self._task = task
        self.waiting = False  # True only while awaiting the upstream's next event
        self.expired = drain.expired
        self._cancelled = False

    def _expire(self) -> None:
        self.expired = True
        if self.waiting and self._task is not None:
            self._cancelled = True
            self._task.cancel("graceful shutdown period over")

    def absorb_cancel(self) -> bool:
        """True (and the task un-cancelled) if the drain caused the current cancel."""
        if not self._cancelled or self._task is None:
            return False
        self._cancelled = False
        self._task.uncancel()
        return True

    def close(self) -> None:
        self._drain._cuts.discard(self)


class Drain:
    """Per-process shutdown state; ``begin`` is called once from the signal hook."""

    def __init__(self) -> None:
        self.began_at: float | None = None
        self.grace_s = 0.0
        self.expired = False
        self._cuts: set[Cut] = set()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def draining(self) -> bool:
        return self.began_at is not None

    def begin(self, grace_s: float) -> None:
        """Start the grace period (idempotent: a second SIGTERM does not extend it)."""
        if self.began_at is not None:
            return
        self.began_at = time.monotonic()
        self.grace_s = grace_s
        log.info("shutting down: %d stream(s) open, %g s to finish", len(self._cuts), grace_s)
        self._timer = asyncio.get_running_loop().call_later(grace_s, self.expire)

    def expire(self) -> None:
        self.expired = True
        if self._cuts:
            log.warning("graceful shutdown period over: ending %d open stream(s) with an "
                        "error event", len(self._cuts))
        for cut in list(self._cuts):
            cut._expire()

    def watch(self) -> Cut:
        """Register the calling task's stream until ``Cut.close()``."""
        try:
            task: asyncio.Task[object] | None = asyncio.current_task()
        except RuntimeError:
            task = None
        cut = Cut(self, task)
        self._cuts.add(cut)
        return cut

    def message(self) -> str:
        return SHUTTING_DOWN_MESSAGE.format(grace=self.grace_s)
