"""CPU of the per-request pieces issue #21 cuts, the working tree against a git revision.

    python bench/cuts_ab.py [--rev REV] [--rounds 30]

Loads ``gateway/features/language.py`` and ``gateway/logs.py`` as of ``REV`` (default
``main``) beside the working tree's and times each pair in interleaved batches (thread
CPU time, median of the batches): the ratio holds on a busy machine, where a wrk run's
req/s does not. Cases: the language decision on the benchmark's short English prompt,
on a paragraph of English, on a Chinese and a French question (lingua loaded for both);
one access line (``gateway.access`` through the handler ``setup_logging`` installs, the
record of a routed request, written to /dev/null in one event-loop turn per batch, as at
concurrency 16).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPTS = {
    "short English (the bench prompt)": "Write one sentence about the sea.",
    "English paragraph": (
        "I have a Python service that reads messages from a queue and writes them to a "
        "database. Sometimes the same message is processed twice and we end up with "
        "duplicate rows. How should I make the consumer idempotent without slowing it "
        "down too much? We use Postgres and the messages have a unique id."),
    "Chinese question": "请帮我写一个函数，计算两个日期之间相差多少个工作日，并解释思路。",
    "French question": "Bonjour, pourriez-vous m'expliquer comment fonctionne la photosynthèse ?",
}
# The record Services.finish logs for a routed request (values of a bench run).
ACCESS = {
    "request_id": "00ab634b016f43098f41285dd4aa93b7", "surface": "openai", "key": None,
    "route": "default", "provider": "claude", "model": "claude-opus-4-5",
    "alias": "claude-opus", "status": 200, "stream": False, "cache": "bypass",
    "tokens_in": 12, "tokens_out": 7, "tokens_cached": 0, "cost_usd": 0.000235,
    "duration_ms": 7.07, "upstream_ms": 6.43, "overhead_ms": 0.668, "ttft_ms": None,
    "attempts": [{"model": "claude-opus", "status": 200}],
    "routing": {"requested": "auto", "model": "claude-opus", "provider": "claude",
                "policy": ["standard"], "features": {
                    "tokens": 22, "requested_output": 64, "language": "en", "pii": [],
                    "pii_fields": {}, "pii_unverified": [], "has_images": False,
                    "has_tools": False, "stream": False}},
}
SECRETS = ["sk-bench-kimi", "sk-ant-bench"]


def load(rev: str, rel: str, tmp: Path) -> ModuleType:
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{rel}"], check=True,
                         capture_output=True, text=True).stdout
    path = tmp / f"{rev.replace('/', '_')}_{Path(rel).name}"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"old_{Path(rel).stem}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def timed(fn: Callable[[], None], n: int) -> float:
    """CPU us per call of ``fn`` over ``n`` calls (this thread's time)."""
    t0 = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - t0) / n / 1000


def language_case(mod: ModuleType, text: str) -> Callable[[int], float]:
    detect = mod.detect_language
    return lambda n: timed(lambda: detect(text), n)


def log_case(mod: ModuleType, devnull: Any) -> Callable[[int], float]:
    """``n`` access lines logged in one event-loop turn, then written (one write)."""
    def run(n: int) -> float:
        stderr, sys.stderr = sys.stderr, devnull
        try:
            mod.setup_logging("info", "json", source=lambda: SECRETS)
        finally:
            sys.stderr = stderr
        log = logging.getLogger("gateway.access")

        async def batch() -> float:
            t0 = time.thread_time_ns()
            for _ in range(n):
                log.info("request", extra={"access": dict(ACCESS)})
            await asyncio.sleep(0)  # the handler writes the turn's lines
            await asyncio.sleep(0)
            return (time.thread_time_ns() - t0) / n / 1000
        return asyncio.run(batch())
    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rev", default="main")
    p.add_argument("--rounds", type=int, default=30)
    a = p.parse_args()
    from gateway import logs as new_logs
    from gateway.features import language as new_lang
    tmp = Path(tempfile.mkdtemp(prefix="cuts-ab-"))
    old_lang = load(a.rev, "gateway/features/language.py", tmp)
    old_logs = load(a.rev, "gateway/logs.py", tmp)
    old_lang.warm_up()
    new_lang.warm_up()
    devnull = open("/dev/null", "w")  # noqa: SIM115 - open for the whole run
    # (name, old, new, calls per batch, batches per round)
    cases: list[tuple[str, Callable[[int], float], Callable[[int], float], int, int]] = []
    for name, text in PROMPTS.items():
        assert old_lang.detect_language(text) == new_lang.detect_language(text), name
        cases.append((f"language: {name}", language_case(old_lang, text),
                      language_case(new_lang, text), 2000, 1))
    cases.append(("access line (JSON, 16 a loop turn)", log_case(old_logs, devnull),
                  log_case(new_logs, devnull), 16, 20))
    avg = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"`python bench/cuts_ab.py --rev {a.rev} --rounds {a.rounds}`, load average {avg}")
    print()
    print(f"| case | {a.rev} us | working tree us | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, old, new, n, k in cases:
        old(n), new(n)  # warm
        olds: list[float] = []
        news: list[float] = []
        for i in range(a.rounds * k):
            pair = ((old, olds), (new, news)) if i % 2 else ((new, news), (old, olds))
            for fn, acc in pair:
                acc.append(fn(n))
        mo, mn = statistics.median(olds), statistics.median(news)
        print(f"| {name} | {mo:.2f} | {mn:.2f} | {mn / mo:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
