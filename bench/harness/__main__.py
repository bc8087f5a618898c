"""``python -m harness [--quick] [--systems a,b] [--profile] [--out PATH]`` (from bench/).

bench/run.sh installs what this needs and calls it; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import shipped
from .machine import busy_s, describe, own_s
from .plan import FULL, QUICK
from .procs import Procs
from .report import render
from .results import Results
from .run import Runner, log
from .systems import ALL, BENCH, PEERS, installed


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__)
    p.add_argument("--quick", action="store_true", help="about 1-2 s per measurement (smoke)")
    p.add_argument("--systems", default=",".join(ALL),
                   help=f"comma-separated, from {', '.join(ALL)} (default: all)")
    p.add_argument("--phases", default="shipped,http,stream",
                   help="shipped (the headline: config/gateway.yaml against the peers), http, "
                        "stream; comma-separated")
    p.add_argument("--profile", action="store_true",
                   help="py-spy the gateway under load (kimi, claude, 10 MB) into bench/out/")
    p.add_argument("--no-ab", action="store_true", help="skip the h1 vs httpx A/B")
    p.add_argument("--out", default=str(BENCH / "RESULTS.md"), help="where to write the tables")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (configs, logs)")
    p.add_argument("--alt", type=Path, default=None,
                   help="another source tree (a copy or git worktree with a candidate change): "
                        "its gateway also runs, as gateway-alt / gateway-redis-alt")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    here = Path(os.environ.get("BENCH_CWD") or ".")
    out = here / args.out
    alt = (here / args.alt).resolve() if args.alt else None
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = set(names) - set(ALL)
    if unknown or "direct" not in names:
        print(f"--systems: need direct, and only {', '.join(ALL)}", file=sys.stderr)
        return 2
    # Many streams at once: every process here and its children need the descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    plan = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    outdir = BENCH / "out"
    outdir.mkdir(exist_ok=True)
    command = os.environ.get("BENCH_COMMAND") or "python -m harness " + " ".join(sys.argv[1:])
    res = Results(command=command, machine=describe())
    procs = Procs(workdir)
    t0 = time.monotonic()
    busy0, own0 = busy_s(), own_s()
    try:
        runner = Runner(plan, names, procs, workdir, outdir, res, profile=args.profile,
                        ab=not args.no_ab, alt=alt)
        if "shipped" in args.phases and "gateway" in names:
            log("headline: the shipped config against the peers (harness/shipped.py)")
            res.shipped = shipped.run(
                ["gateway", *[n for n in PEERS if n in names and installed(n)]],
                ["auto", "kimi"], plan.shipped_rounds, plan.shipped_s, c=16, reps=2,
                latency=True, workdir=workdir, procs=procs)
        if "gateway-redis" in names:
            runner.start_redis()
        if "http" in args.phases:
            runner.http_phase()
        if "stream" in args.phases:
            runner.stream_phase()
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    wall = time.monotonic() - t0
    others = max(0.0, (busy_s() - busy0) - (own_s() - own0))
    res.notes.append(f"Whole run: {wall:.0f} s. Processes outside this run (other work on the "
                     f"machine) used {others / wall:.2f} of the {os.cpu_count()} CPUs on average "
                     "meanwhile: absolute figures shrink with that, CPU us/req grows with it "
                     "(less), and ratios move too: contention does not hit every system alike "
                     "(bench/README.md, \"The shipped configuration\").")
    out.write_text(render(res, "quick" if args.quick else "full"))
    out.with_suffix(".json").write_text(json.dumps(res.as_dict(), indent=1))
    log(f"wrote {out} and {out.with_suffix('.json')} ({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
