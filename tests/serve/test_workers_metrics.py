"""``gateway serve --workers 2``: one exposition for every worker, exact and monotonic.

Each scrape opens a new connection, so the kernel hands it to either worker; whichever
answers must report every worker's requests (prometheus-client's multiprocess mode),
the counters must never go backwards (also when a worker dies and is replaced), and
the metric files must live in a directory private to this server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess

from .support import ENGLISH, config_text, json_lines, metric_sum

pytestmark = pytest.mark.timeout(90)

BATCH = 24


def _request(url: str) -> None:
    r = httpx.post(url + "/v1/chat/completions", json={"model": "auto", "messages": ENGLISH},
                   headers={"connection": "close"}, timeout=10)
    assert r.status_code == 200, r.text


def _scrape(url: str) -> str:
    r = httpx.get(url + "/metrics", headers={"connection": "close"}, timeout=10)
    assert r.status_code == 200
    return r.text


def _requests_total(url: str) -> float:
    return metric_sum(_scrape(url), "gateway_requests_total")


def _worker_pids(gw: GatewayProcess) -> set[int]:
    return {r["pid"] for r in json_lines(gw) if r.get("logger") == "gateway.access"}


class Scraper:
    """Scrapes in a loop while traffic runs; every value must be >= the one before.

    ``resets_allowed``: a scrape the killed worker had accepted is reset with it.
    """

    def __init__(self, url: str, *, resets_allowed: bool = False) -> None:
        self.url = url
        self.values: list[float] = []
        self.resets = 0
        self.error: Exception | None = None
        self._resets_allowed = resets_allowed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.values.append(_requests_total(self.url))
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                if not self._resets_allowed:
                    self.error = exc
                    return
                self.resets += 1
            except Exception as exc:  # noqa: BLE001 (re-raised in the test's thread)
                self.error = exc
                return

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise self.error
        assert self.resets <= 1  # only the scrape in flight when the worker was killed


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_requests_total_is_exact_and_monotonic_across_two_workers(kimi, claude,
                                                                   tmp_path: Path) -> None:
    # An earlier server's directory (its process gone) must not be counted or kept.
    stale = tmp_path / f"gateway-metrics-{_dead_pid()}"
    stale.mkdir()
    (stale / f"counter_{os.getpid()}.db").write_bytes(b"\0" * 64)
    gw = GatewayProcess(config_text(kimi.url, claude.url), workers=2,
                        env={"TMPDIR": str(tmp_path)})
    with gw:
        own = tmp_path / f"gateway-metrics-{gw.proc.pid}"  # type: ignore[union-attr]
        assert own.is_dir() and not stale.exists()
        assert _requests_total(gw.url) == 0

        sent = 0
        with Scraper(gw.url) as scraper, ThreadPoolExecutor(8) as pool:
            # Until both workers have served requests (the kernel picks one per
            # connection), then a few batches more.
            batches = 0
            while (len(_worker_pids(gw)) < 2 or batches < 3) and batches < 20:
                list(pool.map(_request, [gw.url] * BATCH))
                sent += BATCH
                batches += 1
                # Every response is sent after its request was counted: exact now.
                assert [_requests_total(gw.url) for _ in range(5)] == [sent] * 5
        assert len(_worker_pids(gw)) == 2, "one worker served every request"
        assert scraper.values and scraper.values == sorted(scraper.values)
        assert max(scraper.values) <= sent
        assert any(f.name.startswith("counter_") for f in own.iterdir())

        # A worker killed outright is replaced; its counts stay in the totals.
        victim = min(_worker_pids(gw))
        os.kill(victim, signal.SIGKILL)
        with Scraper(gw.url, resets_allowed=True) as scraper:
            deadline = time.monotonic() + 20
            while not _worker_pids_started(gw) - {victim} - _worker_pids(gw):
                assert time.monotonic() < deadline, "no replacement worker started"
                time.sleep(0.1)
            for _ in range(BATCH):
                _request(gw.url)
            sent += BATCH
        assert scraper.values == sorted(scraper.values) and max(scraper.values) <= sent
        assert [_requests_total(gw.url) for _ in range(10)] == [sent] * 10
        # The dead worker's in-flight gauge was dropped, not left counting.
        assert metric_sum(_scrape(gw.url), "gateway_inflight_requests") == 0

        assert gw.stop() == 0
    assert not own.exists()


def _worker_pids_started(gw: GatewayProcess) -> set[int]:
    """Pids of every worker that has logged anything (each warns at start)."""
    return {r["pid"] for r in json_lines(gw)}
