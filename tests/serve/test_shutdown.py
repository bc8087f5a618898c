"""Graceful shutdown of a real ``gateway serve`` process.

On SIGTERM the server stops accepting connections, lets in-flight streams finish
within ``server.graceful_shutdown_s`` and exits 0; a stream that outlives the grace
period ends with a final SSE error event the SDKs raise, never a silent truncation.
"""

from __future__ import annotations

import signal
import threading
import time

import anthropic
import httpx
import openai
import pytest

from tests.support.gateway_process import GatewayProcess

from .support import ENGLISH, access_line, config_text

pytestmark = pytest.mark.timeout(60)

WORDS = " ".join(f"word{i}" for i in range(24))


def _server(kimi, claude, grace_s: float, workers: int = 1) -> GatewayProcess:
    return GatewayProcess(config_text(kimi.url, claude.url,
                                      extra=f"server: {{graceful_shutdown_s: {grace_s}}}"),
                          workers=workers)


class StreamReader(threading.Thread):
    """Reads one streamed chat completion as raw SSE lines, in the background."""

    def __init__(self, url: str, request_id: str) -> None:
        super().__init__(daemon=True)
        self.url, self.request_id = url, request_id
        self.lines: list[str] = []
        self.error: Exception | None = None
        self.started_streaming = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("POST", self.url + "/v1/chat/completions", timeout=30,
                              headers={"x-request-id": self.request_id},
                              json={"model": "auto", "messages": ENGLISH,
                                    "stream": True}) as r:
                for line in r.iter_lines():
                    self.lines.append(line)
                    self.started_streaming.set()
        except Exception as exc:  # noqa: BLE001 (the test inspects it)
            self.error = exc
            self.started_streaming.set()


def _wait_refused(url: str, timeout: float = 10) -> None:
    """Poll until a new connection is refused (the listening socket is closed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url + "/healthz", timeout=1)
        except httpx.ConnectError:
            return
        except (httpx.ReadError, httpx.RemoteProtocolError):
            pass  # queued just before the socket closed, then reset: try again
        assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_a_slow_stream_finish(kimi, claude, workers: int) -> None:
    claude.control.chunk_delay = 0.25  # about 6 s of stream
    claude.control.text_override = WORDS
    with _server(kimi, claude, grace_s=20, workers=workers) as gw:
        reader = StreamReader(gw.url, f"shut-ok-{workers}")
        reader.start()
        assert reader.started_streaming.wait(10)
        gw.signal(signal.SIGTERM)
        _wait_refused(gw.url)
        # Refused while the stream still runs: the server stopped accepting first.
        assert reader.is_alive()
        reader.join(30)
        assert reader.error is None, reader.error
        data = [line for line in reader.lines if line.startswith("data: ")]
        assert data[-1] == "data: [DONE]"
        assert not any('"error"' in line for line in data)
        text = "".join(line for line in data if "content" in line)
        assert "word23" in text
        assert gw.proc.wait(30) == 0  # type: ignore[union-attr]
        assert access_line(gw, f"shut-ok-{workers}")["status"] == 200
        assert claude.control.streams_completed == 1


@pytest.mark.parametrize("surface", ["openai", "anthropic"])
def test_a_stream_longer_than_the_grace_period_ends_with_an_error_event(
        kimi, claude, surface: str) -> None:
    claude.control.chunk_delay = 0.3
    claude.control.text_override = " ".join(f"w{i}" for i in range(100))  # ~30 s
    with _server(kimi, claude, grace_s=1) as gw:
        received: list[str] = []
        started = threading.Event()
        outcome: list[BaseException] = []
        consume = _openai_stream if surface == "openai" else _anthropic_stream

        def run() -> None:
            try:
                consume(gw.url, received, started)
            except BaseException as exc:  # noqa: BLE001 (the test inspects it)
                outcome.append(exc)
                started.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert started.wait(10)
        gw.signal(signal.SIGTERM)
        thread.join(30)
        assert gw.proc.wait(30) == 0  # type: ignore[union-attr]
        log = gw.log()
    assert received, "nothing streamed before the cut"
    # The SDK raised the gateway's error event: the client knows the answer is partial.
    assert len(outcome) == 1, outcome
    assert isinstance(outcome[0], (openai.APIError, anthropic.APIError)), repr(outcome[0])
    assert "shutting down" in str(outcome[0])
    assert "graceful shutdown period over" in log
    # The upstream stream was closed, not left generating.
    assert claude.control.wait_for(lambda c: c.active_streams == 0, timeout=5)
    assert claude.control.streams_cancelled == 1


def _openai_stream(url: str, received: list[str], started: threading.Event) -> None:
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    for chunk in client.chat.completions.create(model="auto", messages=ENGLISH, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            started.set()


def _anthropic_stream(url: str, received: list[str], started: threading.Event) -> None:
    client = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0)
    with client.messages.stream(model="auto", max_tokens=512, messages=ENGLISH) as stream:
        for text in stream.text_stream:
            received.append(text)
            started.set()


def test_readyz_is_503_while_draining(make_gateway) -> None:
    gw = make_gateway()
    assert httpx.get(gw.url + "/readyz").status_code == 200

    async def begin() -> None:
        gw.rt.drain.begin(30)  # what the SIGTERM hook does in a served process

    gw.call(begin())
    r = httpx.get(gw.url + "/readyz")
    assert r.status_code == 503
    assert r.json()["reason"] == "shutting down" and r.json()["status"] == "not ready"
