"""CPU of finishing one non-streamed request (``Services.finish``), this tree against a
git revision, both loaded in one process.

    python bench/finish_ab.py [--rev main] [--rounds 40] [--profile]

Each side is a whole app (``create_app``) of its own source tree (the revision is
exported with ``git archive`` and imported as the package ``gateway_<rev>``) on
``config/gateway.yaml`` as shipped: memory store, cache as shipped, no keys, metrics on,
the console's decision ring, and the JSON access log of ``setup_logging`` written to
/dev/null. Requests are ``model: "auto"`` with the bench's short English prompt (the
OpenAI -> Anthropic path, answered by harness/stream_server.py), sent through the app
in process (``httpx.ASGITransport``). Two cases, old and new interleaved batch by batch,
median of the batches' thread CPU time per finish:

- in the pipeline: batches of 20 requests, one at a time (as at c=1); only the app's
  ``finish`` calls are timed, so they run with the caches as a whole request leaves
  them (the access line's write, in the next loop turn, is not in the figure);
- tight loop: the ``Exchange`` of one such request finished 16 times in one loop turn
  (the turn's lines written once, as at concurrency 16).

Each side's ``setup_logging`` is installed before its batch (the ``gateway.access``
logger is one for both). Before timing, one finish of each side is checked to write the
same access line (times and ids aside) and to move the same metric series by the same
amounts. ``--profile`` prints a cProfile of the working tree's tight loop instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib
import io
import logging
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import orjson
import uvloop

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from harness import payloads
from harness.payloads import Shape
from revtree import alternate, import_revision, ratio_row

SHIPPED = ROOT / "config" / "gateway.yaml"
BATCH = 16
REQUESTS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Side:
    """One tree's app on the shipped config, and the exchange of one ``auto`` request."""

    def __init__(self, pkg: str, upstream: int, devnull: Any) -> None:
        self.pkg = pkg
        mod: Callable[[str], ModuleType] = lambda m: importlib.import_module(f"{pkg}.{m}")
        self.logs = mod("logs")
        env = {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{upstream}",
               "KIMI_BASE_URL": f"http://127.0.0.1:{upstream}/v1",
               "ANTHROPIC_API_KEY": payloads.CLAUDE_KEY, "KIMI_API_KEY": payloads.KIMI_KEY}
        cfg = mod("config").load_config(SHIPPED, env)
        self.metrics = mod("metrics").Metrics()
        store = mod("stores.factory").build_store(cfg.redis, "", metrics=self.metrics)
        self.rt = mod("runtime").Runtime(cfg, env=env, metrics=self.metrics, store=store)
        self.app = mod("app").create_app(self.rt, watch_config=False)
        self.svc = self.app.state.svc
        self.devnull = devnull
        self.secrets = mod("entry").secrets_of(cfg)
        self.captured: list[tuple[Any, ...]] = []
        self.age = 0.0  # seconds from the captured request's start to its finish
        self.spent_ns = 0  # thread CPU time in the app's finish calls
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(self.app),
                                        base_url="http://gw")
        self.call = payloads.gateway_call(Shape("claude", "auto", max_tokens=64))
        self._spy()

    def _spy(self) -> None:
        """The app's ``finish`` timed, and its first call's arguments kept."""
        svc, real = self.svc, self.svc.finish

        async def spy(*args: Any) -> None:
            if not self.captured:
                self.captured.append(args)
                self.age = time.perf_counter() - args[0].t0
            t0 = time.thread_time_ns()
            await real(*args)
            self.spent_ns += time.thread_time_ns() - t0

        svc.finish = spy

    def install_logging(self) -> None:
        stderr, sys.stderr = sys.stderr, self.devnull
        try:
            self.logs.setup_logging("info", "json", source=lambda: self.secrets)
        finally:
            sys.stderr = stderr

    async def send(self) -> None:
        r = await self.client.post(self.call.path, content=self.call.body,
                                   headers=self.call.headers)
        assert r.status_code == 200, r.text

    async def capture(self) -> None:
        """One request; its exchange is what the tight loop finishes."""
        await self.send()
        ex = self.captured[0][0]
        assert ex.provider == "claude" and ex.decision.rule == "default", ex
        self.finished = self.captured[0]

    def finish_once(self) -> None:
        # Nothing to await on this config (no keys, nothing stored): the coroutine ends
        # at its first step.
        # As old as the request was when it finished (its duration and overhead, which
        # the histograms observe, as they were).
        self.finished[0].t0 = time.perf_counter() - self.age
        coro: Coroutine[Any, Any, None] = type(self.svc).finish(self.svc, *self.finished)
        try:
            coro.send(None)
        except StopIteration:
            return
        raise AssertionError("finish awaited something")

    async def requests(self) -> float:
        """CPU us per finish over a batch of requests sent one at a time."""
        self.install_logging()
        self.spent_ns = 0
        for _ in range(REQUESTS):
            await self.send()
        return self.spent_ns / REQUESTS / 1000

    async def batch(self) -> float:
        """CPU us per finish over one batch finished in one loop turn, lines written."""
        self.install_logging()
        t0 = time.thread_time_ns()
        for _ in range(BATCH):
            self.finish_once()
        await asyncio.sleep(0)  # the handler writes the turn's lines
        await asyncio.sleep(0)
        return (time.thread_time_ns() - t0) / BATCH / 1000


def one_line(side: Side) -> dict[str, Any]:
    """The access line of one finish (outside a loop: written at once), times dropped."""
    out = io.StringIO()
    stderr, sys.stderr = sys.stderr, out
    try:
        side.logs.setup_logging("info", "json", source=lambda: side.secrets)
    finally:
        sys.stderr = stderr
    side.finish_once()
    logging.getLogger("gateway").handlers[0].flush()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    # The fields in their order; times and durations (of the live request) aside.
    rec = orjson.loads(lines[0])
    for k in ("time", "duration_ms", "overhead_ms", "upstream_ms", "request_id", "pid"):
        rec[k] = "-"
    return rec


def series(side: Side) -> list[tuple[str, tuple[tuple[str, str], ...], float | None]]:
    """The app's ``gateway_*`` samples in exposition order, times (creation times, the
    buckets and sums of durations) blanked."""
    out = []
    for fam in side.metrics.registry.collect():
        for s in fam.samples:
            timed = s.name.endswith("_created") or (
                any(w in s.name for w in ("duration", "overhead", "first_token"))
                and not s.name.endswith("_count"))
            if s.name.startswith("gateway_"):
                value = None if timed else s.value
                out.append((s.name, tuple(s.labels.items()), value))
    return out


def check_same(old: Side, new: Side) -> None:
    """One finish of each side: the same access line; the same series, in the same
    order, with the same values (both apps have served the same requests)."""
    lo, ln = one_line(old), one_line(new)
    assert list(lo.items()) == list(ln.items()), (lo, ln)
    so, sn = series(old), series(new)
    assert so == sn, [(a, b) for a, b in zip(so, sn) if a != b]
    old.finish_once(), new.finish_once()
    assert series(old) == series(new) != so


async def run(a: argparse.Namespace, old: Side, new: Side) -> None:
    await old.capture()
    await new.capture()
    check_same(old, new)
    if a.profile:
        new.install_logging()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(500):
            await new.batch()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    avg = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"`python bench/finish_ab.py --rev {a.rev} --rounds {a.rounds}`, "
          f"load average {avg}")
    print()
    print(f"| Services.finish, `auto` -> claude, non-stream | batches | {a.rev} us "
          "| working tree us | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    cases = [("in the pipeline (c=1)", Side.requests, 5),
             ("tight loop (16 a loop turn)", Side.batch, 25)]
    for name, fn, k in cases:
        for _ in range(3):
            await fn(old), await fn(new)  # warm
        olds, news = await alternate(partial(fn, old), partial(fn, new), a.rounds * k)
        print(ratio_row(f"{name} | {len(olds)}", olds, news))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rev", default="main")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="finish-ab-"))
    up = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{BENCH}"}
    mock = subprocess.Popen([sys.executable, "-m", "harness.stream_server", "--port",
                             str(up)], cwd=BENCH, env=env)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", up), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        old = Side(import_revision(a.rev, tmp), up, devnull)
        new = Side("gateway", up, devnull)
        # As the server does once its app is built (entry.app_from_env).
        gc.collect()
        gc.freeze()
        gc.set_threshold(7000, 20, 20)
        uvloop.run(run(a, old, new))  # the server's loop (cli.py)
    finally:
        mock.terminate()
        mock.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
