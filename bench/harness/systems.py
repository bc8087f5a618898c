"""The systems under test, each one process, all pointed at the same upstream.

``direct`` is the mock itself; ``nginx`` a plain proxy hop; ``gateway`` this project
(``gateway serve``, routing features and metrics on, memory store); ``gateway-redis``
the same with Redis-backed rate limits (and cache) on a key with limits;
``gateway-httpx`` the bench-only A/B of the upstream client; ``litellm`` and
``portkey`` the peers, from their own installs under bench/.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import payloads
from .mock import nginx_argv, proxy_conf
from .payloads import Call, Shape
from .procs import Proc, Procs, free_port, port_open

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
LITELLM = BENCH / ".venv-litellm" / "bin" / "litellm"
PORTKEY = BENCH / ".portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
LOOPBACK = Path(__file__).with_name("loopback.cjs")
PEERS = ("litellm", "portkey")
# Upstream connections per provider. The default (256) would queue streams beyond 256
# per provider: 1,000 concurrent streams took 4 rounds (README.md, "Reading the numbers").
POOL = 2048
ALL = ("direct", "nginx", "gateway", "gateway-redis", "litellm", "portkey")


@dataclass
class Phase:
    """What every system of one phase shares: the upstream, Redis, a scratch dir."""

    upstream_port: int
    upstream: Proc
    workdir: Path
    redis_url: str = ""


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status < 500)
    except OSError:
        return False


def gateway_config(upstream_port: int, *, limits: bool) -> str:
    key = ""
    if limits:
        # Limits far above what the benchmark sends: every request pays the check.
        key = f"""keys:
  - name: bench
    key: {payloads.GATEWAY_KEY}
    policy: open
    limits: {{rpm: 100000000, tpm: 10000000000, concurrency: 100000}}
"""
    return f"""redis:
  url: ${{REDIS_URL:-}}
  on_error: fail_open
providers:
  kimi:
    type: openai
    base_url: http://127.0.0.1:{upstream_port}/v1
    api_key: {payloads.KIMI_KEY}
    pool: {{max_connections: {POOL}}}
  claude:
    type: anthropic
    base_url: http://127.0.0.1:{upstream_port}
    api_key: {payloads.CLAUDE_KEY}
    pool: {{max_connections: {POOL}}}
models:
  kimi-k2:
    provider: kimi
    upstream: {payloads.KIMI_UPSTREAM}
    context_window: 262144
    price_per_mtok: {{input: 0.60, output: 2.50}}
  kimi-long:                 # holds the 10 MB prompt (about 2.5 million tokens)
    provider: kimi
    upstream: {payloads.KIMI_UPSTREAM}
    context_window: 8000000
    price_per_mtok: {{input: 0.60, output: 2.50}}
  claude-opus:
    provider: claude
    upstream: {payloads.CLAUDE_UPSTREAM}
    context_window: 200000
    max_output_tokens: 64000
    price_per_mtok: {{input: 5.00, output: 25.00}}
policies:
  standard: {{pii_providers: [claude]}}
  open: {{}}
routing:
  default_policy: open
  rules:
    - name: long-context
      when: {{min_tokens: 150000}}
      to: [kimi-long]
    - name: chinese
      when: {{language: [zh]}}
      to: [kimi-k2, claude-opus]
    - name: default
      to: [claude-opus, kimi-k2]
{key}cache:
  enabled: true
  ttl_s: 3600
  mode: deterministic
"""


class System:
    name = ""

    def __init__(self) -> None:
        self.proc: Proc | None = None
        self.port = 0
        self.phase: Phase | None = None

    def start(self, procs: Procs, phase: Phase) -> None:
        raise NotImplementedError

    def call(self, shape: Shape) -> Call | None:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, procs: Procs) -> None:
        if self.proc is not None and self.proc is not (self.phase and self.phase.upstream):
            procs.stop(self.proc)
        self.proc = None


class Direct(System):
    name = "direct"

    def start(self, procs: Procs, phase: Phase) -> None:
        self.phase, self.proc, self.port = phase, phase.upstream, phase.upstream_port

    def call(self, shape: Shape) -> Call | None:
        return payloads.direct_call(shape)


class NginxProxy(Direct):
    name = "nginx"

    def start(self, procs: Procs, phase: Phase) -> None:
        self.phase, self.port = phase, free_port()
        conf = proxy_conf(self.port, phase.upstream_port, phase.workdir, "nginx-proxy")
        self.proc = procs.start("nginx-proxy", nginx_argv(conf, phase.workdir))
        procs.wait_ready(self.proc, lambda: port_open(self.port))


class Gateway(System):
    def __init__(self, name: str, *, redis: bool = False, httpx: bool = False,
                 root: Path = ROOT) -> None:
        super().__init__()
        self.name = name
        self.redis = redis
        self.httpx = httpx
        self.root = root  # another source tree (``--alt``): a candidate change, A/B

    def start(self, procs: Procs, phase: Phase) -> None:
        self.phase, self.port = phase, free_port()
        cfg = phase.workdir / f"{self.name}.yaml"
        cfg.write_text(gateway_config(phase.upstream_port, limits=self.redis))
        module = "harness.gateway_httpx" if self.httpx else "gateway.cli"
        env = {"PYTHONPATH": f"{self.root}{os.pathsep}{ROOT / 'bench'}",
               "REDIS_URL": phase.redis_url if self.redis else ""}
        argv = [sys.executable, "-m", module, "serve", "--config", str(cfg),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        # cwd is the tree to run: ``python -m`` puts it first on sys.path, before PYTHONPATH.
        self.proc = procs.start(self.name, argv, env=env, cwd=self.root)
        procs.wait_ready(self.proc, lambda: _http_ok(f"http://127.0.0.1:{self.port}/readyz"))

    def call(self, shape: Shape) -> Call | None:
        return payloads.gateway_call(shape)


class LiteLLM(System):
    name = "litellm"

    def start(self, procs: Procs, phase: Phase) -> None:
        self.phase, self.port = phase, free_port()
        cfg = phase.workdir / "litellm.yaml"
        up = f"http://127.0.0.1:{phase.upstream_port}"
        cfg.write_text(f"""model_list:
  - model_name: kimi-k2
    litellm_params:
      model: openai/{payloads.KIMI_UPSTREAM}
      api_base: {up}/v1
      api_key: {payloads.KIMI_KEY}
  - model_name: claude-opus
    litellm_params:
      model: anthropic/{payloads.CLAUDE_UPSTREAM}
      api_base: {up}
      api_key: {payloads.CLAUDE_KEY}
litellm_settings:
  telemetry: false
  drop_params: true
general_settings:
  master_key: {payloads.LITELLM_KEY}
""")
        env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
               "LITELLM_TELEMETRY": "False", "DISABLE_ADMIN_UI": "True",
               "NO_DOCS": "True"}
        argv = [str(LITELLM), "--config", str(cfg), "--host", "127.0.0.1",
                "--port", str(self.port), "--num_workers", "1"]
        self.proc = procs.start("litellm", argv, env=env, cwd=phase.workdir)
        procs.wait_ready(self.proc, lambda: _http_ok(
            f"http://127.0.0.1:{self.port}/health/liveliness"), timeout=120)

    def call(self, shape: Shape) -> Call | None:
        if shape.alias == "auto" or shape.surface != "chat":
            return None
        return payloads.litellm_call(shape)


class Portkey(System):
    name = "portkey"

    def start(self, procs: Procs, phase: Phase) -> None:
        self.phase, self.port = phase, free_port()
        argv = ["node", "--require", str(LOOPBACK), str(PORTKEY), f"--port={self.port}",
                "--headless"]
        self.proc = procs.start("portkey", argv, env={"NODE_ENV": "production"},
                                cwd=phase.workdir)
        procs.wait_ready(self.proc, lambda: port_open(self.port), timeout=60)

    def call(self, shape: Shape) -> Call | None:
        if shape.alias == "auto" or shape.surface != "chat":
            return None
        assert self.phase is not None
        return payloads.portkey_call(shape, self.phase.upstream_port)


def installed(name: str) -> bool:
    if name == "litellm":
        return LITELLM.exists()
    if name == "portkey":
        return PORTKEY.exists()
    return True


def make(name: str, alt: Path | None = None) -> System:
    if name == "direct":
        return Direct()
    if name == "nginx":
        return NginxProxy()
    if name == "gateway":
        return Gateway("gateway")
    if name == "gateway-redis":
        return Gateway("gateway-redis", redis=True)
    if name == "gateway-httpx":
        return Gateway("gateway-httpx", httpx=True)
    if name in ("gateway-alt", "gateway-redis-alt") and alt is not None:
        return Gateway(name, redis=name == "gateway-redis-alt", root=alt)
    if name == "litellm":
        return LiteLLM()
    if name == "portkey":
        return Portkey()
    raise ValueError(f"unknown system {name!r}; known: {', '.join(ALL)}, gateway-httpx")
