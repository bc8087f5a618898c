"""How long and how much: the full run (about 10 minutes) and ``--quick`` (smoke)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    load_s: float            # one wrk run
    warm_s: float            # warm-up per system and shape, unmeasured (0: none)
    big_s: float             # one run with 1 MB / 10 MB prompts (a few requests a second)
    concurrency: tuple[int, ...]
    big_sizes: tuple[int, ...]
    soak_s: float
    ttfb_streams: int
    ttfb_chunks: int
    long_chunks: int
    many_streams: int
    many_chunks: int
    many_delay_ms: float
    profile_s: float
    shipped_rounds: int      # the headline (harness/shipped.py): rounds, and seconds a run
    shipped_s: float


FULL = Plan(load_s=4, warm_s=1, big_s=4, concurrency=(1, 16, 64),
            big_sizes=(1_000_000, 10_000_000), soak_s=120, ttfb_streams=200, ttfb_chunks=20,
            long_chunks=10_000, many_streams=1000, many_chunks=50, many_delay_ms=100,
            profile_s=10, shipped_rounds=3, shipped_s=5)
QUICK = Plan(load_s=1, warm_s=0, big_s=1, concurrency=(1, 16, 64),
             big_sizes=(1_000_000, 10_000_000), soak_s=2, ttfb_streams=20, ttfb_chunks=10,
             long_chunks=2_000, many_streams=100, many_chunks=10, many_delay_ms=50, profile_s=2,
             shipped_rounds=1, shipped_s=1)
