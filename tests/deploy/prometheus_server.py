"""A real Prometheus (Debian's ``prometheus`` binary) on a free loopback port, for tests.

``PrometheusServer(targets, rule_files)`` scrapes the targets as job ``llm-gateway``
every ``interval`` and evaluates the rule files; ``query()`` runs PromQL through the
HTTP API and returns the decoded JSON, errors included (Prometheus answers bad PromQL
with a 400 whose body names the problem).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .support import require_binary

JOB = "llm-gateway"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_RFC3339 = re.compile(r"^(.*?)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _epoch(rfc3339: str) -> float:
    """Go's RFC 3339 time (nanoseconds, any offset) as epoch seconds."""
    m = _RFC3339.match(rfc3339)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {rfc3339!r}")
    head, frac, zone = m.groups()
    base = datetime.fromisoformat(head + ("+00:00" if zone == "Z" else zone)).timestamp()
    return base + (float(frac) if frac else 0.0)


class PrometheusServer:
    def __init__(self, targets: Sequence[str], rule_files: Sequence[Path] = (), *,
                 interval: str = "1s") -> None:
        self.binary = require_binary("prometheus")
        self._dir = tempfile.TemporaryDirectory(prefix="prometheus-")
        workdir = Path(self._dir.name)
        self.config = workdir / "prometheus.yml"
        rules = "".join(f"  - '{p}'\n" for p in rule_files)
        self.config.write_text(
            f"global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}\n"
            + (f"rule_files:\n{rules}" if rules else "")
            + "scrape_configs:\n"
            f"  - job_name: {JOB}\n"
            f"    scrape_timeout: {interval}\n"
            f"    static_configs: [{{targets: {json.dumps(list(targets))}}}]\n"
        )
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        self.data = workdir / "data"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> PrometheusServer:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.data}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log()}")
            try:
                if self.get("/-/ready").get("status") != "error":
                    return self
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus not ready in {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def get(self, path: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:  # 400 bad_data carries the PromQL error
            raw = exc.read()
            if path.startswith("/-/"):  # 503 "Service Unavailable" while starting
                return {"status": "error", "text": raw.decode(errors="replace")}
        if path.startswith("/-/"):
            return {"status": "success", "text": raw.decode()}
        return json.loads(raw)  # type: ignore[no-any-return]

    def query(self, expr: str) -> dict[str, Any]:
        return self.get("/api/v1/query?query=" + urllib.parse.quote(expr))

    def last_scrapes(self) -> list[float]:
        """Start time (epoch seconds) of each target's last scrape; 0 if never scraped."""
        out = []
        for target in self.get("/api/v1/targets")["data"]["activeTargets"]:
            out.append(_epoch(target["lastScrape"]) if target.get("health") != "unknown"
                       else 0.0)
        return out

    def wait_scraped_after(self, t: float, times: int = 1, timeout: float = 20) -> None:
        """Block until every target was scraped ``times`` times, each starting after ``t``.

        Data sent before ``t`` is then in the TSDB; two scrapes give ``rate()`` two
        samples that both include it.
        """
        deadline = time.monotonic() + timeout
        for _ in range(times):
            while True:
                last = self.last_scrapes()
                if last and min(last) > t:
                    t = min(last)
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"prometheus did not scrape every target after "
                                         f"{t} in {timeout} s:\n{self.log()}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "_log"):
            self._log.close()

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
