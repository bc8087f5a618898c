"""The README's first ten minutes, run as written: serve.sh with arguments, the "Try it"
CLI lines from the repository's root, and ``gateway`` away from the repository."""

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

from gateway.config import builtin_config_path
from tests.support.gateway_server import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.prefix) / "bin"


def _env(**extra: str) -> dict[str, str]:
    """The test's environment with no provider key and no config named: a newcomer's."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KIMI_API_KEY", "ANTHROPIC_API_KEY", "GATEWAY_CONFIG")}
    # The venv running these tests is the one the scripts set up (test.sh's).
    env["GATEWAY_VENV"] = sys.prefix
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if Path(p) != VENV_BIN)
    env.update(extra)
    return env


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not healthy within {timeout} s:\n{log.read_text()}")


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _spawn(started: list[subprocess.Popen[bytes]], argv: list[str], log: Path, cwd: Path,
           env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    started.append(proc)
    return proc


def test_serve_sh_passes_its_arguments_to_gateway_serve(
        tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> None:
    port = free_port()
    config = tmp_path / "mine.yaml"
    config.write_text((ROOT / "config" / "gateway.yaml").read_text())
    log = tmp_path / "serve.log"
    proc = _spawn(started, ["bash", "scripts/serve.sh", "--port", str(port),
                            "--config", str(config)], log, ROOT, _env())
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(proc, url, log)
    banner = log.read_text()
    assert "starting in --demo mode" in banner  # no provider key: demo added
    assert f"gateway listening on http://127.0.0.1:{port} (config {config}," in banner
    r = httpx.post(url + "/v1/chat/completions", timeout=10, json={
        "model": "auto", "messages": [{"role": "user", "content": "hello"}]})
    assert r.status_code == 200 and r.headers["x-gateway-demo"] == "true"
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def _try_it_cli_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Try it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if re.search(r"(^|\| )\S*gateway ", ln)]


def test_the_readme_try_it_cli_lines_work_as_written_from_the_root() -> None:
    lines = _try_it_cli_lines()
    assert len(lines) == 2, lines  # `... | gateway route` and `gateway check-config ...`
    for line in lines:
        if not (ROOT / ".venv" / "bin" / "gateway").exists():
            # A venv elsewhere (GATEWAY_VENV): the line as it would be there.
            line = line.replace(".venv/bin/", f"{VENV_BIN}/")
        out = subprocess.run(["bash", "-c", line], cwd=ROOT, env=_env(), capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, f"{line}\n{out.stdout}{out.stderr}"
        assert "command not found" not in out.stderr


def test_the_builtin_default_config_is_the_repositorys() -> None:
    assert Path(builtin_config_path()).read_text() == \
        (ROOT / "config" / "gateway.yaml").read_text(), \
        "copy config/gateway.yaml to gateway/default_config.yaml (the packaged default)"


def test_outside_the_repository_the_builtin_default_is_used_and_named(
        tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> None:
    gateway = str(VENV_BIN / "gateway")
    check = subprocess.run([gateway, "check-config"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(f"built-in default {builtin_config_path()}: OK")
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _spawn(started, [gateway, "serve", "--demo", "--port", str(port)], log, tmp_path,
                  _env())
    _wait_healthy(proc, f"http://127.0.0.1:{port}", log)
    assert f"(config built-in default {builtin_config_path()}," in log.read_text()
    # GATEWAY_CONFIG still wins over the built-in default.
    bad = subprocess.run([gateway, "check-config"], cwd=tmp_path, capture_output=True,
                         env=_env(GATEWAY_CONFIG=str(tmp_path / "missing.yaml")), text=True,
                         timeout=60)
    assert bad.returncode == 1 and "missing.yaml" in bad.stderr
