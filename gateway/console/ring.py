"""The recent-decision ring: the last N access records, for the console.

Fed by ``Services.sinks`` from the pipeline's one finish step, with the access
record as logged (prompts only when prompt logging is on). Always kept in this
process's memory; with Redis configured also pushed to one Redis list shared by every
worker and replica (``LPUSH``, trimmed to N every ``TRIM_EVERY`` pushes so the list
holds at most N + TRIM_EVERY entries), which is what the console reads while Redis
answers. Pushes are fire-and-forget and batched: the records finished in one
event-loop turn go out as one ``LPUSH`` in a task of its own, which no request waits
for; a failed push is dropped (the memory ring still has the records).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

import orjson

from ..stores import ResilientStore
from ..stores.resp import RespClient

log = logging.getLogger("gateway")

TRIM_EVERY = 16
RING_KEY = "console:decisions"


class DecisionRing:
    def __init__(self, store: Any, size: int) -> None:
        self.size = size
        # (time, record): its entry (``_entry``) is made when it is read, as most
        # records are pushed out of the ring unread.
        self._mem: collections.deque[tuple[float, dict[str, Any]]] = collections.deque(
            maxlen=size)
        self._redis = store.primary if isinstance(store, ResilientStore) else None
        self._store = store
        self._pushes = 0
        self._pending: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def key(self) -> str:
        assert self._redis is not None
        return str(self._redis.prefix) + RING_KEY

    def resize(self, size: int) -> None:
        if size != self.size:
            self.size = size
            self._mem = collections.deque(self._mem, maxlen=size)

    def add(self, rec: dict[str, Any]) -> None:
        """Keep ``rec``, which its publisher does not change afterwards."""
        now = time.time()
        self._mem.append((now, rec))
        if self._redis is None or self._store.down:
            return
        self._pending.append(_entry(now, rec))
        if len(self._pending) == 1:  # the first of this event-loop turn schedules the push
            try:
                task = asyncio.ensure_future(self._flush())
            except RuntimeError:  # no running loop (a test calling finish directly)
                self._pending.clear()
                return
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _command(self, *args: Any, later: bool = False) -> Any:
        assert self._redis is not None
        client = self._redis.client
        async with asyncio.timeout(self._redis.deadline_s):
            if isinstance(client, RespClient):
                return await (client.execute_later(*args) if later else client.execute(*args))
            return await client.execute_command(*args)

    async def _flush(self) -> None:
        """One LPUSH for every record finished since the last flush (oldest first, so
        the newest ends at the head), and an LTRIM when TRIM_EVERY more were pushed."""
        batch, self._pending = self._pending, []
        before = self._pushes
        self._pushes += len(batch)
        commands = [self._command("LPUSH", self.key,
                                  *(orjson.dumps(e, default=str) for e in batch), later=True)]
        if self._pushes // TRIM_EVERY != before // TRIM_EVERY:
            # Sent with the LPUSH, not after its reply: a command of its own would cost
            # Redis a read (and the socket a write) of its own.
            commands.append(self._command("LTRIM", self.key, 0, self.size - 1, later=True))
        for result in await asyncio.gather(*commands, return_exceptions=True):
            if isinstance(result, Exception):  # best effort: the memory ring keeps them
                log.debug("recent-decision push failed: %r", result)

    async def recent(self, limit: int | None = None) -> tuple[str, list[dict[str, Any]]]:
        """(source, records newest first): Redis's list while it answers, else memory."""
        n = min(limit or self.size, self.size)
        if self._redis is not None and not self._store.down:
            try:
                raw = await self._command("LRANGE", self.key, 0, n - 1)
                return "redis", [orjson.loads(bytes(r)) for r in raw]
            except Exception as exc:
                log.debug("recent-decision read failed: %r", exc)
        items = [_entry(t, rec) for t, rec in list(self._mem)[-n:]]
        items.reverse()
        return "memory", items


def _entry(t: float, rec: dict[str, Any]) -> dict[str, Any]:
    """The ring's entry of a record added at time ``t``."""
    return {"time": round(t, 3), **rec}
