"""What the results were measured on: the machine and every component's version."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .systems import BENCH, LITELLM, PORTKEY


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not found"


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _ver(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, str]:
    litellm = "not installed"
    if LITELLM.exists():
        litellm = _run([str(LITELLM.with_name("python")), "-c",
                        "import importlib.metadata as m; print(m.version('litellm'))"])
    portkey = "not installed"
    pkg = PORTKEY.parents[1] / "package.json"
    if pkg.exists():
        portkey = json.loads(pkg.read_text())["version"]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": _cpu(),
        "memory": _mem(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvicorn": _ver("uvicorn"), "starlette": _ver("starlette"), "aiohttp": _ver("aiohttp"),
        "httpx": _ver("httpx"), "uvloop": _ver("uvloop"), "orjson": _ver("orjson"),
        "redis-py": _ver("redis"),
        "litellm": litellm, "portkey": portkey,
        "nginx": _run(["nginx", "-v"]), "wrk": _run(["wrk", "-v"]),
        "redis-server": _run(["redis-server", "--version"]), "node": _run(["node", "--version"]),
        "bench dir": str(BENCH),
    }


def busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (all processes)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_s() -> float:
    """CPU seconds of this process and its waited-for children (the systems, wrk, ...)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
