"""Entry points that read the environment (once) and build the app.

uvicorn imports ``gateway.entry:app_from_env`` (a factory) in every worker, so the
same code path serves one process and ``--workers N``. The CLI passes its choices
through environment variables (``GATEWAY_*``), which workers inherit.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any
from urllib.parse import unquote, urlsplit

from . import conn_guard
from .app import GatewayApp, create_app
from .config import GatewayConfig, ProviderConfig, load_config, resolve_config_path
from .logs import setup_logging
from .metrics import Metrics
from .runtime import Runtime
from .settings import Settings
from .stores.factory import build_store
from .translate.hub import CHAT_COMPLETIONS

log = logging.getLogger("gateway")

DEMO_ENV = "GATEWAY_DEMO_PORTS"  # "kimi_port,anthropic_port" when --demo
DEMO_KIMI_KEY = "sk-emu-kimi"
DEMO_ANTHROPIC_KEY = "sk-ant-emu"


def demo_config(cfg: GatewayConfig, kimi_port: int, anthropic_port: int) -> GatewayConfig:
    """Point every provider at the in-process emulators (by provider type)."""
    providers: dict[str, ProviderConfig] = {}
    for name, p in cfg.providers.items():
        if p.wire_format == CHAT_COMPLETIONS:
            upd = {"base_url": f"http://127.0.0.1:{kimi_port}/v1", "api_key": DEMO_KIMI_KEY}
        elif p.base_url.endswith("/anthropic"):
            # Moonshot's Anthropic-compatible endpoint: the Kimi emulator serves it too.
            upd = {"base_url": f"http://127.0.0.1:{kimi_port}/anthropic",
                   "api_key": DEMO_KIMI_KEY}
        else:
            upd = {"base_url": f"http://127.0.0.1:{anthropic_port}",
                   "api_key": DEMO_ANTHROPIC_KEY}
        providers[name] = p.model_copy(update=upd)
    return cfg.model_copy(update={"providers": providers})


def secrets_of(cfg: GatewayConfig, redis_url: str = "") -> list[str]:
    """Values no log line may show: provider keys, gateway keys, the Redis password."""
    out = [p.api_key for p in cfg.providers.values() if p.api_key]
    out += [k.key for k in cfg.keys if k.key]
    out += [k.key for k in cfg.console.admin_keys if k.key]
    if cfg.server.metrics_key:
        out.append(cfg.server.metrics_key)
    for url in (cfg.redis.url, redis_url):
        password = urlsplit(url).password if url else None
        if password:
            out.append(unquote(password))
            out.append(password)
    return out


def build_runtime(settings: Settings, env: dict[str, str], *,
                  demo_ports: tuple[int, int] | None = None) -> Runtime:
    path = resolve_config_path(settings.gateway_config, env)
    cfg = load_config(path, env)
    if demo_ports is not None:
        cfg = demo_config(cfg, *demo_ports)
    metrics = Metrics()
    store = build_store(cfg.redis, settings.redis_url, metrics=metrics)
    rt = Runtime(cfg, config_path=path, env=env,
                 demo=demo_ports is not None, metrics=metrics, store=store)
    return rt


def app_from_env() -> GatewayApp:
    settings = Settings()
    env = dict(os.environ)
    demo: tuple[int, int] | None = None
    if env.get(DEMO_ENV):
        a, b = env[DEMO_ENV].split(",")
        demo = (int(a), int(b))
    rt = build_runtime(settings, env, demo_ports=demo)
    # Asked on every line, so keys added by a config reload are redacted as well; worked
    # out once per config snapshot, not once per line.
    memo: list[Any] = [None, []]

    def current_secrets() -> list[str]:
        cfg = rt.snapshot.cfg
        if memo[0] is not cfg:
            memo[0], memo[1] = cfg, secrets_of(cfg, settings.redis_url)
        return memo[1]  # type: ignore[no-any-return]

    setup_logging(settings.gateway_log_level, settings.gateway_log_format,
                  source=current_secrets)
    for w in rt.warnings():
        log.warning(w)
    conn_guard.configure(rt.snapshot.cfg.server)
    extra: dict[str, Any] = {}
    if demo is not None:
        extra["demo_ports"] = demo
    app = create_app(rt, log_prompts=settings.gateway_log_prompts, **extra)
    # Everything built so far lives as long as the process: keep it out of the cyclic
    # collector's scans, and collect less often (bench/README.md: ~10% of request CPU
    # went to the collector).
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)
    return app
