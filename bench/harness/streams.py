"""The streaming client: time to first byte, chunk rate over a long stream, and many
streams held at once. aiohttp on uvloop; every stream is checked to end properly
(``[DONE]`` or ``message_stop``) with no error event.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field

import aiohttp

from .payloads import Call

ENDINGS = (b"data: [DONE]", b'"message_stop"')
RESPONSES_END = b"event: response.completed"  # followed by the whole response object
ERROR_MARKS = (b"event: error", b'data: {"error"')


@dataclass
class StreamStats:
    ok: bool
    status: int
    ttfb_s: float
    total_s: float
    events: int
    marks: list[tuple[float, int]] = field(default_factory=list)  # (t, events so far)
    error: str = ""


async def one_stream(session: aiohttp.ClientSession, url: str, call: Call, *,
                     record: bool = False, timeout_s: float = 120) -> StreamStats:
    t0 = time.perf_counter()
    ttfb = 0.0
    events = 0
    tail = b""
    marks: list[tuple[float, int]] = []
    completed = False
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(url, data=call.body, headers=call.headers) as resp:
                if resp.status != 200:
                    body = await resp.read()
                    return StreamStats(False, resp.status, 0, time.perf_counter() - t0, 0,
                                       error=body[:200].decode(errors="replace"))
                async for chunk in resp.content.iter_any():
                    now = time.perf_counter()
                    if not ttfb:
                        ttfb = now - t0
                    joined = tail + chunk
                    # Count "data:" lines; the tail keeps a marker split across reads.
                    events += joined.count(b"data:") - tail.count(b"data:")
                    if any(m in joined for m in ERROR_MARKS):
                        return StreamStats(False, 200, ttfb, now - t0, events,
                                           error="error event in stream")
                    completed = completed or RESPONSES_END in joined
                    tail = joined[-32:]
                    if record:
                        marks.append((now - t0, events))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return StreamStats(False, 0, ttfb, time.perf_counter() - t0, events,
                           error=type(exc).__name__)
    ok = completed or any(e in tail for e in ENDINGS)
    return StreamStats(ok, 200, ttfb, time.perf_counter() - t0, events, marks,
                       "" if ok else "stream ended without its last event")


def _session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, force_close=False),
                                 timeout=aiohttp.ClientTimeout(total=None))


@dataclass
class TtfbResult:
    n: int
    errors: int
    p50_ms: float
    p99_ms: float
    total_p50_ms: float


async def ttfb_run(port: int, call: Call, n: int) -> TtfbResult:
    """n streams one after another (concurrency 1, keep-alive): time to first byte."""
    url = f"http://127.0.0.1:{port}{call.path}"
    async with _session(1) as s:
        await one_stream(s, url, call)  # warm the connection
        res = [await one_stream(s, url, call) for _ in range(n)]
    good = [r for r in res if r.ok]
    ttfbs = sorted(r.ttfb_s * 1000 for r in good) or [0.0]
    return TtfbResult(n, n - len(good), statistics.median(ttfbs),
                      ttfbs[min(len(ttfbs) - 1, int(len(ttfbs) * 0.99))],
                      statistics.median(r.total_s * 1000 for r in good) if good else 0.0)


@dataclass
class LongResult:
    ok: bool
    events: int
    total_s: float
    us_per_event: float
    quarter_us: list[float]      # microseconds per event in each quarter of the stream
    flatness: float              # last quarter / second quarter (1.0 = flat)
    error: str = ""


async def long_stream(port: int, call: Call) -> LongResult:
    url = f"http://127.0.0.1:{port}{call.path}"
    async with _session(1) as s:
        r = await one_stream(s, url, call, record=True, timeout_s=300)
    if not r.ok or r.events < 20:
        return LongResult(False, r.events, r.total_s, 0, [], 0, r.error)
    # When each quarter of the events had arrived, interpolated between reads (the
    # first quarter includes the start-up, so the second is the reference).
    def at(target: float) -> float:
        prev_t, prev_e = r.ttfb_s, 0
        for t, ev in r.marks:
            if ev >= target:
                return prev_t + (t - prev_t) * (target - prev_e) / max(1, ev - prev_e)
            prev_t, prev_e = t, ev
        return r.marks[-1][0]
    bounds = [r.ttfb_s] + [at(r.events * k / 4) for k in (1, 2, 3, 4)]
    per = r.events / 4
    quarter = [(b - a) / per * 1e6 for a, b in itertools.pairwise(bounds)]
    flat = quarter[3] / quarter[1] if quarter[1] > 0 else 0.0
    return LongResult(True, r.events, r.total_s, (r.total_s - r.ttfb_s) / r.events * 1e6,
                      quarter, flat)


@dataclass
class ManyResult:
    n: int
    ok: int
    errors: dict[str, int]
    peak_open: int
    seconds: float
    events: int
    ttfb_p50_ms: float = 0.0
    ttfb_max_ms: float = 0.0


async def many_streams(port: int, call: Call, n: int) -> ManyResult:
    """n streams opened together and held to their end."""
    url = f"http://127.0.0.1:{port}{call.path}"
    open_now = peak = 0
    t0 = time.perf_counter()

    async with _session(0) as s:
        async def one() -> StreamStats:
            nonlocal open_now, peak
            open_now += 1
            peak = max(peak, open_now)
            try:
                return await one_stream(s, url, call, timeout_s=120)
            finally:
                open_now -= 1
        res = await asyncio.gather(*(one() for _ in range(n)))
    errors: dict[str, int] = {}
    for r in res:
        if not r.ok:
            key = r.error or f"status {r.status}"
            errors[key[:80]] = errors.get(key[:80], 0) + 1
    ttfbs = sorted(r.ttfb_s * 1000 for r in res if r.ok) or [0.0]
    return ManyResult(n, sum(r.ok for r in res), errors, peak, time.perf_counter() - t0,
                      sum(r.events for r in res), statistics.median(ttfbs), ttfbs[-1])
