"""bench/direct_ab.py runs: both ways answer every request it feeds, each answer in one
write. No timing is asserted (bench/README.md reports the figures)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_direct_ab_runs_both_ways_one_write_per_answer() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "direct_ab.py"), "--n", "200",
                          "--rounds", "1"], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    m = re.search(r"direct ([\d.]+) us/req, asgi ([\d.]+) us/req, .*\(1 rounds of 200; "
                  r"([\d.]+) writes per answer\)", out)
    assert m, out
    assert float(m.group(1)) > 0 and float(m.group(2)) > 0
    assert m.group(3) == "1.00"
