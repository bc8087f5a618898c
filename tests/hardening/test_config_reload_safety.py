"""Issue 18.3: a config file being written never takes effect half-written, and a
reload never opens keyed access by accident.

The watcher (``Runtime.watch``) runs on its own loop here, against a real file
rewritten the way editors and scripts do it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gateway.auth import ANONYMOUS
from gateway.config import parse_config
from gateway.errors import AuthError
from gateway.runtime import Runtime
from tests.support.gateway_server import test_config_text as config_text

KEYS = "keys:\n  - name: a\n    key: secret-a\n    policy: open\n"
KEYS_B = "keys:\n  - name: a\n    key: secret-a\n    policy: open\n  - name: b\n    key: secret-b\n"


def text(keys: str = KEYS, extra: str = "") -> str:
    return config_text("http://127.0.0.1:9/v1", "http://127.0.0.1:9", extra, keys=keys)


def runtime(path: Path, body: str) -> Runtime:
    path.write_text(body)
    return Runtime(parse_config(body, {}), config_path=str(path))


def accepts(rt: Runtime, key: str) -> bool:
    try:
        return rt.snapshot.keyring.identify(key) is not None
    except AuthError:
        return False


async def watch_while(rt: Runtime, work: asyncio.Future[None] | asyncio.Task[None],
                      interval: float = 0.1, probe: str = "bogus") -> list[bool]:
    """Run the watcher until ``work`` ends; sample whether ``probe`` gets in."""
    watcher = asyncio.ensure_future(rt.watch(interval))
    seen = []
    try:
        while not work.done():
            seen.append(accepts(rt, probe))
            await asyncio.sleep(0.01)
        await work
        await asyncio.sleep(interval * 4)  # the final state is applied
        seen.append(accepts(rt, probe))
    finally:
        watcher.cancel()
    return seen


async def test_a_config_rewritten_in_two_writes_never_lets_a_bogus_key_in(tmp_path: Path
                                                                         ) -> None:
    """Key `a` gets a new value; the writer pauses a second after `- name: a`, before
    its `key:` line. That half is a valid config whose only key entry has no key: open
    access (the review saw a bogus key get 200 in that window). Now it is refused, and
    the whole file applied once it is written."""
    path = tmp_path / "gateway.yaml"
    full = text("keys:\n  - name: a\n    key: secret-a2\n    policy: open\n")
    rt = runtime(path, text())
    cut = full.index("    key: secret-a2")

    async def write_in_two() -> None:
        with open(path, "w") as f:
            f.write(full[:cut])
            f.flush()
            await asyncio.sleep(1.0)
            f.write(full[cut:])

    seen = await watch_while(rt, asyncio.ensure_future(write_in_two()))
    assert not any(seen), "a bogus key got in while the config was half written"
    assert accepts(rt, "secret-a2") and not accepts(rt, "secret-a")
    assert rt.snapshot.version == 1


async def test_a_file_still_being_written_is_not_applied(tmp_path: Path) -> None:
    """Appended to every 50 ms for a second (each prefix a valid config): applied once,
    when it stops changing; before, every poll applied what it read."""
    path = tmp_path / "gateway.yaml"
    rt = runtime(path, text())

    async def trickle() -> None:
        for i in range(20):
            with open(path, "a") as f:
                f.write(f"# line {i}\n")
            await asyncio.sleep(0.05)

    await watch_while(rt, asyncio.ensure_future(trickle()), probe="secret-a")
    assert rt.snapshot.version == 1


async def test_keyed_to_open_needs_saying_so(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gateway.yaml"
    rt = runtime(path, text())
    path.write_text(text(keys=""))
    with caplog.at_level(logging.WARNING, logger="gateway"):
        r = rt.reload()
    assert not r.ok and "open_access" in r.message
    assert not accepts(rt, "bogus") and accepts(rt, "secret-a")

    path.write_text(text(keys="", extra="server: {open_access: true}"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway"):
        assert rt.reload().ok
    assert rt.snapshot.keyring.identify("anything") is ANONYMOUS
    assert any("open access" in r.message for r in caplog.records
               if r.levelno == logging.WARNING)

    # Every reload that leaves access open warns, not just the one that opened it.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway"):
        assert rt.reload().ok
    assert any("open access" in r.message for r in caplog.records
               if r.levelno == logging.WARNING)

    # Open to keyed needs nothing special.
    path.write_text(text(KEYS_B))
    assert rt.reload().ok and accepts(rt, "secret-b") and not accepts(rt, "bogus")
