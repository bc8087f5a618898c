"""The two phases of a run, each with its own upstream and its own set of systems.

Phase 1 (nginx mock upstream): non-streaming throughput and latency, big prompts,
cache hits and misses, the httpx A/B, the memory soak, profiles. Phase 2 (the
asyncio streaming upstream): time to first byte, a long stream, many streams.
Within a phase every system runs beside the others and each measurement goes round
the systems in turn (rotating who goes first), so drift of the machine hits all alike.
"""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from . import profile as prof
from .mock import mock_conf, nginx_argv
from .payloads import FRENCH_PROMPT, SHORT_PROMPT, UNIQUE, Call, Shape, stream_prompt
from .plan import Plan
from .procs import Procs, RssSampler, free_port, port_open, rss_mb
from .results import Results, Row
from .streams import long_stream, many_streams, ttfb_run
from .systems import Phase, System, installed, make
from .wrk import LoadResult, run_wrk

GATEWAYS = ("gateway", "gateway-redis")
PLAIN = ("direct", "nginx", "gateway", "gateway-redis")
SOAK_REQUESTS = 100_000
STREAM_MODELS = (("kimi", "kimi-k2"), ("claude", "claude-opus"))
SURFACES = (("chat", ""), ("responses", "-responses"))  # the Responses rows: gateways only


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Runner:
    def __init__(self, plan: Plan, names: Sequence[str], procs: Procs, workdir: Path,
                 outdir: Path, results: Results, *, profile: bool, ab: bool,
                 alt: Path | None = None) -> None:
        self.plan = plan
        self.names = list(names)
        self.procs = procs
        self.workdir = workdir
        self.outdir = outdir
        self.results = results
        self.profile = profile
        self.ab = ab
        self.alt = alt
        self.redis_url = ""
        self._turn = 0

    # -- shared ---------------------------------------------------------------------
    def start_redis(self) -> None:
        port = free_port()
        proc = self.procs.start("redis", ["redis-server", "--port", str(port), "--bind",
                                          "127.0.0.1", "--save", "", "--appendonly", "no",
                                          "--dir", str(self.workdir)])
        self.procs.wait_ready(proc, lambda: port_open(port))
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    def start_systems(self, phase: Phase, names: Sequence[str]) -> list[System]:
        started = []
        for name in names:
            if not installed(name):
                self.results.skipped[name] = "not installed (bench/run.sh installs it)"
                continue
            sys_ = make(name, self.alt)
            try:
                sys_.start(self.procs, phase)
            except RuntimeError as exc:
                self.results.skipped[name] = f"did not start: {str(exc).splitlines()[0]}"
                log(f"{name} did not start: {exc}")
                continue
            started.append(sys_)
        return started

    def alt_names(self) -> list[str]:
        if self.alt is None:
            return []
        return [f"{n}-alt" for n in GATEWAYS if n in self.names]

    def rotate(self, systems: Sequence[System]) -> list[System]:
        self._turn += 1
        k = self._turn % len(systems)
        return list(systems[k:]) + list(systems[:k])

    def load(self, scenario: str, sys_: System, shape: Shape, c: int, *,
             unique: bool = False, seconds: float | None = None) -> Row | None:
        call = sys_.call(shape)
        if call is None:
            return None
        with RssSampler(sys_.pid) as rss:
            r = run_wrk(sys_.port, call, connections=c, seconds=seconds or self.plan.load_s,
                        workdir=self.workdir, unique=unique)
        cpu_us = rss.cpu_s / r.requests * 1e6 if r.requests else 0.0
        row = Row(scenario, sys_.name, c, round(r.rps, 1), r.p50_ms, r.p99_ms,
                  round(rss.peak, 1), r.errors, r.requests, round(cpu_us, 1))
        self.results.add(row)
        log(f"{scenario:<12} {sys_.name:<14} c={c:<3} {r.rps:9.1f} req/s  p50 {r.p50_ms:8.3f} ms"
            f"  p99 {r.p99_ms:8.3f} ms  cpu {cpu_us:7.0f} us/req  rss {rss.peak:6.1f} MB"
            f"  errors {r.errors}")
        return row

    def warm(self, systems: Sequence[System], shapes: Sequence[Shape], c: int = 16) -> None:
        if not self.plan.warm_s:
            return
        for s in systems:
            for shape in shapes:
                call = s.call(shape)
                if call is not None:
                    run_wrk(s.port, call, connections=c, seconds=self.plan.warm_s,
                            workdir=self.workdir)

    # -- phase 1 --------------------------------------------------------------------
    def http_phase(self) -> None:
        reader_port, port = free_port(), free_port()
        reader = self.procs.start("body-reader", [*_python(), "-m", "harness.stream_server",
                                                  "--port", str(reader_port)], cwd=_bench_dir())
        self.procs.wait_ready(reader, lambda: port_open(reader_port))
        up = self.procs.start("mock", nginx_argv(mock_conf(port, self.workdir, reader_port),
                                                 self.workdir))
        self.procs.wait_ready(up, lambda: port_open(port))
        phase = Phase(port, up, self.workdir, self.redis_url)
        names = self.names + (["gateway-httpx"] if self.ab and "gateway" in self.names else [])
        names += self.alt_names()
        log(f"phase 1 (nginx mock on :{port}): starting {', '.join(names)}")
        systems = self.start_systems(phase, names)
        kimi, claude = Shape("kimi", "kimi-k2"), Shape("claude", "claude-opus")
        self.warm(systems, [kimi, claude])
        by = {s.name: s for s in systems}
        main = [s for s in systems if s.name != "gateway-httpx"]

        resp = [(f"{p}-responses", Shape(p, a, surface="responses"), names)
                for p, a in STREAM_MODELS]
        for scenario, shape, sys_names in (("kimi", kimi, names), ("claude", claude, names),
                                           *resp):
            for c in self.plan.concurrency:
                for s in self.rotate([by[n] for n in sys_names if n in by]):
                    self.load(scenario, s, shape, c)
        plain = [s for s in main if s.name in PLAIN or s.name.endswith("-alt")]
        auto = Shape("claude", "auto")
        for c in (1, 16):
            for s in self.rotate(plain):
                self.load("auto-short", s, auto, c)
        for size in self.plan.big_sizes:
            big = Shape("kimi", "auto", big=size)
            label = f"auto-{size // 1_000_000}MB"
            self.warm(plain, [big], c=1)  # 16 x 10 MB in flight would be ~700 MB of RSS
            for s in self.rotate(plain):
                self.load(label, s, big, 1, seconds=self.plan.big_s)
        gws = [s for s in main if s.name in GATEWAYS or s.name.endswith("-alt")]
        hit = Shape("kimi", "kimi-k2", temperature=0)
        miss = Shape("kimi", "kimi-k2", temperature=0, prompt=f"{SHORT_PROMPT} {UNIQUE}")
        self.warm(gws, [hit])
        for c in (1, 16):
            for s in self.rotate(gws):
                self.load("cache-hit", s, hit, c)
                self.load("cache-miss", s, miss, c, unique=True)
        soaker = by.get("gateway-redis") or by.get("gateway")
        if soaker is not None:
            # A fresh process: "RSS after N requests" must not carry the 10 MB prompts.
            soaker.stop(self.procs)
            soaker.start(self.procs, phase)
            self.warm([soaker], [kimi])
            self.soak(soaker, kimi)
            self.language_load(soaker)
        if self.profile:
            for s in [x for x in (by.get("gateway-redis") or by.get("gateway"),) if x]:
                for label, shape in (("kimi", kimi), ("claude", claude),
                                     ("auto-10MB", Shape("kimi", "auto", big=10_000_000))):
                    self.profile_under_load(s, label, shape)
        for s in systems:
            s.stop(self.procs)
        self.procs.stop(up)
        self.procs.stop(reader)

    def soak(self, s: System, shape: Shape) -> None:
        log(f"soak: {s.name}, c=16 for {self.plan.soak_s:.0f} s, RSS sampled every second")
        call = s.call(shape)
        assert call is not None
        start_rss = rss_mb(s.pid)
        with RssSampler(s.pid, interval=1.0) as rss:
            r = run_wrk(s.port, call, connections=16, seconds=self.plan.soak_s,
                        workdir=self.workdir)
            if not self.plan.soak_s < 10 and r.requests < SOAK_REQUESTS and r.rps:
                # Go on until 100,000 requests (at most one more minute).
                more = run_wrk(s.port, call, connections=16, workdir=self.workdir,
                               seconds=min(60, (SOAK_REQUESTS - r.requests) / r.rps + 2))
                r = LoadResult(r.requests + more.requests, r.seconds + more.seconds,
                               r.errors + more.errors, r.p50_ms, r.p90_ms, r.p99_ms,
                               max(r.max_ms, more.max_ms))
        pts = rss.samples
        half = [p for p in pts if p[0] >= pts[-1][0] / 2] if len(pts) > 4 else pts
        self.results.soak = {
            "system": s.name, "seconds": round(r.seconds, 1), "requests": r.requests,
            "errors": r.errors, "rps": round(r.rps, 1), "rss_start_mb": round(start_rss, 1),
            "rss_end_mb": round(pts[-1][1], 1), "rss_peak_mb": round(rss.peak, 1),
            "slope_mb_per_min": round(_slope(half) * 60, 3),
            "slope_window_s": round(half[-1][0] - half[0][0], 1) if half else 0,
        }
        log(f"soak: {self.results.soak}")

    def language_load(self, s: System) -> None:
        """The first non-English Latin-script prompt makes the detector load its models."""
        call = s.call(Shape("kimi", "kimi-k2", prompt=FRENCH_PROMPT))
        assert call is not None
        times = []
        before = rss_mb(s.pid)
        for _ in range(2):
            t0 = time.perf_counter()
            req = urllib.request.Request(f"http://127.0.0.1:{s.port}{call.path}", data=call.body,
                                         headers=call.headers, method="POST")
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
            times.append((time.perf_counter() - t0) * 1000)
        self.results.language = {"system": s.name, "first_ms": round(times[0], 1),
                                 "second_ms": round(times[1], 2), "rss_before_mb": round(before, 1),
                                 "rss_after_mb": round(rss_mb(s.pid), 1)}
        log(f"first French prompt: {self.results.language}")

    def profile_under_load(self, s: System, label: str, shape: Shape) -> None:
        call = s.call(shape)
        assert call is not None
        c = 1 if "MB" in label else 16
        out = self.outdir / f"profile-{s.name}-{label}"
        log(f"profile: py-spy on {s.name} ({label}, c={c}) for {self.plan.profile_s:.0f} s")

        def load() -> None:
            run_wrk(s.port, call, connections=c, seconds=self.plan.profile_s + 1,
                    workdir=self.workdir)
        summary = prof.record(s.pid, self.plan.profile_s, out, load)
        self.results.profiles[f"{s.name}/{label}"] = summary

    # -- phase 2 --------------------------------------------------------------------
    def _stream_calls(self, systems: Sequence[System], scenarios: list[tuple[Shape, str]]
                      ) -> Iterator[tuple[str, System, Call]]:
        """For each (shape, scenario): every system that can serve the shape, in turn
        (who goes first rotates per scenario)."""
        for shape, scen in scenarios:
            for s in self.rotate(systems):
                call = s.call(shape)
                if call is not None:
                    yield scen, s, call

    def stream_phase(self) -> None:
        port = free_port()
        up = self.procs.start("stream-upstream", [*_python(), "-m", "harness.stream_server",
                                                  "--port", str(port)], cwd=_bench_dir())
        self.procs.wait_ready(up, lambda: port_open(port))
        phase = Phase(port, up, self.workdir, self.redis_url)
        log(f"phase 2 (streaming upstream on :{port}): starting {', '.join(self.names)}")
        systems = self.start_systems(phase, self.names + self.alt_names())
        p = self.plan
        res = self.results.streams
        ttfb = [(Shape(prov, alias, stream=True, prompt=stream_prompt(p.ttfb_chunks, 0),
                       surface=surface), f"stream-{prov}{tag}-ttfb")
                for surface, tag in SURFACES for prov, alias in STREAM_MODELS]
        for scen, s, call in self._stream_calls(systems, ttfb):
            with RssSampler(s.pid) as rss:
                t = asyncio.run(ttfb_run(s.port, call, p.ttfb_streams))
            res.setdefault(scen, {})[s.name] = {
                **asdict(t), "rss_mb": round(rss.peak, 1),
                "cpu_us_per_stream": round(rss.cpu_s / (t.n + 1) * 1e6)}
            log(f"{scen} {s.name:<14} ttfb p50 {t.p50_ms:.3f} ms p99 {t.p99_ms:.3f} ms "
                f"errors {t.errors}")
        long = [(Shape(prov, alias, stream=True, prompt=stream_prompt(p.long_chunks, 0),
                     surface=surface), f"stream-{prov}{tag}-long")
                for surface, tag in SURFACES for prov, alias in STREAM_MODELS]
        for scen, s, call in self._stream_calls(systems, long):
            with RssSampler(s.pid) as rss:
                lr = asyncio.run(long_stream(s.port, call))
            res.setdefault(scen, {})[s.name] = {
                **asdict(lr), "rss_mb": round(rss.peak, 1),
                "cpu_us_per_event": round(rss.cpu_s / lr.events * 1e6, 1) if lr.ok else 0}
            log(f"{scen} {s.name:<14} {lr.events} events {lr.us_per_event:.1f} us/event "
                f"flatness {lr.flatness:.2f} {lr.error}")
        many = [(Shape("kimi", "kimi-k2", stream=True,
                       prompt=stream_prompt(p.many_chunks, p.many_delay_ms)), "stream-kimi-many")]
        for scen, s, call in self._stream_calls(systems, many):
            with RssSampler(s.pid) as rss:
                mr = asyncio.run(many_streams(s.port, call, p.many_streams))
            res.setdefault(scen, {})[s.name] = {
                **asdict(mr), "rss_mb": round(rss.peak, 1),
                "cpu_us_per_event": round(rss.cpu_s / mr.events * 1e6, 1) if mr.events else 0}
            log(f"{scen} {s.name:<14} {mr.ok}/{mr.n} ok, peak open {mr.peak_open}, "
                f"{mr.seconds:.1f} s, errors {mr.errors}")
        for s in systems:
            s.stop(self.procs)
        self.procs.stop(up)


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (MB per second) of RSS over time."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (v - my) for t, v in points) / den if den else 0.0


def _python() -> list[str]:
    return [sys.executable]


def _bench_dir() -> Path:
    return Path(__file__).resolve().parents[1]

