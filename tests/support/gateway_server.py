"""Run a real gateway (uvicorn, real sockets) in a background thread for tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.config import GatewayConfig, parse_config
from gateway.metrics import Metrics
from gateway.runtime import Runtime
from gateway.stores.factory import build_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayServer:
    """A gateway on 127.0.0.1:<free port>; ``.url`` is the OpenAI SDK's base_url root."""

    def __init__(self, cfg: GatewayConfig, *, config_path: str | None = None,
                 env: dict[str, str] | None = None, redis_url: str = "",
                 log_prompts: bool = False, watch_config: bool = False,
                 http: str = "gateway.conn_guard:GuardedHttpTools") -> None:
        """``http``: uvicorn's protocol; the gateway's own by default (what ``gateway
        serve`` runs), or a plain one (``"httptools"``) to test the app under a server
        without the gateway's ASGI extensions."""
        self.port = free_port()
        self.metrics = Metrics()
        store = build_store(cfg.redis, redis_url, metrics=self.metrics)
        self.rt = Runtime(cfg, config_path=config_path, env=env or {}, metrics=self.metrics,
                          store=store)
        self.app = create_app(self.rt, log_prompts=log_prompts, watch_config=watch_config)
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, loop="asyncio",
            http=http,
            # As ``gateway serve`` runs it: the app unwrapped (the direct way applies).
            proxy_headers=False, server_header=False,
            lifespan="on", log_level="warning", access_log=False))
        self._thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._server.serve())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def call(self, coro: Any, timeout: float = 10) -> Any:
        """Run a coroutine on the gateway's own loop (e.g. to read store state)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def test_config(kimi_url: str, anthropic_url: str, extra: str = "", *,
                kimi_key: str = "sk-emu-kimi", anthropic_key: str = "sk-ant-emu",
                rules: str | None = None, keys: str = "", env: dict[str, str] | None = None,
                timeouts: str = "{connect_s: 2, total_s: 10, first_byte_s: 5, idle_s: 5}",
                ) -> GatewayConfig:
    """The shipped config's shape, pointed at the emulators."""
    text = test_config_text(kimi_url, anthropic_url, extra, kimi_key=kimi_key,
                            anthropic_key=anthropic_key, rules=rules, keys=keys,
                            timeouts=timeouts)
    return parse_config(text, env or {})


def test_config_text(kimi_url: str, anthropic_url: str, extra: str = "", *,
                     kimi_key: str = "sk-emu-kimi", anthropic_key: str = "sk-ant-emu",
                     rules: str | None = None, keys: str = "",
                     timeouts: str = "{connect_s: 2, total_s: 10, first_byte_s: 5, idle_s: 5}",
                     default_policy: str = "standard", kimi_limits: str | None = None,
                     ) -> str:
    """``test_config``'s YAML text, for a gateway run as a process (``GatewayProcess``);
    ``kimi_limits`` is Kimi's upstream quota (``{rpm: 2}``)."""
    kimi_quota = f"\n    limits: {kimi_limits}" if kimi_limits else ""
    rules = rules or """
    - name: long-context
      when: {min_tokens: 150000}
      to: [kimi-k2]
    - name: chinese
      when: {language: [zh]}
      to: [kimi-k2, claude-opus]
    - name: default
      to: [claude-opus, kimi-k2]
"""
    text = f"""
providers:
  kimi:
    type: openai
    base_url: {kimi_url}
    api_key: "{kimi_key}"
    timeouts: {timeouts}{kimi_quota}
  claude:
    type: anthropic
    base_url: {anthropic_url}
    api_key: "{anthropic_key}"
    timeouts: {timeouts}
models:
  kimi-k2:
    provider: kimi
    upstream: kimi-k2-0905-preview
    context_window: 262144
    price_per_mtok: {{input: 0.60, output: 2.50}}
  claude-opus:
    provider: claude
    upstream: claude-opus-4-5
    context_window: 200000
    max_output_tokens: 64000
    price_per_mtok: {{input: 5.00, output: 25.00}}
policies:
  standard:
    pii_providers: [claude]
  strict:
    providers: [claude]
    pii_providers: [claude]
  open: {{}}
routing:
  default_policy: {default_policy}
  rules:{rules}
{keys}
{extra}
"""
    return text
