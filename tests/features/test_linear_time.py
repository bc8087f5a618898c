"""The feature extractor costs linear time with a small constant on any input.

Adversarial inputs (``adversarial.py``: repetitions of every trigger prefix and separator,
runs of digits, ``@ . : = /``, and random mixes of them) are timed against English prose
of the same size through ``extract_features``: the time must grow linearly (4x the text,
at most ~8x the time: a quadratic pattern gives 16x) and stay within a few times prose
(the benchmark, ``bench/features_bench.py --adversarial``, holds the 3x target on 1 MB;
the test allows 8x for a loaded machine). Timings are thread CPU time, the best of
several runs.
Before the linear-time patterns, 20 KB of ``xoxb-`` took 2.5 s (prose: 0.1 ms).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.features import extract_features

from .adversarial import UNITS, repeat

SMALL = 32_000
LARGE = 128_000
MAX_GROWTH = 8.0  # LARGE is 4x SMALL
MAX_VS_PROSE = 8.0
PARAGRAPHS = Path(__file__).parent / "data" / "paragraphs.jsonl"


def _body(text: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


def _best(text: str, runs: int = 5) -> float:
    body = _body(text)
    best = float("inf")
    for _ in range(runs):
        t0 = time.thread_time()  # CPU time: waiting for a core on a shared machine is not cost
        extract_features(body)
        best = min(best, time.thread_time() - t0)
    return best


def _prose() -> str:
    rows = [json.loads(line)["text"] for line in PARAGRAPHS.read_text(encoding="utf-8").splitlines()]
    return repeat(" ".join(rows), LARGE)


@pytest.fixture(scope="module")
def prose_time() -> float:
    text = _prose()
    extract_features(_body(text[:5000]))  # language models loaded
    return _best(text, runs=7)


def _check(unit: str, prose_time: float) -> None:
    small, large = _best(repeat(unit, SMALL)), _best(repeat(unit, LARGE))
    for _ in range(3):
        if large <= MAX_VS_PROSE * prose_time and large <= MAX_GROWTH * max(small, prose_time / 4):
            break
        # A loaded machine (other processes share 2 cores): measure prose and the unit
        # again, alternately, and judge on the best of each.
        prose = _prose()
        for _ in range(5):
            prose_time = min(prose_time, _best(prose, 1))
            small = min(small, _best(repeat(unit, SMALL), 1))
            large = min(large, _best(repeat(unit, LARGE), 1))
    assert large <= MAX_VS_PROSE * prose_time, (unit, large, prose_time)
    assert large <= MAX_GROWTH * max(small, prose_time / 4), (unit, small, large)


@pytest.mark.parametrize("unit", UNITS)
def test_repeated_trigger_costs_linear_time(unit: str, prose_time: float) -> None:
    _check(unit, prose_time)


_PIECE = st.sampled_from(UNITS) | st.text(alphabet="0123456789@.:=/-_+() AJBaxk'\"\\\n", min_size=1, max_size=6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(unit=st.lists(_PIECE, min_size=1, max_size=4).map("".join))
def test_mixed_triggers_cost_linear_time(unit: str, prose_time: float) -> None:
    _check(unit, prose_time)


# Inputs that once cost 4-5x the benchmark's prose and now cost less than 3x (its target
# on 1 MB), measured alternately with prose in this run, so the ratio, not the machine's
# speed, is judged. This prose costs ~1.3x the benchmark's: 3x there is ~2.3x here.
# (unit, size, bound; the ratio before and after, measured here)
WITHIN_3X = (
    # a ``match`` per "+", a Python call per digit run: 2.5x before, 1.0x after
    ("+1" + "2" * 40 + "a ", LARGE, 2.3),
    # ``str.translate`` of the whole string: 3.05x before, 1.3x after
    ("中文，１", LARGE, 2.3),
    # a search for CJK and NFKC of the whole string: at 1 MB (at 128 KB the first two
    # windows of the one-pass PII scan, slow on "@@@", are the whole text) 2.9x before,
    # 2.3x after; "ａ＠" 2.35x before, 1.8x after
    ("＠", 1_000_000, 2.6),
    ("ａ＠", 1_000_000, 2.1),
)


@pytest.mark.parametrize(("unit", "size", "bound"), WITHIN_3X)
def test_fixed_classes_stay_within_3x_prose(unit: str, size: int, bound: float) -> None:
    prose, text = repeat(_prose(), size), repeat(unit, size)
    prose_time = unit_time = float("inf")
    for _ in range(7):
        prose_time = min(prose_time, _best(prose, 1))
        unit_time = min(unit_time, _best(text, 1))
    assert unit_time <= bound * prose_time, (unit, unit_time, prose_time)
