"""py-spy under load: record collapsed stacks, then rank functions by self and total time.

The raw file (``bench/out/profile-*.txt``, one stack per line with its sample count)
feeds any flamegraph tool; the summary goes into RESULTS.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def _name(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m['fn']} ({path})"


def summarize(raw: Path, top: int = 15) -> dict[str, Any]:
    self_t: Counter[str] = Counter()
    total_t: Counter[str] = Counter()
    n = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        n += k
        self_t[frames[-1]] += k
        for f in set(frames):
            total_t[f] += k
    pct = (lambda c: round(100 * c / n, 1)) if n else (lambda c: 0.0)
    return {
        "samples": n,
        "self": [(f, pct(c)) for f, c in self_t.most_common(top)],
        # Total time of the gateway's own functions (the wrappers every request passes
        # through, cli/app/starlette/uvicorn, are left out: they hold ~100%).
        "total": [(f, pct(c)) for f, c in total_t.most_common()
                  if "gateway/" in f and "gateway/cli.py" not in f][:top * 2],
        "raw": str(raw),
    }


def record(pid: int, seconds: float, out: Path, load: Callable[[], None]) -> dict[str, Any]:
    exe = py_spy()
    if exe is None:
        return {"error": "py-spy is not installed (bench/run.sh installs it)"}
    raw = out.with_suffix(".txt")
    raw.parent.mkdir(parents=True, exist_ok=True)
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    # BENCH_PYSPY_GIL=1: only samples holding the GIL (Python CPU, not waits).
    gil = ["--gil"] if os.environ.get("BENCH_PYSPY_GIL") else []
    proc = subprocess.run([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                           "--rate", "250", "--nonblocking", *gil, "--format", "raw",
                           "-o", str(raw)],
                          check=False, capture_output=True, text=True, timeout=seconds + 60)
    worker.join(seconds + 30)
    if proc.returncode != 0 or not raw.exists():
        return {"error": f"py-spy failed: {proc.stderr.strip()[-300:]}"}
    return summarize(raw)
