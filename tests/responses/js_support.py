"""The JavaScript clients (Codex CLI, the Vercel AI SDK) under tests/agents-js, which
scripts/test.sh installs with ``npm ci``, and a ``gateway serve --demo`` to run them
against (the emulators call a tool when tools are defined: see README, demo mode)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway_server import free_port

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "agents-js"
BIN = JS / "node_modules" / ".bin"


def js_tool(name: str) -> Path:
    path = BIN / name
    assert path.exists(), (f"{path} is missing: run `npm ci` in {JS} "
                           "(scripts/test.sh does it)")
    return path


class DemoGateway:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "gateway.log"
        env = {k: v for k, v in os.environ.items()
               if k not in ("KIMI_API_KEY", "ANTHROPIC_API_KEY", "GATEWAY_CONFIG", "REDIS_URL")}
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--demo", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(self.log.read_text())

    def access(self) -> list[str]:
        return [ln for ln in self.log.read_text().splitlines() if '"gateway.access"' in ln]

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoGateway]:
    gw = DemoGateway(tmp_path)
    yield gw
    gw.stop()


def statuses(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for ln in lines if (m := re.search(r'"status":(\d+)', ln))]
