"""Run ``gateway serve`` as a real OS process (for multi-process and shutdown tests)."""

from __future__ import annotations

import os
import signal as _signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.gateway_server import free_port

ROOT = Path(__file__).resolve().parents[2]


class GatewayProcess:
    """``gateway serve --config <tmp file> --port <free>`` with the given env.

    ``config_text`` is YAML (``${VAR}`` expansion applies as in production).
    stderr (the JSON logs) is collected in ``self.log_path``.
    """

    def __init__(self, config_text: str, *, env: dict[str, str] | None = None,
                 workers: int = 1, extra_args: list[str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="gw-proc-")
        self.config_path = Path(self._dir.name) / "gateway.yaml"
        self.config_path.write_text(config_text)
        self.log_path = Path(self._dir.name) / "stderr.log"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.args = [sys.executable, "-m", "gateway.cli", "serve", "--config",
                     str(self.config_path), "--host", "127.0.0.1", "--port", str(self.port),
                     "--workers", str(workers), *(extra_args or [])]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> GatewayProcess:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: int = _signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
        finally:
            self._log.close()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
