"""Gateway CPU per request, this working tree against a git revision, every surface.

    .venv/bin/python bench/revision_ab.py [--rev main] [--stream] [--n 200] [--rounds 7]
                                          [--paths chat,claude] [--shipped]

Two `gateway serve` processes (memory store, no keys, one worker): one runs the
revision (exported with ``git archive`` to a temporary directory), one this tree; both
in front of the same streaming mock (harness/stream_server.py). Batches of N sequential
requests go round every (path, gateway) pair, ROUNDS times (the first is a warm-up), and
each gateway process's user+system CPU (/proc) is charged to the batch it served. The
interleaving makes machine drift hit both trees alike, so the ratio holds on a busy
machine where separate runs do not. Paths: chat completions and messages, each to Kimi
(passthrough or translated) and Claude, and the Responses API to both. ``--shipped``:
both gateways run ``config/gateway.yaml`` as shipped (the providers pointed at the mock
by the environment) and the paths are issue #21's two: ``model: "auto"`` (a short
English prompt, routed to Claude) and ``model: "kimi-k2"``, on chat completions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import httpx
import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from harness import payloads  # noqa: E402
from harness.payloads import Call, Shape  # noqa: E402
from harness.systems import gateway_config  # noqa: E402
from surface_ab import free_port, wait_ready  # noqa: E402


def cpu_s(pid: int) -> float:
    """The process's CPU time: the scheduler's nanoseconds summed over its threads where
    /proc has them (a 10 ms tick is too coarse for a batch), else user+system ticks."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9
    except (OSError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def messages_call(shape: Shape) -> Call:
    body = {"model": shape.alias, "max_tokens": 64, "stream": shape.stream,
            "messages": [{"role": "user", "content": shape.prompt}]}
    return Call("/v1/messages", {"content-type": "application/json",
                                 "x-api-key": payloads.GATEWAY_KEY,
                                 "anthropic-version": "2023-06-01"}, orjson.dumps(body))


def export(rev: str, into: Path) -> Path:
    """The revision's tree, from ``git archive`` (no checkout is touched)."""
    data = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True,
                          capture_output=True).stdout
    tar = into / "rev.tar"
    tar.write_bytes(data)
    with tarfile.open(tar) as t:
        t.extractall(into / "tree", filter="data")
    return into / "tree"


def start(tree: Path, cfg: Path, port: int, upstream: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(tree), "REDIS_URL": "",
           "KIMI_BASE_URL": f"http://127.0.0.1:{upstream}/v1", "KIMI_API_KEY": "sk-ab-kimi",
           "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{upstream}", "ANTHROPIC_API_KEY": "sk-ab"}
    env.pop("GATEWAY_KEY_TEAM_A", None)
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config",
                             str(cfg), "--port", str(port), "--workers", "1"], cwd=tree,
                            env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="main")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--paths", default="", help="only the paths containing one of these "
                    "comma-separated words (e.g. chat,claude)")
    ap.add_argument("--shipped", action="store_true",
                    help="config/gateway.yaml as shipped, paths auto and kimi (issue #21)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="revision-ab-"))
    up = free_port()
    cfg = tmp / "gateway.yaml"
    cfg.write_text((ROOT / "config" / "gateway.yaml").read_text() if args.shipped
                   else gateway_config(up, limits=False))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{BENCH}"}
    procs = [subprocess.Popen([sys.executable, "-m", "harness.stream_server", "--port",
                               str(up)], cwd=BENCH, env=env)]
    trees = {args.rev: export(args.rev, tmp), "tree": ROOT}
    gws = {}
    try:
        for name, tree in trees.items():
            port = free_port()
            gws[name] = (start(tree, cfg, port, up), f"http://127.0.0.1:{port}")
            procs.append(gws[name][0])
        for _, url in gws.values():
            wait_ready(url)
        prompt = payloads.stream_prompt(20, 0) if args.stream else payloads.SHORT_PROMPT
        calls: dict[str, Call] = {}
        for prov, alias in (("kimi", "kimi-k2"), ("claude", "claude-opus")):
            shape = Shape(prov, alias, stream=args.stream, prompt=prompt)
            calls[f"chat -> {prov}"] = payloads.gateway_call(shape)
            calls[f"messages -> {prov}"] = messages_call(shape)
            calls[f"responses -> {prov}"] = payloads.gateway_call(
                Shape(prov, alias, surface="responses", stream=args.stream, prompt=prompt))
        if args.shipped:
            calls = {"chat auto -> claude": payloads.gateway_call(
                         Shape("claude", "auto", stream=args.stream, prompt=prompt)),
                     "chat kimi-k2": payloads.gateway_call(
                         Shape("kimi", "kimi-k2", stream=args.stream, prompt=prompt))}
        if args.paths:
            words = args.paths.split(",")
            calls = {k: v for k, v in calls.items() if all(w in k for w in words)}
        pairs = [(path, name) for path in calls for name in gws]
        spent = dict.fromkeys(pairs, 0.0)
        clients = {name: httpx.Client(base_url=url, timeout=30) for name, (_, url) in gws.items()}
        for rnd in range(args.rounds):
            k = rnd % len(pairs)  # who goes first rotates: GC must not always hit one pair
            for path, name in pairs[k:] + pairs[:k]:
                call, proc = calls[path], gws[name][0]
                t = cpu_s(proc.pid)
                for _ in range(args.n):
                    r = clients[name].post(call.path, content=call.body, headers=call.headers)
                    assert r.status_code == 200, (name, path, r.text[:300])
                if rnd:
                    spent[(path, name)] += cpu_s(proc.pid) - t
        n = args.n * (args.rounds - 1)
        print(f"{'path':<20} {args.rev + ' us/req':>14} {'tree us/req':>12} {'tree/rev':>9}"
              f"   ({'stream' if args.stream else 'whole'}, n={n} per cell)")
        for path in calls:
            old, new = spent[(path, args.rev)] / n * 1e6, spent[(path, "tree")] / n * 1e6
            print(f"{path:<20} {old:14.0f} {new:12.0f} {(new / old - 1) * 100:+8.1f}%")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
