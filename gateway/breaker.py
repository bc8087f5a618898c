"""Per-model circuit breakers: stop sending to a model that keeps failing.

closed --(N consecutive failures)--> open --(cool-down)--> half_open
half_open --(probe succeeds)--> closed;  half_open --(probe fails)--> open
In half_open exactly one request (the probe) is let through at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class Breaker:
    def __init__(self, failures: int, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._on_change = on_change
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_change:
                self._on_change(state)

    def allow(self) -> bool:
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if self._clock() - self.opened_at < self.cooldown_s:
                return False
            self._set(HALF_OPEN)
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        self.failures = 0
        self._probing = False
        self._set(CLOSED)

    def failure(self) -> None:
        self.failures += 1
        self._probing = False
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.opened_at = self._clock()
            self._set(OPEN)

    def release_probe(self) -> None:
        """A probe that ended without a verdict (e.g. client left) frees the slot."""
        self._probing = False

    def snapshot(self) -> dict[str, object]:
        return {"state": self.state, "consecutive_failures": self.failures}
