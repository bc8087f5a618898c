"""The headline rows: the gateway on ``config/gateway.yaml`` as shipped, against the peers.

    python -m harness.shipped [--rounds 3] [--seconds 5] [--paths auto,kimi]
                              [--systems gateway,litellm,portkey] [--out PATH]

The setup of issue #21, which users would reproduce: one process per system, an nginx
mock upstream, ``wrk -t1 -c16``, 5 s runs interleaved (the systems in turn, twice, then
the gateway a third time; the median per system), only 2xx answers counted. The gateway
runs the shipped config unchanged (policy ``standard``, its three rules, cache as shipped,
no gateway keys, the memory store) with its access log on stderr. Two paths, with
``max_tokens: 64``: ``model: "auto"`` with a short English prompt (rule ``default`` ->
claude-opus: the OpenAI -> Anthropic translation; the peers are sent ``claude-opus``
directly, they do not route) and ``model: "kimi-k2"`` (the passthrough). Each round ends
with c=1 runs of the gateway and of ``direct`` (the mock sent what the gateway sends
upstream) for the added latency.

``--systems`` also takes variants of the gateway (``VARIANTS``: one factor changed each,
e.g. ``gateway,gw-open,gw-log-devnull``; the server layer, ``floor-*`` and ``gw-granian``;
``gw-alt`` with ``--alt TREE``) to measure what a factor is worth: their turns are
interleaved, who goes first rotating, and each gets a row. ``--variants`` does the same
for the gateway and the peers, ``--busy N`` runs every other turn beside N busy loops
(contention), ``--profile``/``--cprofile`` profile the gateway(s) after the runs
(bench/README.md, "The shipped configuration").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import profile as prof
from .mock import mock_conf, nginx_argv
from .payloads import Call, Shape, direct_call, litellm_call, portkey_call
from .procs import Procs, RssSampler, cpu_split_s, free_port, port_open, thread_cpu_s, tree
from .systems import BENCH, ROOT, LiteLLM, Phase, Portkey, _http_ok, gateway_config, installed
from .wrk import run_wrk

SHIPPED = ROOT / "config" / "gateway.yaml"
MAX_TOKENS = 64
PATHS = {
    # path: (the gateway's request, the peers' request: they cannot route "auto")
    "auto": (Shape("claude", "auto", max_tokens=MAX_TOKENS),
             Shape("claude", "claude-opus", max_tokens=MAX_TOKENS)),
    "kimi": (Shape("kimi", "kimi-k2", max_tokens=MAX_TOKENS),
             Shape("kimi", "kimi-k2", max_tokens=MAX_TOKENS)),
    "claude": (Shape("claude", "claude-opus", max_tokens=MAX_TOKENS),
               Shape("claude", "claude-opus", max_tokens=MAX_TOKENS)),
    # temperature 0: cacheable (mode deterministic, as shipped), so every request after
    # the first is a cache hit (the gateway's own answer; the peers cache nothing here)
    "kimi-hit": (Shape("kimi", "kimi-k2", max_tokens=MAX_TOKENS, temperature=0),
                 Shape("kimi", "kimi-k2", max_tokens=MAX_TOKENS, temperature=0)),
}
PEERS = ("litellm", "portkey")


@dataclass(frozen=True)
class Variant:
    """The gateway with one thing changed from the shipped setup."""

    config: str = "shipped"                 # shipped | bench (harness/systems.py's config)
    edits: tuple[tuple[str, str], ...] = ()  # text replacements in the shipped YAML
    sink: str = "file"                      # where stderr (the access log) goes: procs.start
    env: tuple[tuple[str, str], ...] = ()
    server: str = "uvicorn"                 # uvicorn (as ``gateway serve``) | granian
    cprofile: bool = False                  # under harness/cprofile_serve.py (``--cprofile``)
    args: tuple[str, ...] = ()              # more arguments of the server (granian's)
    root: Path | None = None                # another source tree (``--alt``): gw-alt
    app: str = "gateway"                    # gateway | floor (harness/floor_app.py) |
                                            # proxy-raw | proxy-uvicorn (harness/floor_proxy.py)


VARIANTS: dict[str, Variant] = {
    "gateway": Variant(),
    "gw-open": Variant(edits=(("default_policy: standard", "default_policy: open"),)),
    "gw-cache-off": Variant(edits=(("cache:\n  enabled: true", "cache:\n  enabled: false"),)),
    "gw-log-devnull": Variant(sink="devnull"),
    "gw-log-pipe": Variant(sink="pipe"),
    "gw-log-tty": Variant(sink="tty"),
    "gw-log-tmux": Variant(sink="tmux"),  # a terminal: a detached tmux session's pane
    "gw-log-warning": Variant(env=(("GATEWAY_LOG_LEVEL", "warning"),)),  # access log off
    "gw-human-log": Variant(env=(("GATEWAY_LOG_FORMAT", "human"),)),
    "gw-bench-config": Variant(config="bench"),  # the harness's config (open, cache on)
    # The HTTP server layer (bench/run.sh installs granian into bench/.granian for these).
    "gw-granian": Variant(server="granian"),
    "gw-cprofile": Variant(cprofile=True),
    "floor-uvicorn": Variant(app="floor"),
    "floor-granian": Variant(app="floor", server="granian"),
    # granian with its own (Rust) task implementation instead of asyncio's Task.
    "gw-granian-rust": Variant(server="granian", args=("--task-impl", "rust")),
    "floor-granian-rust": Variant(app="floor", server="granian", args=("--task-impl", "rust")),
    # A relay with no gateway work: the floor of a Python proxy, bare and under uvicorn.
    "floor-proxy": Variant(app="proxy-raw"),
    "floor-proxy-uvicorn": Variant(app="proxy-uvicorn"),
}
GRANIAN = BENCH / ".granian"  # pip --target: granian is no dependency of the project


@dataclass
class Sys:
    name: str
    port: int
    pid: int
    calls: dict[str, Call] = field(default_factory=dict)  # path -> request
    routes: dict[str, str] = field(default_factory=dict)  # path -> "rule -> upstream model"


def _gateway_call(shape: Shape) -> Call:
    # No gateway key: the shipped config has none set (open access).
    req: dict[str, Any] = {"model": shape.alias, "max_tokens": shape.max_tokens, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": shape.prompt}]}
    if shape.temperature is not None:
        req["temperature"] = shape.temperature
    body = json.dumps(req, separators=(",", ":")).encode()
    return Call("/v1/chat/completions", {"content-type": "application/json"}, body)


def start_gateway(procs: Procs, name: str, v: Variant, upstream: int, workdir: Path,
                  root: Path = ROOT) -> Sys:
    port = free_port()
    if v.config == "bench":
        text = gateway_config(upstream, limits=False)
    else:
        text = SHIPPED.read_text()
        for old, new in v.edits:
            if old not in text:
                raise RuntimeError(f"{name}: {old!r} is not in {SHIPPED}")
            text = text.replace(old, new)
    cfg = workdir / f"{name}.yaml"
    cfg.write_text(text)
    env: dict[str, str | None] = {
        "PYTHONPATH": str(root), "REDIS_URL": "", "GATEWAY_KEY_TEAM_A": None,
        "KIMI_BASE_URL": f"http://127.0.0.1:{upstream}/v1", "KIMI_API_KEY": "sk-bench-kimi",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{upstream}",
        "ANTHROPIC_API_KEY": "sk-ant-bench", **dict(v.env)}
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    if v.cprofile:
        env["PYTHONPATH"] = f"{root}{os.pathsep}{BENCH}"
        argv[1:3] = ["-m", "harness.cprofile_serve", str(workdir / f"{name}.pstats")]
    if v.app == "floor":
        env["PYTHONPATH"] = str(BENCH)
    if v.server == "granian":
        env["PYTHONPATH"] = f"{GRANIAN}{os.pathsep}{env['PYTHONPATH']}"
        env["GATEWAY_CONFIG"] = str(cfg)
        target = ("harness.floor_app:app" if v.app == "floor"
                  else "gateway.entry:app_from_env")
        argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
                "--http", "1", "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
                "--no-access-log", "--log-level", "warning", *v.args,
                *(["--factory"] if v.app == "gateway" else []), target]
    elif v.app.startswith("proxy-"):
        env["PYTHONPATH"] = str(BENCH)
        argv = [sys.executable, "-m", "harness.floor_proxy", v.app.removeprefix("proxy-"),
                "--port", str(port), "--upstream", str(upstream)]
    elif v.app == "floor":
        argv = [sys.executable, "-m", "uvicorn", "harness.floor_app:app", "--loop", "uvloop",
                "--http", "httptools", "--host", "127.0.0.1", "--port", str(port),
                "--no-access-log", "--log-level", "warning"]
    ready = f"http://127.0.0.1:{port}/readyz"
    if v.sink == "tmux":
        pid = _in_tmux(procs, name, argv, env, root)
        deadline = time.monotonic() + 60
        while not _http_ok(ready):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready in tmux")
            time.sleep(0.1)
    else:
        proc = procs.start(name, argv, env=env, cwd=root if v.app == "gateway" else BENCH,
                           sink=v.sink)
        procs.wait_ready(proc, lambda: _http_ok(ready))
        pid = proc.pid
    sys_ = Sys(name, port, pid, {p: _gateway_call(g) for p, (g, _) in PATHS.items()})
    for path, call in sys_.calls.items():
        req = urllib.request.Request(f"http://127.0.0.1:{port}{call.path}", data=call.body,
                                     headers=call.headers, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            sys_.routes[path] = (f"{r.headers.get('x-gateway-route')} -> "
                                 f"{r.headers.get('x-gateway-model')}")
    return sys_


TMUX: list[tuple[str, int]] = []  # (tmux socket, pane pid) started here, ended at the end


def _in_tmux(procs: Procs, name: str, argv: list[str], env: dict[str, str | None],
             root: Path) -> int:
    """Run ``argv`` in a detached tmux session (a terminal that keeps its screen and
    scrollback, as when the gateway runs in a terminal window); its pid."""
    sock = f"bench-{os.getpid()}-{name}"
    sets = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if v is not None)
    unsets = " ".join(f"-u {k}" for k, v in env.items() if v is None)
    cmd = (f"cd {shlex.quote(str(root))} && exec env {unsets} {sets} "
           + " ".join(shlex.quote(a) for a in argv))
    procs.start(f"{name}-tmux", ["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d",
                                 "-x", "200", "-y", "50", "-s", "g", cmd]).popen.wait(10)
    out = subprocess.run(["tmux", "-L", sock, "list-panes", "-F", "#{pane_pid}"],
                         capture_output=True, text=True, check=True, timeout=10)
    pid = int(out.stdout.split()[0])
    TMUX.append((sock, pid))
    return pid


def stop_tmux() -> None:
    """End the panes' processes first (SIGTERM, then SIGKILL): the SIGHUP of
    ``kill-server`` does not reach a process that ignores it (started under nohup)."""
    for sock, pid in TMUX:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if not _alive(pid):
                break
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, check=False,
                       timeout=10)
        # The server leaves its socket file behind.
        tmp = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (tmp / sock).unlink(missing_ok=True)
    TMUX.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_peer(procs: Procs, name: str, phase: Phase) -> Sys:
    peer = LiteLLM() if name == "litellm" else Portkey()
    peer.start(procs, phase)
    calls = {}
    for p, (_, shape) in PATHS.items():
        calls[p] = (litellm_call(shape) if name == "litellm"
                    else portkey_call(shape, phase.upstream_port))
    return Sys(name, peer.port, peer.pid, calls)


def measure(s: Sys, path: str, c: int, seconds: float, workdir: Path) -> dict[str, Any]:
    load = os.getloadavg()[0]
    u0, s0 = cpu_split_s(s.pid)
    m0 = thread_cpu_s(_server_pid(s.pid))
    with RssSampler(s.pid) as rss:
        r = run_wrk(s.port, s.calls[path], connections=c, seconds=seconds, workdir=workdir)
    u1, s1 = cpu_split_s(s.pid)
    m1 = thread_cpu_s(_server_pid(s.pid))
    ok = max(r.ok, 1)
    row = {"system": s.name, "path": path, "c": c, "rps": round(r.ok / r.seconds, 1),
           "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "non2xx": r.non2xx, "errors": r.errors,
           "cpu_us": round(rss.cpu_s / ok * 1e6, 1), "load": round(load, 2),
           "user_us": round((u1 - u0) / ok * 1e6, 1), "sys_us": round((s1 - s0) / ok * 1e6, 1),
           # The share of the CPU on the serving process's main thread (1.0: one thread).
           "main_thread": round((m1 - m0) / max(rss.cpu_s, 1e-9), 2)}
    print(f"[shipped {time.strftime('%H:%M:%S')}] {path:<6} {s.name:<16} c={c:<3} "
          f"{row['rps']:9.1f} 2xx/s p50 {r.p50_ms:7.3f} p99 {r.p99_ms:7.3f} ms "
          f"cpu {row['cpu_us']:6.0f} us (sys {row['sys_us']:4.0f}, main thread "
          f"{row['main_thread']:.2f}) non2xx {r.non2xx} "
          f"load {load:.2f}", flush=True)
    return row


def _server_pid(pid: int) -> int:
    """The process that serves: ``pid``, or its only child (granian's worker, LiteLLM's
    uvicorn under its launcher)."""
    kids = tree(pid)[1:]
    return kids[-1] if len(kids) == 1 else pid


def run(names: list[str], paths: list[str], rounds: int, seconds: float, c: int,
        reps: int, latency: bool, workdir: Path, procs: Procs,
        profile_s: float = 0, cprofile_s: float = 0, variants: bool = False,
        busy: int = 0) -> dict[str, Any]:
    """The headline (``names`` has only ``gateway`` and peers, unless ``variants``) or
    variants of the gateway (and peers), interleaved. ``busy``: every other turn of the
    variants runs beside that many busy-looping processes (CPU contention, as when other
    work shares the machine)."""
    headline = not variants and all(n == "gateway" or n in PEERS for n in names)
    reader_port, port = free_port(), free_port()
    reader = procs.start("body-reader", [sys.executable, "-m", "harness.stream_server",
                                         "--port", str(reader_port)], cwd=BENCH)
    procs.wait_ready(reader, lambda: port_open(reader_port))
    up = procs.start("mock", nginx_argv(mock_conf(port, workdir, reader_port), workdir))
    procs.wait_ready(up, lambda: port_open(port))
    phase = Phase(port, up, workdir)
    systems: list[Sys] = []
    skipped: dict[str, str] = {}
    for n in names:
        if n in PEERS:
            if not installed(n):
                skipped[n] = "not installed (bench/run.sh installs it)"
                continue
            systems.append(start_peer(procs, n, phase))
        else:
            v = VARIANTS[n]
            systems.append(start_gateway(procs, n, v, port, workdir, v.root or ROOT))
    direct = Sys("direct", port, up.pid, {p: direct_call(g) for p, (g, _) in PATHS.items()})
    gws = [s for s in systems if s.name not in PEERS]
    runs: list[dict[str, Any]] = []
    for rnd in range(1, rounds + 1):
        if not headline:
            # Variants of the gateway only: paths and variants interleaved, who goes first
            # rotating, so the machine's drift (other work on it) hits all alike.
            for i in range(reps * (2 if busy else 1)):
                loops = [procs.start(f"busy-{k}", [sys.executable, "-c", "while True: pass"])
                         for k in range(busy if i % 2 else 0)]
                tag = f" +{len(loops)} busy" if loops else ""
                for path in paths:
                    for s in systems[i % len(systems):] + systems[:i % len(systems)]:
                        row = measure(s, path, c, seconds, workdir)
                        runs.append({"round": rnd, **row, "system": s.name + tag})
                for p in loops:
                    procs.stop(p)
        for path in paths:
            if headline:
                # The order: every system in turn, ``reps`` times, then the
                # gateway once more.
                for s in systems * reps + gws:
                    runs.append({"round": rnd, **measure(s, path, c, seconds, workdir)})
            if latency:
                for s in [direct, *gws] * 2:
                    runs.append({"round": rnd, **measure(s, path, 1, seconds, workdir)})
    profs: dict[str, Any] = {}
    for s in gws if profile_s else []:
        for path in paths:
            def load(s: Sys = s, path: str = path) -> None:
                run_wrk(s.port, s.calls[path], connections=c, seconds=profile_s + 1,
                        workdir=workdir)
            out = BENCH / "out" / f"profile-shipped-{s.name}-{path}"
            print(f"[shipped {time.strftime('%H:%M:%S')}] py-spy on {s.name} ({path}, c={c}) "
                  f"for {profile_s:g} s", flush=True)
            profs[f"{s.name}/{path}"] = prof.record(s.pid, profile_s, out, load)
    for s in [g for g in gws if VARIANTS[g.name].cprofile] if cprofile_s else []:
        for k, path in enumerate(paths, 1):
            os.kill(s.pid, signal.SIGUSR1)
            r = run_wrk(s.port, s.calls[path], connections=c, seconds=cprofile_s,
                        workdir=workdir)
            os.kill(s.pid, signal.SIGUSR2)
            raw = workdir / f"{s.name}.pstats.{k}"
            for _ in range(100):
                if raw.exists():
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # written whole
            profs[f"{s.name}/{path} (cProfile)"] = cprof_summary(raw, r.ok)
    for p in (reader, up):
        procs.stop(p)
    return {"headline": headline, "profiles": profs, "systems": [s.name for s in systems],
            "paths": paths,
            "rounds": rounds, "seconds": seconds, "c": c, "reps": reps, "runs": runs,
            "skipped": skipped, "routes": {s.name: s.routes for s in gws},
            "variants": {n: {k: str(x) if isinstance(x, Path) else x
                             for k, x in VARIANTS[n].__dict__.items()}
                         for n in names if n in VARIANTS}}


def medians(d: dict[str, Any], path: str, rnd: int, c: int) -> dict[str, dict[str, Any]]:
    """system -> the median run of that round (by 2xx/s) and the list of its runs."""
    out: dict[str, dict[str, Any]] = {}
    for s in [*d["systems"], "direct"]:
        rs = [r for r in d["runs"] if (r["system"], r["path"], r["round"], r["c"])
              == (s, path, rnd, c)]
        if rs:
            out[s] = {"rps": statistics.median(r["rps"] for r in rs),
                      "cpu_us": statistics.median(r["cpu_us"] for r in rs),
                      "sys_us": statistics.median(r.get("sys_us", 0) for r in rs),
                      "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                      "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                      "non2xx": sum(r["non2xx"] for r in rs),
                      "load": max(r["load"] for r in rs), "runs": [r["rps"] for r in rs]}
    return out


TITLES = {"auto": '`model: "auto"`, short English prompt (rule `default` -> claude-opus, '
                  "translated; the peers are sent `claude-opus`)",
          "kimi": '`model: "kimi-k2"` (passthrough)',
          "claude": '`model: "claude-opus"` (pinned, translated)'}


def render_variants(d: dict[str, Any]) -> list[str]:
    """Variants of the gateway only: a row each, its median against the first's."""
    labels = list(dict.fromkeys(r["system"] for r in d["runs"] if r["c"] == d["c"]))
    base = labels[0]
    head = ["variant"]
    for path in d["paths"]:
        head += [f"{path}: 2xx/s (min-max)", f"{path}: / {base}",
                 f"{path}: CPU us/req (kernel)",
                 f"{path}: CPU / {base}"]
    out = [f"{len(d['runs']) // len(labels) // len(d['paths'])} interleaved runs of "
           f"{d['seconds']:g} s per variant and path, c={d['c']}, medians; load average "
           f"{min(r['load'] for r in d['runs']):.1f}-{max(r['load'] for r in d['runs']):.1f}.",
           "", "| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    med: dict[tuple[str, str], tuple[float, float, float, float, float]] = {}
    for s in labels:
        for path in d["paths"]:
            rs = [r for r in d["runs"] if r["system"] == s and r["path"] == path
                  and r["c"] == d["c"]]
            med[s, path] = (statistics.median(r["rps"] for r in rs),
                            statistics.median(r["cpu_us"] for r in rs),
                            min(r["rps"] for r in rs), max(r["rps"] for r in rs),
                            statistics.median(r.get("sys_us", 0) for r in rs))
    for s in labels:
        cells = [s]
        for path in d["paths"]:
            rps, cpu, lo, hi, sys_ = med[s, path]
            cells += [f"{rps:,.0f} ({lo:,.0f}-{hi:,.0f})", f"{rps / med[base, path][0]:.2f}",
                      f"{cpu:,.0f} ({sys_:,.0f})", f"{cpu / med[base, path][1]:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""] + profiles(d)


def render(d: dict[str, Any]) -> list[str]:
    peers = [p for p in PEERS if p in d["systems"]]
    gws = [s for s in d["systems"] if s not in PEERS]
    if not d.get("headline", bool(peers)):
        return render_variants(d)
    out: list[str] = []
    for path in d["paths"]:
        out += [f"#### {TITLES[path]}", ""]
        head = ["round", "load avg", *[f"{s} 2xx/s (runs)" for s in d["systems"]]]
        head += [f"{g}/{p}" for g in gws[:1] for p in peers]
        head += [f"{g} / {gws[0]}" for g in gws[1:]]
        head += [f"{g} CPU us/req (kernel)" for g in gws]
        if any(r["c"] == 1 for r in d["runs"]):
            head += [f"{g} added p50 / p99 ms, c=1" for g in gws]
        out += ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
        for rnd in range(1, d["rounds"] + 1):
            m = medians(d, path, rnd, d["c"])
            m1 = medians(d, path, rnd, 1)
            cells = [str(rnd), f"{max(x['load'] for x in m.values()):.1f}"]
            for s in d["systems"]:
                x = m.get(s)
                bad = f", **{x['non2xx']} non-2xx**" if x and x["non2xx"] else ""
                cells.append(f"{x['rps']:,.0f} ({' / '.join(f'{v:,.0f}' for v in x['runs'])}"
                             f"{bad})" if x else "-")
            g0 = m.get(gws[0]) if gws else None
            for p in peers:
                cells.append(f"**{g0['rps'] / m[p]['rps']:.2f}x**" if g0 and m.get(p) else "-")
            for g in gws[1:]:
                cells.append(f"{m[g]['rps'] / g0['rps']:.3f}" if g0 and g in m else "-")
            cells += [f"{m[g]['cpu_us']:,.0f} ({m[g]['sys_us']:,.0f})" if g in m else "-"
                      for g in gws]
            if any(r["c"] == 1 for r in d["runs"]):
                dr = m1.get("direct")
                for g in gws:
                    x = m1.get(g)
                    cells.append(f"{x['p50_ms'] - dr['p50_ms']:+.3f} / "
                                 f"{x['p99_ms'] - dr['p99_ms']:+.3f}" if x and dr else "-")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    for n, why in d["skipped"].items():
        out.append(f"- {n}: {why}")
    return out + profiles(d)


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def targets(d: dict[str, Any], ten_mb_added_ms: float | None = None) -> list[str]:
    """Issue #21's targets on the headline rows, each round on its own."""
    head = ["| target (issue #21), each round | auto | | kimi | |",
            "| --- | --- | --- | --- | --- |"]
    rows: list[str] = []
    rounds = range(1, d["rounds"] + 1)
    for peer, want in (("portkey", 2.5), ("litellm", 25.0)):
        cells = []
        for path in ("auto", "kimi"):
            qs = []
            for rnd in rounds:
                m = medians(d, path, rnd, d["c"])
                if "gateway" in m and peer in m and m[peer]["rps"]:
                    qs.append(m["gateway"]["rps"] / m[peer]["rps"])
            cells += [" / ".join(f"{q:.2f}x" for q in qs) or "not measured",
                      _mark(all(q >= want for q in qs) if qs else None)]
        rows.append(f"| c={d['c']}: >= {want:g}x {peer} | " + " | ".join(cells) + " |")
    cells = []
    for path in ("auto", "kimi"):
        got = []
        for rnd in rounds:
            m = medians(d, path, rnd, 1)
            if "gateway" in m and "direct" in m:
                got.append((m["gateway"]["p50_ms"] - m["direct"]["p50_ms"],
                            m["gateway"]["p99_ms"] - m["direct"]["p99_ms"]))
        cells += ["; ".join(f"{a:+.3f} / {b:+.3f}" for a, b in got) or "not measured",
                  _mark(all(a <= 0.3 and b <= 1.0 for a, b in got) if got else None)]
    rows.append("| c=1: added p50 <= 0.3 ms / p99 <= 1 ms (memory store) | "
                + " | ".join(cells) + " |")
    if ten_mb_added_ms is not None:
        rows.append(f"| 10 MB prompt routed and forwarded: added p50 <= 150 ms "
                    f"(`gateway`, bench config) | +{ten_mb_added_ms:.1f} ms | "
                    f"{_mark(ten_mb_added_ms <= 150)} | | |")
    return head + rows


def cprof_summary(raw: Path, requests: int, top: int = 25) -> dict[str, Any]:
    """The gateway's and its libraries' functions by own and total CPU, us per request."""
    import pstats
    st = pstats.Stats(str(raw)).stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in st.values())

    def name(k: tuple[str, int, str]) -> str:
        f, _, fn = k
        for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
            if marker in f:
                f = f.split(marker, 1)[1]
        return f"{fn} ({f})"
    own = sorted(st.items(), key=lambda kv: -kv[1][2])[:top]
    cum = sorted(((k, v) for k, v in st.items() if "gateway/" in k[0]),
                 key=lambda kv: -kv[1][3])[:top]
    per = 1e6 / max(requests, 1)
    return {"cprofile": True, "requests": requests, "cpu_us": round(total * per, 1),
            "self": [(name(k), round(v[2] * per, 1)) for k, v in own],
            "total": [(name(k), round(v[3] * per, 1)) for k, v in cum], "raw": str(raw)}


def profiles(d: dict[str, Any]) -> list[str]:
    from .report import _profile
    out: list[str] = []
    for k, p in d.get("profiles", {}).items():
        if not p.get("cprofile"):
            out += _profile(k, p)
            continue
        out += [f"#### {k}: {p['requests']:,} requests, {p['cpu_us']:,.0f} us of profiled "
                "CPU each (cProfile's overhead included)", "",
                "| own time | us/req | | total time (the gateway's functions) | us/req |",
                "| --- | ---: | --- | --- | ---: |"]
        for i in range(max(len(p["self"]), len(p["total"]))):
            a = p["self"][i] if i < len(p["self"]) else ("", "")
            b = p["total"][i] if i < len(p["total"]) else ("", "")
            out.append(f"| `{a[0]}` | {a[1]} | | `{b[0]}` | {b[1]} |")
        out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.shipped", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", default="gateway,litellm,portkey",
                   help=f"from {', '.join([*VARIANTS, *PEERS])}")
    p.add_argument("--paths", default="auto,kimi", help=f"from {', '.join(PATHS)}")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--c", type=int, default=16)
    p.add_argument("--reps", type=int, default=2, help="turns of every system per round")
    p.add_argument("--no-latency", action="store_true", help="skip the c=1 runs")
    p.add_argument("--profile", type=float, default=0, metavar="S",
                   help="then py-spy each gateway under load for S s per path (bench/out/)")
    p.add_argument("--cprofile", type=float, default=0, metavar="S",
                   help="then cProfile (thread CPU clock) each gw-cprofile for S s per path")
    p.add_argument("--out", default=str(BENCH / "out" / "shipped.md"))
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (configs, logs)")
    p.add_argument("--variants", action="store_true",
                   help="variants mode (interleaved turns, a row each) also for gateway+peers")
    p.add_argument("--busy", type=int, default=0, metavar="N",
                   help="variants mode: every other turn beside N busy-looping processes")
    p.add_argument("--render", type=Path, help="only print the tables of a saved .json")
    p.add_argument("--alt", type=Path, help="another source tree (a git worktree with a "
                   "change, or the main branch's): its gateway runs as variant gw-alt")
    a = p.parse_args(argv)
    if a.alt:
        VARIANTS["gw-alt"] = Variant(root=(Path(os.environ.get("BENCH_CWD") or ".")
                                           / a.alt).resolve())
    if a.render:
        print("\n".join(render(json.loads(a.render.read_text()))))
        return 0
    names = [n for n in a.systems.split(",") if n]
    bad = [n for n in names if n not in VARIANTS and n not in PEERS]
    if bad:
        p.error(f"unknown systems {bad}")
    workdir = Path(tempfile.mkdtemp(prefix="gateway-shipped-"))
    procs = Procs(workdir)
    t0 = time.monotonic()
    try:
        d = run(names, a.paths.split(","), a.rounds, a.seconds, a.c, a.reps,
                not a.no_latency, workdir, procs, a.profile, a.cprofile, a.variants, a.busy)
    finally:
        stop_tmux()
        procs.stop_all()
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    cmd = "python -m harness.shipped " + " ".join(sys.argv[1:] if argv is None else argv)
    text = [f"Command (from bench/): `{cmd}`, {time.strftime('%Y-%m-%d %H:%M')}, "
            f"{time.monotonic() - t0:.0f} s.", "", *render(d)]
    out = Path(os.environ.get("BENCH_CWD") or ".") / a.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(text) + "\n")
    out.with_suffix(".json").write_text(json.dumps(d, indent=1))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
