"""The benchmark harness runs end to end (quick mode, direct + this gateway) and writes
its results table; every request it sent was answered, and it leaves no process behind.

No timing is asserted: speed is what bench/RESULTS.md reports, not what a test checks.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd}")
    return found


@pytest.mark.timeout(240)
def test_quick_run_writes_a_results_table(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    # The harness puts its scratch dir (configs, logs) under TMPDIR: here, so that any
    # process still running from it afterwards can be found by its command line.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(ROOT / "bench" / "run.sh"), "--quick", "--systems", "direct,gateway",
         "--no-ab", "--out", str(out)],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    text = out.read_text()
    assert "## Targets" in text
    assert "| system | c | req/s | p50 ms | p99 ms | added p50 ms |" in text
    assert "Machine: nproc" in text and "bash bench/run.sh --quick" in text

    data = json.loads(out.with_suffix(".json").read_text())
    rows = data["rows"]
    for scenario in ("kimi", "claude", "auto-short", "auto-1MB", "auto-10MB"):
        for system in ("direct", "gateway"):
            got = [r for r in rows if r["scenario"] == scenario and r["system"] == system]
            assert got, f"no {scenario} row for {system}"
            assert all(r["requests"] > 0 and r["errors"] == 0 for r in got), got
            assert f"| {system} | " in text
    for scenario in ("cache-hit", "cache-miss"):
        got = [r for r in rows if r["scenario"] == scenario and r["system"] == "gateway"]
        assert got and all(r["requests"] > 0 and r["errors"] == 0 for r in got), got
    for scenario in ("stream-kimi-ttfb", "stream-claude-ttfb"):
        gw = data["streams"][scenario]["gateway"]
        assert gw["errors"] == 0 and gw["n"] > 0, gw
    for scenario in ("stream-kimi-long", "stream-claude-long"):
        gw = data["streams"][scenario]["gateway"]
        assert gw["ok"] and gw["events"] > 1000, gw
    many = data["streams"]["stream-kimi-many"]["gateway"]
    assert many["ok"] == many["n"] > 0, many
    assert data["soak"]["requests"] > 0 and data["soak"]["errors"] == 0
    assert not data["skipped"], data["skipped"]
    # The headline: the shipped config on both paths, 2xx only, c=16 and c=1.
    assert "## Headline: the shipped configuration" in text
    shipped = data["shipped"]["runs"]
    for path in ("auto", "kimi"):
        for c in (16, 1):
            got = [r for r in shipped if (r["path"], r["system"], r["c"]) == (path, "gateway", c)]
            assert got and all(r["rps"] > 0 and r["non2xx"] == 0 for r in got), (path, c, got)

    assert _processes_mentioning(str(tmp_path)) == []


@pytest.mark.timeout(180)
def test_shipped_config_serves_both_headline_paths(tmp_path: Path) -> None:
    """``run.sh --shipped``: config/gateway.yaml as shipped, pointed at the mock by its
    environment variables only, answers ``auto`` (-> Claude, translated) and ``kimi-k2``
    with 2xx only, at c=16 and c=1, the access log going to a file and to a terminal."""
    out = tmp_path / "shipped.md"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(ROOT / "bench" / "run.sh"), "--shipped", "--systems",
         "gateway,gw-log-tty", "--rounds", "1", "--reps", "1", "--seconds", "1",
         "--out", str(out)],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.with_suffix(".json").read_text())
    runs = data["runs"]
    for path in ("auto", "kimi"):
        for system, c in (("gateway", 16), ("gw-log-tty", 16), ("gateway", 1), ("direct", 1)):
            got = [r for r in runs if (r["path"], r["system"], r["c"]) == (path, system, c)]
            assert got and all(r["rps"] > 0 and r["non2xx"] == 0 and r["errors"] == 0
                               for r in got), (path, system, c, got)
    # Routed as the headline says: the English prompt by rule `default` to Claude.
    assert data["routes"]["gateway"]["auto"] == "default -> claude-opus-4-5"
    assert data["routes"]["gateway"]["kimi"] == "pinned -> kimi-k2-0905-preview"
    assert "| gateway |" in out.read_text()
    assert _processes_mentioning(str(tmp_path)) == []
