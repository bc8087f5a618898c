"""One Moonshot and one Anthropic emulator for the whole session (starting uvicorn
costs time on a 2-core machine); each test gets them with a freshly reset control."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gateway.emulators import (
    EmulatorControl,
    EmulatorServer,
    create_anthropic_app,
    create_moonshot_app,
)

KIMI_KEY = "sk-emu-kimi"
CLAUDE_KEY = "sk-ant-emu"
KIMI_MODEL = "kimi-k2-0905-preview"
# Not on the SDK's deprecation list, so the SDK stays quiet about it.
CLAUDE_MODEL = "claude-haiku-4-5"


@dataclass(frozen=True)
class Emulator:
    url: str  # the server root
    control: EmulatorControl
    # One pooled client per emulator: building an httpx.Client costs ~15 ms.
    http: httpx.Client

    @property
    def v1(self) -> str:
        return self.url + "/v1"


@pytest.fixture(scope="session")
def _kimi_server() -> Iterator[Emulator]:
    control = EmulatorControl()
    with (
        EmulatorServer(create_moonshot_app(control, api_key=KIMI_KEY)) as server,
        httpx.Client() as http,
    ):
        yield Emulator(server.url, control, http)


@pytest.fixture(scope="session")
def _claude_server() -> Iterator[Emulator]:
    control = EmulatorControl()
    with (
        EmulatorServer(create_anthropic_app(control, api_key=CLAUDE_KEY)) as server,
        httpx.Client() as http,
    ):
        yield Emulator(server.url, control, http)


@pytest.fixture
def kimi(_kimi_server: Emulator) -> Iterator[Emulator]:
    _kimi_server.control.reset()
    yield _kimi_server
    _kimi_server.control.reset()


@pytest.fixture
def claude(_claude_server: Emulator) -> Iterator[Emulator]:
    _claude_server.control.reset()
    yield _claude_server
    _claude_server.control.reset()


def kimi_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {KIMI_KEY}"}


def claude_headers() -> dict[str, str]:
    return {"x-api-key": CLAUDE_KEY, "anthropic-version": "2023-06-01"}
