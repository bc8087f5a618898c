"""Exactness across OS processes sharing one Redis (standalone and cluster)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fire(url: str, bucket: str, limit: int, workers: int, attempts: int) -> list[dict]:
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.stores.rate_worker", url, bucket, str(limit),
         str(attempts)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for _ in range(workers)]
    try:
        for p in procs:  # every worker connected and loaded its scripts
            line = p.stdout.readline()  # type: ignore[union-attr]
            assert line.strip() == "ready", p.stderr.read()  # type: ignore[union-attr]
        for p in procs:
            p.stdin.write("go\n")  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]


@pytest.mark.parametrize("target", ["redis", "cluster"])
def test_three_processes_get_exactly_n(target: str, request: pytest.FixtureRequest,
                                       bucket: str) -> None:
    if target == "redis":
        url = request.getfixturevalue("redis_server").url
    else:
        url = request.getfixturevalue("redis_cluster").store_url
    results = fire(url, bucket, limit=50, workers=3, attempts=40)  # 120 race for 50
    assert [r["errors"] for r in results] == [[], [], []]
    assert sum(r["allowed"] for r in results) == 50
