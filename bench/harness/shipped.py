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
e.g. ``gateway,gw-open,gw-log-devnull``) to measure what a factor is worth, interleaved
in one run (bench/README.md, "The shipped configuration").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mock import mock_conf, nginx_argv
from .payloads import Call, Shape, direct_call, litellm_call, portkey_call
from .procs import Procs, RssSampler, free_port, port_open
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
    app: str = "gateway"                    # gateway | floor (harness/floor_app.py)


VARIANTS: dict[str, Variant] = {
    "gateway": Variant(),
    "gw-open": Variant(edits=(("default_policy: standard", "default_policy: open"),)),
    "gw-cache-off": Variant(edits=(("cache:\n  enabled: true", "cache:\n  enabled: false"),)),
    "gw-log-devnull": Variant(sink="devnull"),
    "gw-log-pipe": Variant(sink="pipe"),
    "gw-log-tty": Variant(sink="tty"),
    "gw-log-warning": Variant(env=(("GATEWAY_LOG_LEVEL", "warning"),)),  # access log off
    "gw-human-log": Variant(env=(("GATEWAY_LOG_FORMAT", "human"),)),
    "gw-bench-config": Variant(config="bench"),  # the harness's config (open, cache on)
    # The HTTP server layer (bench/run.sh installs granian into bench/.granian for these).
    "gw-granian": Variant(server="granian"),
    "floor-uvicorn": Variant(app="floor"),
    "floor-granian": Variant(app="floor", server="granian"),
}
GRANIAN = BENCH / ".granian"  # pip --target: granian is no dependency of the project


@dataclass
class Sys:
    name: str
    port: int
    pid: int
    calls: dict[str, Call] = field(default_factory=dict)  # path -> request


def _gateway_call(shape: Shape) -> Call:
    # No gateway key: the shipped config has none set (open access).
    body = json.dumps({"model": shape.alias, "max_tokens": shape.max_tokens, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": shape.prompt}]}, separators=(",", ":")).encode()
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
    if v.app == "floor":
        env["PYTHONPATH"] = str(BENCH)
    if v.server == "granian":
        env["PYTHONPATH"] = f"{GRANIAN}{os.pathsep}{env['PYTHONPATH']}"
        env["GATEWAY_CONFIG"] = str(cfg)
        target = ("harness.floor_app:app" if v.app == "floor"
                  else "gateway.entry:app_from_env")
        argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
                "--http", "1", "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
                "--no-access-log", "--log-level", "warning",
                *(["--factory"] if v.app == "gateway" else []), target]
    elif v.app == "floor":
        argv = [sys.executable, "-m", "uvicorn", "harness.floor_app:app", "--loop", "uvloop",
                "--http", "httptools", "--host", "127.0.0.1", "--port", str(port),
                "--no-access-log", "--log-level", "warning"]
    proc = procs.start(name, argv, env=env, cwd=BENCH if v.app == "floor" else root,
                       sink=v.sink)
    procs.wait_ready(proc, lambda: _http_ok(f"http://127.0.0.1:{port}/readyz"))
    return Sys(name, port, proc.pid, {p: _gateway_call(g) for p, (g, _) in PATHS.items()})


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
    with RssSampler(s.pid) as rss:
        r = run_wrk(s.port, s.calls[path], connections=c, seconds=seconds, workdir=workdir)
    ok = r.ok
    row = {"system": s.name, "path": path, "c": c, "rps": round(ok / r.seconds, 1),
           "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "non2xx": r.non2xx, "errors": r.errors,
           "cpu_us": round(rss.cpu_s / ok * 1e6, 1) if ok else 0.0, "load": round(load, 2)}
    print(f"[shipped {time.strftime('%H:%M:%S')}] {path:<6} {s.name:<16} c={c:<3} "
          f"{row['rps']:9.1f} 2xx/s p50 {r.p50_ms:7.3f} p99 {r.p99_ms:7.3f} ms "
          f"cpu {row['cpu_us']:6.0f} us non2xx {r.non2xx} load {load:.2f}", flush=True)
    return row


def run(names: list[str], paths: list[str], rounds: int, seconds: float, c: int,
        reps: int, latency: bool, workdir: Path, procs: Procs) -> dict[str, Any]:
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
            systems.append(start_gateway(procs, n, VARIANTS[n], port, workdir))
    direct = Sys("direct", port, up.pid, {p: direct_call(g) for p, (g, _) in PATHS.items()})
    gws = [s for s in systems if s.name not in PEERS]
    runs: list[dict[str, Any]] = []
    for rnd in range(1, rounds + 1):
        if len(gws) == len(systems):
            # Variants of the gateway only: paths and variants interleaved, who goes first
            # rotating, so the machine's drift (other work on it) hits all alike.
            for i in range(reps):
                for path in paths:
                    for s in systems[i % len(systems):] + systems[:i % len(systems)]:
                        runs.append({"round": rnd, **measure(s, path, c, seconds, workdir)})
        for path in paths:
            if len(gws) < len(systems):
                # The order: every system in turn, ``reps`` times, then the
                # gateway once more.
                for s in systems * reps + gws:
                    runs.append({"round": rnd, **measure(s, path, c, seconds, workdir)})
            if latency:
                for s in [direct, *gws] * 2:
                    runs.append({"round": rnd, **measure(s, path, 1, seconds, workdir)})
    for p in (reader, up):
        procs.stop(p)
    return {"systems": [s.name for s in systems], "paths": paths, "rounds": rounds,
            "seconds": seconds, "c": c, "reps": reps, "runs": runs, "skipped": skipped,
            "variants": {n: VARIANTS[n].__dict__ for n in names if n in VARIANTS}}


def medians(d: dict[str, Any], path: str, rnd: int, c: int) -> dict[str, dict[str, Any]]:
    """system -> the median run of that round (by 2xx/s) and the list of its runs."""
    out: dict[str, dict[str, Any]] = {}
    for s in [*d["systems"], "direct"]:
        rs = [r for r in d["runs"] if (r["system"], r["path"], r["round"], r["c"])
              == (s, path, rnd, c)]
        if rs:
            out[s] = {"rps": statistics.median(r["rps"] for r in rs),
                      "cpu_us": statistics.median(r["cpu_us"] for r in rs),
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
    base = d["systems"][0]
    head = ["variant"]
    for path in d["paths"]:
        head += [f"{path}: 2xx/s (min-max)", f"{path}: / {base}", f"{path}: CPU us/req",
                 f"{path}: CPU / {base}"]
    out = [f"{len(d['runs']) // len(d['systems']) // len(d['paths'])} interleaved runs of "
           f"{d['seconds']:g} s per variant and path, c={d['c']}, medians; load average "
           f"{min(r['load'] for r in d['runs']):.1f}-{max(r['load'] for r in d['runs']):.1f}.",
           "", "| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    med: dict[tuple[str, str], tuple[float, float, float, float]] = {}
    for s in d["systems"]:
        for path in d["paths"]:
            rs = [r for r in d["runs"] if r["system"] == s and r["path"] == path
                  and r["c"] == d["c"]]
            med[s, path] = (statistics.median(r["rps"] for r in rs),
                            statistics.median(r["cpu_us"] for r in rs),
                            min(r["rps"] for r in rs), max(r["rps"] for r in rs))
    for s in d["systems"]:
        cells = [s]
        for path in d["paths"]:
            rps, cpu, lo, hi = med[s, path]
            cells += [f"{rps:,.0f} ({lo:,.0f}-{hi:,.0f})", f"{rps / med[base, path][0]:.2f}",
                      f"{cpu:,.0f}", f"{cpu / med[base, path][1]:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def render(d: dict[str, Any]) -> list[str]:
    peers = [p for p in PEERS if p in d["systems"]]
    gws = [s for s in d["systems"] if s not in PEERS]
    if not peers:
        return render_variants(d)
    out: list[str] = []
    for path in d["paths"]:
        out += [f"#### {TITLES[path]}", ""]
        head = ["round", "load avg", *[f"{s} 2xx/s (runs)" for s in d["systems"]]]
        head += [f"{g}/{p}" for g in gws[:1] for p in peers]
        head += [f"{g} / {gws[0]}" for g in gws[1:]]
        head += [f"{g} CPU us/req" for g in gws]
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
            cells += [f"{m[g]['cpu_us']:,.0f}" if g in m else "-" for g in gws]
            if any(r["c"] == 1 for r in d["runs"]):
                dr = m1.get("direct")
                for g in gws:
                    x = m1.get(g)
                    cells.append(f"+{x['p50_ms'] - dr['p50_ms']:.3f} / "
                                 f"+{x['p99_ms'] - dr['p99_ms']:.3f}" if x and dr else "-")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    for n, why in d["skipped"].items():
        out.append(f"- {n}: {why}")
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
    p.add_argument("--out", default=str(BENCH / "out" / "shipped.md"))
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (configs, logs)")
    p.add_argument("--render", type=Path, help="only print the tables of a saved .json")
    a = p.parse_args(argv)
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
                not a.no_latency, workdir, procs)
    finally:
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
