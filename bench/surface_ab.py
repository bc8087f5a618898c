"""Gateway CPU per request, chat completions vs the Responses API, same upstream.

    .venv/bin/python bench/surface_ab.py [--stream] [--n 300] [--rounds 6]

One `gateway serve` process (memory store, no keys) in front of the harness's
streaming mock (harness/stream_server.py); batches of N sequential requests go round
the four (provider, surface) pairs, ROUNDS times (the first round is a warm-up), and
the gateway process's CPU (/proc: the scheduler's run time, to the nanosecond, where the
kernel shows it, else user+system ticks) is charged to the batch that ran. The interleaving
makes machine drift hit every pair alike, which separate wrk runs do not; the order rotates
each round. Besides the ratio of the totals, the median of the per-round ratios (each
round's Responses batch over the chat batch next to it) is printed: on a shared machine
a burst of contention lands in one batch, and the median leaves it out.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from harness import payloads  # noqa: E402
from harness.payloads import Shape  # noqa: E402
from harness.systems import gateway_config  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """Seconds of CPU the process has run: the sum of its threads' ``se.sum_exec_runtime``
    (milliseconds, ns precision), or user+system in clock ticks (10 ms) without it."""
    total, seen = 0.0, False
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            lines = (task / "sched").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("se.sum_exec_runtime"):
                total += float(line.split(":")[1]) / 1000
                seen = True
    if seen:
        return total
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, tries: int = 200) -> None:
    """Until the gateway at ``url`` answers /readyz 200 (0.2 s apart)."""
    for _ in range(tries):
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    up, port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{BENCH}", "REDIS_URL": ""}
    cfg = Path(f"/tmp/surface-ab-{os.getpid()}.yaml")
    cfg.write_text(gateway_config(up, limits=False))
    procs = [subprocess.Popen([sys.executable, "-m", "harness.stream_server", "--port", str(up)],
                              cwd=BENCH, env=env)]
    gw = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg),
                           "--port", str(port), "--workers", "1"], cwd=ROOT, env=env,
                          stderr=subprocess.DEVNULL)
    procs.append(gw)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        prompt = payloads.stream_prompt(20, 0) if args.stream else payloads.SHORT_PROMPT
        calls = {(prov, surface): payloads.gateway_call(
                     Shape(prov, alias, surface=surface, stream=args.stream, prompt=prompt))
                 for prov, alias in (("kimi", "kimi-k2"), ("claude", "claude-opus"))
                 for surface in ("chat", "responses")}
        spent = dict.fromkeys(calls, 0.0)
        per_round: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
        with httpx.Client(base_url=url, timeout=30) as client:
            keys = list(calls)
            for rnd in range(args.rounds):
                # Who goes first rotates: a periodic cost (GC) must not always land on
                # the same pair.
                for key in keys[rnd % len(keys):] + keys[:rnd % len(keys)]:
                    call = calls[key]
                    t = cpu_s(gw.pid)
                    for _ in range(args.n):
                        r = client.post(call.path, content=call.body, headers=call.headers)
                        assert r.status_code == 200, r.text[:300]
                    if rnd:
                        used = cpu_s(gw.pid) - t
                        spent[key] += used
                        per_round[key].append(used)
        n = args.n * (args.rounds - 1)
        for prov in ("kimi", "claude"):
            chat, resp = spent[(prov, "chat")] / n * 1e6, spent[(prov, "responses")] / n * 1e6
            paired = statistics.median(
                r / c for c, r in zip(per_round[(prov, "chat")],
                                      per_round[(prov, "responses")], strict=True))
            print(f"{prov:<7} chat {chat:7.0f} us/req   responses {resp:7.0f} us/req   "
                  f"{(resp / chat - 1) * 100:+.1f}%   median of rounds {(paired - 1) * 100:+.1f}%")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        cfg.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
