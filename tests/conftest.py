"""Shared fixtures: the loopback emulators and a real gateway in front of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway.emulators import (
    EmulatorControl,
    EmulatorServer,
    create_anthropic_app,
    create_moonshot_app,
)
from tests.support.gateway_server import GatewayServer, test_config
from tests.support.redis_server import RedisCluster, RedisServer


@dataclass
class Emu:
    control: EmulatorControl
    server: EmulatorServer

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """One redis-server for the whole run, for tests that only read and write."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master cluster, started only when a test asks for it."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server this test may kill, pause or restart."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def _kimi_session() -> Iterator[Emu]:
    control = EmulatorControl()
    server = EmulatorServer(create_moonshot_app(control))
    server.start()
    yield Emu(control, server)
    server.stop()


@pytest.fixture(scope="session")
def _claude_session() -> Iterator[Emu]:
    control = EmulatorControl()
    server = EmulatorServer(create_anthropic_app(control))
    server.start()
    yield Emu(control, server)
    server.stop()


@pytest.fixture
def kimi(_kimi_session: Emu) -> Emu:
    _kimi_session.control.reset()
    return _kimi_session


@pytest.fixture
def claude(_claude_session: Emu) -> Emu:
    _claude_session.control.reset()
    return _claude_session


@pytest.fixture
def kimi_url(kimi: Emu) -> str:
    return kimi.url + "/v1"


@pytest.fixture
def gateway(kimi: Emu, claude: Emu) -> Iterator[GatewayServer]:
    with GatewayServer(test_config(kimi.url + "/v1", claude.url)) as gw:
        yield gw


@pytest.fixture
def make_gateway(kimi: Emu, claude: Emu) -> Iterator[object]:
    """Build a gateway with a custom config: ``make_gateway(extra=..., rules=..., keys=...)``."""
    started: list[GatewayServer] = []

    def make(**kw: object) -> GatewayServer:
        server_kw = {k: kw.pop(k) for k in ("redis_url", "log_prompts", "config_path",
                                            "watch_config", "env", "http") if k in kw}
        cfg = kw.pop("cfg", None) or test_config(kimi.url + "/v1", claude.url, **kw)  # type: ignore[arg-type]
        gw = GatewayServer(cfg, **server_kw).start()  # type: ignore[arg-type]
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()
