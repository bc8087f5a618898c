"""RESULTS.md: the machine, the targets (met or missed), one table per scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import shipped
from .results import Results, Row

TARGET_SYSTEM = "gateway-redis"   # routing features, Redis rate limits and metrics on
GATEWAYS = ("gateway", "gateway-redis", "gateway-httpx")
PEERS = ("litellm", "portkey")
TITLES = {
    "kimi": "Kimi passthrough, non-streaming (`model: kimi-k2`, OpenAI wire both sides)",
    "claude": "Claude translation, non-streaming (`model: claude-opus`, OpenAI in, Anthropic upstream)",
    "auto-short": "Routing on a short prompt (`model: auto`: English -> rule `default` -> claude-opus)",
    "auto-1MB": "Routing a 1 MB prompt (`model: auto` -> rule `long-context` -> Kimi)",
    "auto-10MB": "Routing a 10 MB prompt (`model: auto` -> rule `long-context` -> Kimi)",
    "cache-hit": "Cache hits (`temperature: 0`, the same request repeated)",
    "cache-miss": "Cache misses (`temperature: 0`, every request distinct: lookup + store)",
    "kimi-responses": ("Kimi through the Responses API, non-streaming (`POST /v1/responses`, "
                       "`store: false`; gateways only, direct = the same upstream call)"),
    "claude-responses": ("Claude through the Responses API, non-streaming "
                         "(`POST /v1/responses`, `store: false`; gateways only)"),
}


def _f(x: float, nd: int = 2) -> str:
    return f"{x:,.{nd}f}"


def _added(r: Row, d: Row | None) -> tuple[str, str]:
    if d is None or r.system == "direct":
        return "", ""
    return f"{r.p50_ms - d.p50_ms:+.3f}", f"{r.p99_ms - d.p99_ms:+.3f}"


def ratio(res: Results, scenario: str, a: str, b: str, c: int = 16) -> float | None:
    ra, rb = res.get(scenario, a, c), res.get(scenario, b, c)
    if ra is None or rb is None or not rb.rps or ra.errors or rb.errors:
        return None
    return ra.rps / rb.rps


def added(res: Results, scenario: str, system: str, c: int = 1) -> tuple[float, float] | None:
    r, d = res.get(scenario, system, c), res.get(scenario, "direct", c)
    if r is None or d is None:
        return None
    return r.p50_ms - d.p50_ms, r.p99_ms - d.p99_ms


def scenario_table(res: Results, scenario: str) -> list[str]:
    rows = [r for r in res.rows if r.scenario == scenario]
    if not rows:
        return []
    out = [f"### {TITLES.get(scenario, scenario)}", "",
           "| system | c | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | CPU us/req | peak RSS MB | errors |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in sorted({r.concurrency for r in rows}):
        for r in [r for r in rows if r.concurrency == c]:
            a50, a99 = _added(r, res.get(scenario, "direct", c))
            out.append(f"| {r.system} | {c} | {_f(r.rps, 0)} | {r.p50_ms:.3f} | {r.p99_ms:.3f} | "
                       f"{a50} | {a99} | {_f(r.cpu_us, 0)} | {_f(r.rss_mb, 0)} | {r.errors} |")
    ratios, cpu = [], []
    for g in ("gateway-redis", "gateway", "gateway-redis-alt", "gateway-alt"):
        for p in PEERS:
            for c in sorted({r.concurrency for r in rows}):
                q = ratio(res, scenario, g, p, c)
                if q is not None and c != 1:
                    ratios.append(f"{g}/{p} c={c}: **{q:.1f}x**")
            a, b = res.get(scenario, g, 16), res.get(scenario, p, 16)
            if a and b and a.cpu_us:
                cpu.append(f"{p}/{g}: {b.cpu_us / a.cpu_us:.1f}x")
    if ratios:
        out += ["", "Throughput ratios: " + "; ".join(ratios) + "."]
    if cpu:
        out += ["", "CPU per request at c=16 (higher = the peer spends more): " + "; ".join(cpu)
                + "."]
    return out + [""]


def stream_tables(res: Results) -> list[str]:
    out: list[str] = []
    for scen in ("stream-kimi-ttfb", "stream-claude-ttfb", "stream-kimi-responses-ttfb",
                 "stream-claude-responses-ttfb"):
        d = res.streams.get(scen)
        if not d:
            continue
        base = d.get("direct", {}).get("p50_ms")
        out += [f"### {scen}: time to first byte, streams one after another", "",
                "| system | streams | errors | TTFB p50 ms | TTFB p99 ms | added TTFB p50 ms | whole stream p50 ms | CPU us/stream | peak RSS MB |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, v in d.items():
            add = f"{v['p50_ms'] - base:+.3f}" if base is not None and name != "direct" else ""
            out.append(f"| {name} | {v['n']} | {v['errors']} | {v['p50_ms']:.3f} | "
                       f"{v['p99_ms']:.3f} | {add} | {v['total_p50_ms']:.2f} | "
                       f"{v.get('cpu_us_per_stream', 0):,} | {v['rss_mb']:.0f} |")
        out.append("")
    for scen in ("stream-kimi-long", "stream-claude-long", "stream-kimi-responses-long",
                 "stream-claude-responses-long"):
        d = res.streams.get(scen)
        if not d:
            continue
        out += [f"### {scen}: one long stream, upstream sending as fast as it can", "",
                "| system | events | whole stream s | us/event | us/event by quarter of the stream | last/2nd quarter | CPU us/event | peak RSS MB |",
                "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
        for name, v in d.items():
            tenths = " / ".join(f"{x:.1f}" for x in v["quarter_us"]) or v.get("error", "")
            out.append(f"| {name} | {v['events']} | {v['total_s']:.2f} | {v['us_per_event']:.1f} | "
                       f"{tenths} | {v['flatness']:.2f} | {v.get('cpu_us_per_event', 0)} | {v['rss_mb']:.0f} |")
        out.append("")
    d = res.streams.get("stream-kimi-many")
    if d:
        out += ["### stream-kimi-many: streams opened together and held to their end", "",
                "| system | streams | completed | peak open | seconds | TTFB p50 / max ms | events | CPU us/event | errors | peak RSS MB |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
        for name, v in d.items():
            errs = ", ".join(f"{k}: {n}" for k, n in v["errors"].items()) or "none"
            out.append(f"| {name} | {v['n']} | {v['ok']} | {v['peak_open']} | {v['seconds']:.1f} | "
                       f"{v['ttfb_p50_ms']:.1f} / {v['ttfb_max_ms']:.1f} | {v['events']} | "
                       f"{v.get('cpu_us_per_event', 0)} | {errs} | {v['rss_mb']:.0f} |")
        out.append("")
    return out


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def _checks(res: Results, t: str) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for one system."""
    rows: list[tuple[str, str, bool | None]] = []

    def add(name: str, measured: str, ok: bool | None) -> None:
        rows.append((name, measured, ok))

    for scen in ("kimi", "claude"):
        for peer, want in (("litellm", 20.0), ("portkey", 2.0)):
            q = ratio(res, scen, t, peer)
            add(f"{scen}: c=16 throughput >= {want:g}x {peer}",
                f"{q:.1f}x" if q is not None else "not measured", None if q is None else q >= want)
    for scen in ("kimi", "claude"):
        a = added(res, scen, t)
        add(f"{scen}: added latency c=1 p50 <= 0.5 ms, p99 <= 1.5 ms",
            f"p50 {a[0]:+.3f} ms, p99 {a[1]:+.3f} ms" if a else "not measured",
            None if a is None else (a[0] <= 0.5 and a[1] <= 1.5))
    for scen in ("stream-kimi-ttfb", "stream-claude-ttfb"):
        d = res.streams.get(scen, {})
        if t in d and "direct" in d:
            a = d[t]["p50_ms"] - d["direct"]["p50_ms"]
            add(f"{scen}: added TTFB p50 <= 1 ms", f"{a:+.3f} ms", a <= 1.0)
    many = res.streams.get("stream-kimi-many", {}).get(t)
    if many:
        add("1,000 concurrent streams, no error", f"{many['ok']}/{many['n']} completed",
            many["ok"] == many["n"] >= 1000 if many["n"] >= 1000 else None)
    for scen in ("stream-kimi-long", "stream-claude-long"):
        d = res.streams.get(scen, {}).get(t) or {}
        if d:
            add(f"{scen}: per-chunk cost flat",
                f"last/2nd quarter {d['flatness']:.2f}, {d['us_per_event']:.1f} us/event",
                d["ok"] and d["flatness"] <= 1.25)
    a = added(res, "auto-10MB", t)
    add("10 MB prompt routed and forwarded: added <= 150 ms (p50)",
        f"{a[0]:+.1f} ms" if a else "not measured", None if a is None else a[0] <= 150)
    s = res.soak
    if s and s["system"] == t:
        add("peak RSS <= 150 MB after 100,000 requests",
            f"{s['rss_peak_mb']:.0f} MB after {s['requests']:,} requests",
            s["rss_peak_mb"] <= 150 if s["requests"] >= 100_000 else None)
        add("no RSS growth over the soak",
            f"slope {s['slope_mb_per_min']:+.2f} MB/min over the last {s['slope_window_s']:.0f} s",
            abs(s["slope_mb_per_min"]) < 1.0)
    lang = res.language
    if lang and lang["system"] == t:
        add("peak RSS <= 150 MB once a non-English Latin-script prompt arrived",
            f"{lang['rss_after_mb']:.0f} MB (first French prompt {lang['first_ms']:,.0f} ms)",
            lang["rss_after_mb"] <= 150)
    for c in (16, 1):
        h, m = res.get("cache-hit", t, c), res.get("cache-miss", t, c)
        if h and m and m.rps:
            add(f"cache hits >= 3x faster than misses (c={c})",
                f"{h.rps / m.rps:.1f}x req/s, p50 {h.p50_ms:.3f} vs {m.p50_ms:.3f} ms",
                h.rps / m.rps >= 3)
    return rows


def targets(res: Results) -> list[str]:
    """The targets on the system they are set for, and on the memory-store gateway beside."""
    main = _checks(res, TARGET_SYSTEM)
    other = {name: (m, ok) for name, m, ok in _checks(res, "gateway")}
    lines = [f"| target | {TARGET_SYSTEM} | | gateway (memory store, for reference) | |",
             "| --- | --- | --- | --- | --- |"]
    for name, measured, ok in main:
        m2, ok2 = other.get(name, ("", None))
        lines.append(f"| {name} | {measured} | {_mark(ok)} | {m2} | {_mark(ok2) if m2 else ''} |")
    if any(ok is False for _, _, ok in main):
        lines += ["", ("Why a missed target is missed, the before/after figures of what was done "
                       "about it and what would meet it: [bench/README.md, \"What the profiles "
                       "say\"](README.md#what-the-profiles-say), from the profiles at the end "
                       "of this file.")]
    return lines


def headline(res: Results) -> list[str]:
    """The shipped configuration against the peers (issue #21's setup), and its targets."""
    if not res.shipped:
        return []
    d = res.shipped
    a = added(res, "auto-10MB", "gateway")
    return ["## Headline: the shipped configuration", "",
            (f"`config/gateway.yaml` as shipped (policy `standard`, its three rules, no keys, "
             f"memory store, access log to a file), one process per system, nginx mock, "
             f"`wrk -t1 -c{d['c']}`, {d['seconds']:g} s runs interleaved (every system in turn "
             "twice, then the gateway again), the median per system and round, 2xx answers "
             "only; c=1: gateway and direct twice each. How and why: bench/README.md, \"The "
             "shipped configuration\"."), "",
            *shipped.render(d), "### Targets of issue #21", "", *shipped.targets(
                d, a[0] if a else None), ""]


def render(res: Results, mode: str) -> str:
    m = res.machine
    out = ["# Benchmark results", "",
           (f"Command: `{res.command}` ({mode} mode). Generated by `bench/run.sh`; "
            "method and caveats in [bench/README.md](README.md)."), "",
           "Machine: " + ", ".join(f"{k} {v}" for k, v in m.items() if k != "bench dir"), "",
           (f"Targets are checked on `{TARGET_SYSTEM}` (one process: routing features, "
            "Redis-backed rate limits on a key with limits, Redis cache, metrics and access log "
            "on). Added latency = the system's percentile minus direct's in the same scenario "
            "(direct is sent what the gateway sends upstream)."), "",
           *headline(res), "## Targets", "", *targets(res), ""]
    if res.skipped:
        out += ["## Systems not measured", ""]
        out += [f"- {k}: {v}" for k, v in res.skipped.items()] + [""]
    out += ["## Non-streaming (nginx mock upstream, wrk -t1)", ""]
    for scen in TITLES:
        out += scenario_table(res, scen)
    ab = [(c, ratio(res, "kimi", "gateway", "gateway-httpx", c)) for c in (1, 16, 64)]
    if any(q for _, q in ab):
        out += [("### Upstream client A/B: h1 (product) vs httpx default transport "
                 "(bench-only switch, `gateway-httpx` rows above)"), "",
                "; ".join(f"c={c}: h1/httpx {q:.2f}x req/s" for c, q in ab if q) + ".", ""]
    out += ["## Streaming (asyncio SSE upstream)", "", *stream_tables(res)]
    if res.soak:
        s = res.soak
        out += ["## Soak", "",
                (f"`{s['system']}`, Kimi passthrough at c=16 for {s['seconds']:.0f} s: "
                 f"{s['requests']:,} requests ({s['rps']:,.0f} req/s, {s['errors']} errors); RSS "
                 f"{s['rss_start_mb']:.0f} MB at the start, {s['rss_end_mb']:.0f} MB at the end, "
                 f"peak {s['rss_peak_mb']:.0f} MB; slope {s['slope_mb_per_min']:+.3f} MB/min "
                 f"over the last {s['slope_window_s']:.0f} s."), ""]
    if res.language:
        g = res.language
        out += ["## Language models", "",
                (f"On the soaked `{g['system']}`, the first French prompt took "
                 f"{g['first_ms']:,.0f} ms (the next {g['second_ms']:.2f} ms) and RSS went from "
                 f"{g['rss_before_mb']:.0f} MB to {g['rss_after_mb']:.0f} MB: lingua's models load "
                 "on the event loop at the first non-English Latin-script prompt."), ""]
    # Written by `python bench/features_bench.py --adversarial` (a separate command).
    adversarial = Path(__file__).resolve().parents[1] / "features_adversarial.md"
    if adversarial.exists():
        out += [adversarial.read_text(encoding="utf-8").rstrip(), ""]
    if res.profiles:
        out += ["## Profiles (py-spy, share of sampled active time)", ""]
        for k, p in res.profiles.items():
            out += _profile(k, p)
    out += [f"- {n}" for n in res.notes]
    return "\n".join(out).rstrip() + "\n"


def _profile(name: str, p: dict[str, Any]) -> list[str]:
    if "error" in p:
        return [f"### {name}", "", p["error"], ""]
    out = [f"### {name} ({p['samples']} samples; raw stacks `{p['raw']}`)", "",
           "| self time | % | | total time (the gateway's functions) | % |",
           "| --- | ---: | --- | --- | ---: |"]
    for i in range(max(len(p["self"]), len(p["total"]))):
        a = p["self"][i] if i < len(p["self"]) else ("", "")
        b = p["total"][i] if i < len(p["total"]) else ("", "")
        out.append(f"| `{a[0]}` | {a[1]} | | `{b[0]}` | {b[1]} |")
    return out + [""]
