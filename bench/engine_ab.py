"""CPU of a request's body handling, routing, engine and upstream client: the working
tree against a git revision, in one process.

    python bench/engine_ab.py [--rev main] [--rounds 15] [--only WORD]

The revision's ``gateway`` package is exported (``git archive``) and imported under
another name (``gateway_<rev>``) beside the working tree's ``gateway``; each case runs
both in interleaved batches (who goes first alternates), timed in this thread's CPU
time (``time.thread_time_ns``), the medians of the batches printed (the collector set
as ``gateway.entry`` sets it). The configuration is ``config/gateway.yaml`` as shipped
(policy ``standard``, its three rules, the memory store), its providers pointed at the
benchmark's mock upstream (``harness/stream_server.py``, in its own process); the two
hot paths are the benchmark's requests (``bench/harness``): ``model: "auto"`` with the
short English prompt (routed to Claude: the chat -> Messages translation and back) and
``model: "kimi-k2"`` (the passthrough to Moonshot), ``max_tokens: 64``.

Cases, per path:

- ``intake``: ``bounds.parse_request`` (node count, parse, depth, message bounds) and
  the chat validator, on the request's bytes;
- ``decide``: ``routing.decide`` on the request's features (its ``RouteRequest`` built
  as the handler builds it);
- ``translate``: ``Engine._prepare`` (the codec's upstream body) and the upstream answer
  translated back (``codec.response``);
- ``post_json``: ``ProviderClient.post_json``, sequential calls on one keep-alive
  connection, either ``in memory`` (a transport that answers each request with the
  mock's bytes, as nginx sends them, on the next loop turn: the client's own CPU) or
  over ``loopback`` to the mock (the kernel's socket work included: noisier);
- ``Engine.complete``: the attempt loop with the two above, in memory and over loopback.

Before timing, the two sides' validated bodies, routing traces, upstream bodies and
answers are checked equal.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import uvloop

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from harness import payloads  # noqa: E402
from harness.mock import ANTHROPIC_RESPONSE, OPENAI_RESPONSE  # noqa: E402
from harness.payloads import Shape  # noqa: E402
from harness.procs import port_open  # noqa: E402
from revtree import alternate, import_revision, ratio_row  # noqa: E402
from surface_ab import free_port  # noqa: E402

Timed = Callable[[int], Awaitable[float]]  # n calls -> CPU us per call


class Side:
    """One version of the gateway's modules, set up for both paths."""

    def __init__(self, pkg: str, cfg_text: str, env: dict[str, str]) -> None:
        def mod(rel: str) -> ModuleType:
            return importlib.import_module(f"{pkg}.{rel}")

        self.config = mod("config")
        self.bounds = mod("bounds")
        self.routing = mod("routing")
        self.runtime = mod("runtime")
        self.engine_mod = mod("pipeline.engine")
        self.exchange_mod = mod("pipeline.exchange")
        self.openai = mod("surfaces.openai")
        self.features = mod("features")
        self.metrics_mod = mod("metrics")
        self.auth = mod("auth")
        self.store_mod = mod("stores.factory")
        self.limits_mod = mod("limits.charges")
        self.cfg = self.config.parse_config(cfg_text, env)
        self.surface = self.openai.SURFACE

    def start(self) -> None:
        """Inside the event loop: the runtime (its pools bind to the running loop)."""
        from prometheus_client import CollectorRegistry
        metrics = self.metrics_mod.Metrics(CollectorRegistry())
        store = self.store_mod.build_store(self.cfg.redis, "", metrics=metrics)
        self.rt = self.runtime.Runtime(self.cfg, metrics=metrics, store=store)
        # As Services builds it: the shipped config has the memory store, so limits.
        self.engine = self.engine_mod.Engine(self.rt, self.limits_mod.Limits(store, metrics))

    def intake(self, raw: bytes) -> dict[str, Any]:
        return self.surface.validate(self.bounds.parse_request(raw, self.cfg.server))

    def feats(self, body: dict[str, Any]) -> Any:
        return self.features.extract_features(body, surface="chat_completions",
                                              image_tokens=self.cfg.server.image_tokens)

    def route_req(self, body: dict[str, Any]) -> Any:
        return self.routing.RouteRequest(model=body["model"], key_name=None, key_policy=None,
                                         header_policy=None, headers={},
                                         metadata=body.get("metadata") or {})

    def decide(self, body: dict[str, Any], feats: Any) -> Any:
        return self.routing.decide(self.cfg, feats, self.route_req(body))

    def exchange(self, body: dict[str, Any]) -> Any:
        feats = self.feats(body)
        snap = self.rt.snapshot
        return self.exchange_mod.Exchange(
            surface=self.surface, snap=snap, body=body, request_id="0" * 32,
            client_headers={}, t0=time.perf_counter(), stream=False, features=feats,
            decision=self.decide(body, feats), caller=self.auth.ANONYMOUS)

    def translate(self, ex: Any, answer: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        alias = ex.decision.model
        model = ex.snap.cfg.models[alias]
        client = ex.snap.providers[model.provider]
        prep = self.engine._prepare(ex, model, client)
        out = self.surface.codec.response(client.kind, answer, prep, model.upstream)
        return prep.body, out


# The mock upstream's answers as nginx sends them (harness/mock.py): its usual headers.
def nginx_answer(obj: dict[str, Any]) -> bytes:
    body = orjson.dumps(obj)
    return (b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\n"
            b"Date: Mon, 07 Dec 2026 10:00:00 GMT\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s" % (len(body), body))


class MemTransport:
    """A connection's transport that answers each request with ``answer`` on the next
    loop turn, in memory: the client's own CPU without the kernel's (loopback sockets
    cost ~10 us a request in system time, and vary with the machine's load)."""

    def __init__(self, proto: Any, answer: bytes) -> None:
        self.proto = proto
        self.answer = answer
        self.loop = asyncio.get_running_loop()

    def writelines(self, parts: Any) -> None:
        self.loop.call_soon(self.proto.data_received, self.answer)

    def write(self, data: bytes) -> None:
        self.loop.call_soon(self.proto.data_received, self.answer)

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def in_memory(client: Any) -> Any:
    """A copy of ``client`` whose connections are ``MemTransport``s."""
    mem = type(client)(client.name, client.cfg)
    pool = mem.pool()
    answer = nginx_answer(upstream_answer(client.kind))
    h1 = sys.modules[type(client).__module__.rsplit(".", 1)[0] + ".h1"]

    async def connect() -> Any:
        conn = h1.Conn(pool)
        conn.connection_made(MemTransport(conn, answer))
        return conn
    pool._connect = connect
    return mem


def sync_case(fn: Callable[[], Any]) -> Timed:
    async def run(n: int) -> float:
        t0 = time.thread_time_ns()
        for _ in range(n):
            fn()
        return (time.thread_time_ns() - t0) / n / 1000
    return run


def async_case(fn: Callable[[], Awaitable[Any]]) -> Timed:
    async def run(n: int) -> float:
        t0 = time.thread_time_ns()
        for _ in range(n):
            await fn()
        return (time.thread_time_ns() - t0) / n / 1000
    return run


def cases_for(side: Side, path: str, raw: bytes) -> dict[str, Timed]:
    body = side.intake(raw)
    feats = side.feats(body)
    ex = side.exchange(body)
    model = ex.snap.cfg.models[ex.decision.model]
    client = ex.snap.providers[model.provider]
    answer = upstream_answer(client.kind)
    prep = side.engine._prepare(ex, model, client)
    mem = in_memory(client)

    def translate() -> None:
        side.translate(ex, answer)

    snap = ex.snap
    mem_snap = side.runtime.Snapshot(snap.cfg, snap.keyring, {
        name: in_memory(c) for name, c in snap.providers.items()}, snap.version)

    def complete(snap: Any) -> Callable[[], Awaitable[Any]]:
        def one() -> Awaitable[Any]:
            e = side.exchange_mod.Exchange(
                surface=ex.surface, snap=snap, body=body, request_id=ex.request_id,
                client_headers={}, t0=time.perf_counter(), stream=False, features=feats,
                decision=ex.decision, caller=ex.caller)
            return side.engine.complete(e)
        return one

    return {
        f"{path}: intake (parse, bounds, validate)": sync_case(lambda: side.intake(raw)),
        f"{path}: decide": sync_case(lambda: side.decide(body, feats)),
        f"{path}: translate (prepare + response)": sync_case(translate),
        f"{path}: post_json (in memory)": async_case(lambda: mem.post_json(prep.body)),
        f"{path}: post_json (loopback)": async_case(lambda: client.post_json(prep.body)),
        f"{path}: Engine.complete (in memory)": async_case(complete(mem_snap)),
        f"{path}: Engine.complete (loopback)": async_case(complete(snap)),
    }


def upstream_answer(kind: str) -> dict[str, Any]:
    """The mock's answer for a wire format (``hub.MESSAGES`` or ``hub.CHAT_COMPLETIONS``)."""
    return ANTHROPIC_RESPONSE if kind == "messages" else OPENAI_RESPONSE


def comparable(answer: dict[str, Any]) -> bytes:
    """An answer's bytes but for its ``created`` (the clock's second)."""
    return orjson.dumps({**answer, "created": 0})


async def same_outputs(old: Side, new: Side, raw: bytes) -> None:
    """The two sides send the same upstream bytes and answer the same."""
    a, b = old.intake(raw), new.intake(raw)
    assert a == b
    ea, eb = old.exchange(a), new.exchange(b)
    assert ea.decision.candidates == eb.decision.candidates
    assert ea.decision.trace == eb.decision.trace
    model = ea.snap.cfg.models[ea.decision.model]
    kind = ea.snap.providers[model.provider].kind
    ua, oa = old.translate(ea, upstream_answer(kind))
    ub, ob = new.translate(eb, upstream_answer(kind))
    assert orjson.dumps(ua) == orjson.dumps(ub)
    assert comparable(oa) == comparable(ob)
    ca = await old.engine.complete(ea)
    cb = await new.engine.complete(eb)
    assert comparable(ca) == comparable(cb)


async def run(args: argparse.Namespace, old: Side, new: Side) -> None:
    old.start()
    new.start()
    bodies = {
        "auto -> claude": payloads.dumps(payloads.openai_body(
            Shape("claude", "auto", max_tokens=64), "auto")),
        "kimi-k2": payloads.dumps(payloads.openai_body(
            Shape("kimi", "kimi-k2", max_tokens=64), "kimi-k2")),
    }
    for raw in bodies.values():
        await same_outputs(old, new, raw)
    gc.freeze()  # as gateway.entry does once the app is built
    gc.set_threshold(7000, 20, 20)
    avg = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"`python bench/engine_ab.py --rev {args.rev} --rounds {args.rounds}`, "
          f"load average {avg}\n")
    print(f"| case | {args.rev} us | working tree us | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for path, raw in bodies.items():
        olds, news = cases_for(old, path, raw), cases_for(new, path, raw)
        for name in olds:
            if args.only and args.only not in name:
                continue
            n = 200 if "loopback" in name else 2000
            fo, fn = olds[name], news[name]
            await fo(n // 4)
            await fn(n // 4)
            ro, rn = await alternate(partial(fo, n), partial(fn, n), args.rounds)
            print(ratio_row(name, ro, rn), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rev", default="main")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--only", default="", help="only the cases whose name contains this")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="engine-ab-"))
    port = free_port()
    cfg_text = (ROOT / "config" / "gateway.yaml").read_text()
    env = {"KIMI_BASE_URL": f"http://127.0.0.1:{port}/v1", "KIMI_API_KEY": payloads.KIMI_KEY,
           "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
           "ANTHROPIC_API_KEY": payloads.CLAUDE_KEY}
    server = subprocess.Popen([sys.executable, "-m", "harness.stream_server", "--port",
                               str(port)], cwd=BENCH,
                              env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{BENCH}"})
    try:
        old = Side(import_revision(args.rev, tmp), cfg_text, env)
        new = Side("gateway", cfg_text, env)
        while not port_open(port):
            time.sleep(0.05)
        uvloop.run(run(args, old, new))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
