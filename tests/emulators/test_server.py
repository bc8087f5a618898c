"""Serving the emulators: in a thread, inside a running loop (asyncio and uvloop),
and in-process through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest
import uvloop

from gateway.emulators import (
    EmulatorControl,
    EmulatorServer,
    create_anthropic_app,
    create_moonshot_app,
    serve_in_loop,
)
from gateway.emulators.wire import NoTransportError

KIMI = {"authorization": "Bearer sk-emu-kimi"}
CHAT = {"model": "kimi-k2-0905-preview", "messages": [{"role": "user", "content": "hi"}]}


def test_emulator_server_lifecycle() -> None:
    server = EmulatorServer(create_moonshot_app(EmulatorControl()))
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url + "/v1/models", headers=KIMI).status_code == 200
        with pytest.raises(RuntimeError):
            server.start()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/v1/models", headers=KIMI)
    server.stop()  # stopping twice is harmless


def test_stop_does_not_wait_for_a_stalled_stream() -> None:
    control = EmulatorControl()
    server = EmulatorServer(create_moonshot_app(control)).start()
    control.fault_next("stall_between_chunks", seconds=30)
    with httpx.stream(
        "POST", server.url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=KIMI
    ) as response:
        next(response.iter_lines())
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 4


async def test_serve_in_loop_with_faults_and_no_signal_handlers() -> None:
    before = signal.getsignal(signal.SIGINT)
    control = EmulatorControl()
    async with await serve_in_loop(create_anthropic_app(control)) as server:
        assert signal.getsignal(signal.SIGINT) is before  # the caller's handlers stay
        headers = {"x-api-key": "sk-ant-emu", "anthropic-version": "2023-06-01"}
        body = {
            "model": "claude-haiku-4-5",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post("/v1/messages", json=body, headers=headers)
            assert response.json()["content"][0]["text"] == "Echo: hi"
            control.fault_next("reset_before", rst=True)
            with pytest.raises(httpx.ReadError):
                await client.post("/v1/messages", json=body, headers=headers)
            assert (
                await client.post("/v1/messages", json=body, headers=headers)
            ).status_code == 200
    assert signal.getsignal(signal.SIGINT) is before


async def test_serve_in_loop_on_a_fixed_port() -> None:
    first = await serve_in_loop(create_moonshot_app(EmulatorControl()))
    port = int(first.url.rsplit(":", 1)[1])
    await first.close()
    again = await serve_in_loop(create_moonshot_app(EmulatorControl()), port=port)
    try:
        assert again.url == f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            assert (await client.get(again.url + "/v1/models", headers=KIMI)).status_code == 200
    finally:
        await again.close()


def test_resets_work_under_uvloop() -> None:
    """``gateway serve --demo`` runs the emulators in uvicorn's uvloop loop."""

    async def main() -> tuple[type[BaseException], int]:
        control = EmulatorControl()
        server = await serve_in_loop(create_moonshot_app(control))
        try:
            async with httpx.AsyncClient() as client:
                control.fault_next("reset_mid_stream", after_chunks=1, rst=True)
                error: type[BaseException] = type(None)  # type: ignore[assignment]
                try:
                    await client.post(
                        server.url + "/v1/chat/completions",
                        json={**CHAT, "stream": True},
                        headers=KIMI,
                    )
                except httpx.HTTPError as exc:
                    error = type(exc)
                ok = await client.post(server.url + "/v1/chat/completions", json=CHAT, headers=KIMI)
                return error, ok.status_code
        finally:
            await server.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        error, status = runner.run(main())
    assert error is httpx.ReadError
    assert status == 200


async def test_in_process_asgi_transport() -> None:
    """Without the emulator protocol everything works but resets, which raise."""
    control = EmulatorControl()
    transport = httpx.ASGITransport(app=create_moonshot_app(control))
    async with httpx.AsyncClient(transport=transport, base_url="http://kimi") as client:
        response = await client.post(
            "/v1/chat/completions", json={**CHAT, "stream": True}, headers=KIMI
        )
        assert response.text.endswith("data: [DONE]\n\n")
        control.fault_next("reset_before")
        with pytest.raises(NoTransportError):
            await client.post("/v1/chat/completions", json=CHAT, headers=KIMI)
