"""Run wrk (Debian's package) against one system with one request, parse its report."""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from .payloads import Call

SCRIPT = Path(__file__).with_name("wrk_post.lua")


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    rss_mb: float = 0.0
    non2xx: int = 0          # answers with a status >= 400 (wrk counts them in ``requests``)

    @property
    def ok(self) -> int:
        """Requests answered 2xx (wrk counts 4xx/5xx answers as requests too)."""
        return self.requests - self.non2xx

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(port: int, call: Call, *, connections: int, seconds: float, workdir: Path,
            unique: bool = False, timeout_s: float = 10) -> LoadResult:
    body_file = workdir / f"body-{hashlib.sha1(call.body).hexdigest()[:16]}.json"
    if not body_file.exists():
        body_file.write_bytes(call.body)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s:g}s", "-s", str(SCRIPT),
            f"http://127.0.0.1:{port}{call.path}", "--", str(body_file), uuid.uuid4().hex[:12] if unique else "0",
            *[f"{k}: {v}" for k, v in call.headers.items()]]
    out = subprocess.run(argv, check=False, capture_output=True, text=True,
                         timeout=seconds + timeout_s + 30)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no report (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    d = json.loads(line[len("BENCHJSON "):])
    errors = sum(d["errors"].values())
    return LoadResult(requests=d["requests"], seconds=d["duration_us"] / 1e6, errors=errors,
                      p50_ms=d["p50_us"] / 1000, p90_ms=d["p90_us"] / 1000,
                      p99_ms=d["p99_us"] / 1000, max_ms=d["max_us"] / 1000,
                      non2xx=d["errors"]["status"])
