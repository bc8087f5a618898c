"""Long-lived state of one gateway process, and its config snapshots.

A request takes the current ``Snapshot`` once at its start and uses it to the end,
so a config reload (file change or SIGHUP) replaces the snapshot atomically for new
requests while in-flight ones finish on the config they started with.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .auth import KeyRing
from .breaker import STATE_VALUE, Breaker
from .config import ConfigError, GatewayConfig, ProviderConfig, load_config, parse_config
from .drain import Drain
from .providers.client import ProviderClient
from .stores import ResilientStore, Store

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("gateway")
# A changed config file is applied once two reads this far apart agree.
SETTLE_S = 0.25


@dataclass(slots=True)
class Snapshot:
    cfg: GatewayConfig
    keyring: KeyRing
    providers: dict[str, ProviderClient]
    version: int = 0


@dataclass(slots=True)
class ReloadResult:
    ok: bool
    message: str


class Runtime:
    def __init__(self, cfg: GatewayConfig, *, config_path: str | None = None,
                 env: dict[str, str] | None = None, demo: bool = False,
                 metrics: Metrics | None = None, store: Store | None = None) -> None:
        self.config_path = config_path
        self.env = dict(env or {})
        self.demo = demo
        self.metrics = metrics
        self.store = store
        self.breakers: dict[str, Breaker] = {}
        self._clients: dict[tuple[str, ProviderConfig], ProviderClient] = {}
        self._retired: list[ProviderClient] = []
        self.snapshot = self._build(cfg, 0)
        self._mtime = self._stat()
        self.drain = Drain()  # SIGTERM's grace period (gateway/drain.py)

    # -- snapshots ---------------------------------------------------------
    def _client(self, name: str, pcfg: ProviderConfig) -> ProviderClient:
        key = (name, pcfg)
        c = self._clients.get(key)
        if c is None:
            c = self._clients[key] = ProviderClient(name, pcfg)
        return c

    def _build(self, cfg: GatewayConfig, version: int) -> Snapshot:
        providers = {n: self._client(n, p) for n, p in cfg.providers.items()}
        for alias in cfg.models:
            if alias not in self.breakers:
                self.breakers[alias] = Breaker(
                    cfg.server.circuit_failures, cfg.server.circuit_cooldown_s,
                    on_change=self._breaker_hook(alias))
        return Snapshot(cfg, KeyRing(cfg.active_keys()), providers, version)

    def _breaker_hook(self, alias: str) -> Any:
        def hook(state: str) -> None:
            log.warning("circuit for model %s is now %s", alias, state)
            if self.metrics is not None:
                self.metrics.circuit_state.labels(model=alias).set(STATE_VALUE[state])
        return hook

    def warnings(self) -> list[str]:
        cfg = self.snapshot.cfg
        out = []
        for name, c in self.snapshot.providers.items():
            if not c.configured:
                out.append(f"provider {name!r} has no API key: requests routed there fail "
                           f"until you set {c.key_setting}")
        for k in cfg.keys:
            if k.digest is None:
                out.append(f"gateway key {k.name!r} has no key value (its env var is unset): "
                           "it is disabled")
        if self.snapshot.keyring.open:
            out.append("no gateway keys configured: open access, any client key is accepted")
        return out

    # -- reload ------------------------------------------------------------
    def _stat(self) -> tuple[int, int, int] | None:
        """The file's identity and version: inode (an atomic rename), mtime, size."""
        if not self.config_path:
            return None
        try:
            st = Path(self.config_path).stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _refuse(self, message: str) -> ReloadResult:
        log.error("config reload refused, the old config keeps serving: %s", message)
        if self.metrics is not None:
            self.metrics.config_reloads.labels(result="failure").inc()
        return ReloadResult(False, message)

    def reload(self, text: str | None = None) -> ReloadResult:
        """Load the config file (or ``text``, read from it by ``watch``) and ``apply`` it.

        Refused, the old config serving on: an invalid config, and one ``apply`` refuses
        (a key entry whose value is missing, a file cut off in its ``keys:``).
        """
        if not self.config_path:
            return ReloadResult(False, "no config file to reload")
        try:
            cfg = (load_config(self.config_path, self.env) if text is None
                   else parse_config(text, self.env, source=str(self.config_path)))
        except ConfigError as exc:
            return self._refuse(str(exc))
        return self.apply(cfg, source=str(self.config_path))

    def apply(self, cfg: GatewayConfig, *, source: str = "config") -> ReloadResult:
        """Serve ``cfg`` from now on (a reload's second half; also a config that never
        was a file). Refused, the old config serving on: one that would turn keyed
        access into open access without ``server.open_access: true``."""
        opens = not cfg.active_keys()
        if opens and not self.snapshot.keyring.open and not cfg.server.open_access:
            return self._refuse(
                f"{source}: it has no usable gateway key, which would open access "
                "to anyone; set `server.open_access: true` to mean that")
        if self.demo:
            from_demo = self.snapshot.cfg.providers
            cfg = cfg.model_copy(update={"providers": {
                n: from_demo.get(n, p) for n, p in cfg.providers.items()}})
        old = self.snapshot
        self.snapshot = self._build(cfg, old.version + 1)
        live = set(map(id, self.snapshot.providers.values()))
        for c in old.providers.values():
            if id(c) not in live:
                self._retired.append(c)
        self._clients = {k: c for k, c in self._clients.items() if id(c) in live}
        if self.metrics is not None:
            self.metrics.config_reloads.labels(result="success").inc()
        log.info("config reloaded (version %d)", self.snapshot.version)
        if opens:
            log.warning("config version %d has no gateway keys: open access, any client key "
                        "is accepted", self.snapshot.version)
        return ReloadResult(True, "reloaded")

    async def watch(self, interval_s: float = 1.0) -> None:
        """Poll the config file; reload a change once it is stable: the same inode, mtime,
        size and bytes in two reads ``SETTLE_S`` apart (at most a poll interval; a file
        still being written is left for the next poll). Atomic replacement (write a new
        file, rename it over) is never seen half-written at all."""
        while True:
            await asyncio.sleep(interval_s)
            m = self._stat()
            if m is not None and m != self._mtime:
                stable = await self._read_stable(min(SETTLE_S, interval_s))
                if stable is not None:
                    self._mtime, text = stable
                    self.reload(text)
            await self._close_retired()

    async def _read_stable(self, settle_s: float) -> tuple[Any, str] | None:
        def read() -> tuple[Any, bytes | None]:
            try:
                return self._stat(), Path(str(self.config_path)).read_bytes()
            except OSError:
                return None, None

        first = read()
        await asyncio.sleep(settle_s)
        second = read()
        if first != second or second[1] is None or second[0] is None:
            return None
        try:
            return second[0], second[1].decode("utf-8")
        except UnicodeDecodeError as exc:
            self._refuse(f"{self.config_path}: not UTF-8: {exc}")
            self._mtime = second[0]
            return None

    async def _close_retired(self) -> None:
        # Old clients may still serve in-flight requests; close them once idle.
        keep = []
        for c in self._retired:
            if not c.connections_in_use:
                await c.close()
            else:
                keep.append(c)
        self._retired = keep

    # -- readiness ----------------------------------------------------------
    def store_status(self) -> dict[str, Any]:
        """The store's state as last seen (no probe)."""
        store = self.store
        if isinstance(store, ResilientStore):
            return store.status()
        return {"store": "memory", "ok": True}

    async def readiness(self, probe: bool = True) -> tuple[bool, dict[str, Any]]:
        """Ready to serve, and why not: the one answer of ``/readyz`` and the console.
        ``probe`` pings Redis now instead of reporting the last call's outcome."""
        detail: dict[str, Any] = {"config_version": self.snapshot.version,
                                  "circuits": {a: b.snapshot() for a, b in self.breakers.items()}}
        draining = self.drain.draining
        ok = not draining
        if probe and isinstance(self.store, ResilientStore):
            await self.store.ping()
        st = self.store_status()
        detail["store"] = st
        if isinstance(self.store, ResilientStore):
            if self.metrics is not None:
                self.metrics.store_degraded.set(1 if st["degraded"] else 0)
            if not st["ok"]:
                ok = False
                mode = ("fail_open: still serving, limits per process and cache bypassed"
                        if st["on_error"] == "fail_open" else "fail_closed: refusing requests")
                detail["reason"] = f"Redis is unreachable ({st['error']}); {mode}"
        if draining:  # the store's state must not overwrite why the replica is leaving
            detail["reason"] = "shutting down"
        detail["status"] = "ready" if ok else "not ready"
        return ok, detail

    async def close(self) -> None:
        for c in list(self._clients.values()) + self._retired:
            await c.close()
        if self.store is not None:
            await self.store.close()
