"""Each injected fault, as an httpx client sees it, against both emulators."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from .conftest import CLAUDE_MODEL, KIMI_MODEL, Emulator, claude_headers, kimi_headers
from .sse import iter_frames


@dataclass
class Target:
    name: str
    emu: Emulator
    url: str
    headers: dict[str, str]
    make_body: Callable[[bool, str], dict[str, Any]]

    def body(self, stream: bool = False, text: str = "one two three four") -> dict[str, Any]:
        return self.make_body(stream, text)

    def post(self, stream: bool = False, timeout: float = 5.0, **kw: Any) -> httpx.Response:
        return self.emu.http.post(
            self.url, json=self.body(stream), headers=self.headers, timeout=timeout, **kw
        )

    def stream_frames(
        self, client: httpx.Client, text: str = "one two three four"
    ) -> tuple[list[tuple[str | None, str]], BaseException | None]:
        """Frames read before the stream ended, and the error that ended it, if any."""
        frames: list[tuple[str | None, str]] = []
        try:
            with client.stream(
                "POST", self.url, json=self.body(True, text), headers=self.headers
            ) as response:
                assert response.status_code == 200
                for frame in iter_frames(response.iter_lines()):
                    frames.append(frame)
        except httpx.HTTPError as exc:
            return frames, exc
        return frames, None


@pytest.fixture(params=["kimi", "claude"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "kimi":
        kimi: Emulator = request.getfixturevalue("kimi")
        return Target(
            "kimi",
            kimi,
            kimi.v1 + "/chat/completions",
            kimi_headers(),
            lambda stream, text: {
                "model": KIMI_MODEL,
                "stream": stream,
                "messages": [{"role": "user", "content": text}],
            },
        )
    claude: Emulator = request.getfixturevalue("claude")
    return Target(
        "claude",
        claude,
        claude.url + "/v1/messages",
        claude_headers(),
        lambda stream, text: {
            "model": CLAUDE_MODEL,
            "max_tokens": 5000,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        },
    )


def test_fail_next_uses_the_apis_own_error_body(kimi: Emulator, claude: Emulator) -> None:
    kimi.control.fail_next(429, retry_after=3)
    response = kimi.http.post(
        kimi.v1 + "/chat/completions", json={}, headers={}
    )  # faults win over validation
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json() == {
        "error": {
            "type": "engine_overloaded_error",
            "message": "The engine is currently overloaded, please try again later",
        }
    }
    claude.control.fail_next(529)
    response = claude.http.post(claude.url + "/v1/messages", json={}, headers=claude_headers())
    assert response.status_code == 529
    body = response.json()
    assert body["type"] == "error" and body["error"] == {
        "type": "overloaded_error",
        "message": "Overloaded",
    }
    assert body["request_id"] == response.headers["request-id"]


@pytest.mark.parametrize(
    ("status", "kimi_type", "claude_type"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "invalid_authentication_error", "authentication_error"),
        (403, "permission_denied_error", "permission_error"),
        (404, "resource_not_found_error", "not_found_error"),
        (500, "server_error", "api_error"),
        (503, "server_error", "api_error"),
        (504, "server_error", "timeout_error"),
    ],
)
def test_fail_next_types_per_status(
    target: Target, status: int, kimi_type: str, claude_type: str
) -> None:
    target.emu.control.fail_next(status)
    response = target.post()
    assert response.status_code == status
    assert response.json()["error"]["type"] == (kimi_type if target.name == "kimi" else claude_type)


def test_fail_next_custom_body_times_and_overrides(target: Target) -> None:
    control = target.emu.control
    control.fail_next(429, error_type="exceeded_current_quota_error", message="quota gone")
    control.fail_next(502, body="<html>bad gateway</html>", times=2)
    control.fail_next(418, body={"custom": True}, headers={"x-test": "1"})
    first = target.post()
    assert first.status_code == 429
    assert first.json()["error"] == {
        "type": "exceeded_current_quota_error",
        "message": "quota gone",
    }
    assert [target.post().text for _ in range(2)] == ["<html>bad gateway</html>"] * 2
    teapot = target.post()
    assert (teapot.status_code, teapot.json(), teapot.headers["x-test"]) == (
        418,
        {"custom": True},
        "1",
    )
    assert target.post().status_code == 200  # all consumed
    assert len(control.requests) == 5


def test_reset_before_gives_a_connection_error(target: Target) -> None:
    target.emu.control.fault_next("reset_before")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError)):
        target.post()
    assert len(target.emu.control.requests) == 1  # it was received, then dropped
    assert target.post().status_code == 200


def test_reset_mid_stream_after_n_events(target: Target) -> None:
    target.emu.control.fault_next("reset_mid_stream", after_chunks=3)
    with httpx.Client() as client:
        frames, error = target.stream_frames(client)
    assert len(frames) == 3
    assert isinstance(error, httpx.RemoteProtocolError)  # the body ended before its end
    assert target.emu.control.wait_for(lambda c: c.active_streams == 0)


def test_reset_mid_stream_with_rst(target: Target) -> None:
    target.emu.control.fault_next("reset_mid_stream", after_chunks=2, rst=True)
    with httpx.Client() as client:
        _, error = target.stream_frames(client)
    assert isinstance(error, httpx.ReadError) and "reset" in str(error).lower()


def test_reset_mid_body_for_non_stream(target: Target) -> None:
    target.emu.control.fault_next("reset_mid_stream")
    with pytest.raises(httpx.RemoteProtocolError):
        target.post()


def test_stall_before_trips_a_read_timeout(target: Target) -> None:
    target.emu.control.fault_next("stall_before", seconds=5)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        target.post(timeout=0.2)
    assert time.monotonic() - started < 2
    assert target.post().status_code == 200  # the stalled handler does not block others


def test_stall_before_then_answers(target: Target) -> None:
    target.emu.control.fault_next("stall_before", seconds=0.3)
    started = time.monotonic()
    assert target.post().status_code == 200
    assert time.monotonic() - started >= 0.3


def test_stall_between_chunks_once(target: Target) -> None:
    target.emu.control.fault_next("stall_between_chunks", seconds=0.4, after_chunks=2)
    stamps: list[float] = []
    with httpx.stream(
        "POST", target.url, json=target.body(True), headers=target.headers
    ) as response:
        for _ in iter_frames(response.iter_lines()):
            stamps.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[1] >= 0.35  # between the 2nd and the 3rd event
    assert max(gaps[:1] + gaps[2:]) < 0.3  # and nowhere else


def test_stall_between_chunks_trips_an_idle_timeout(target: Target) -> None:
    target.emu.control.fault_next("stall_between_chunks", seconds=3)
    frames: list[Any] = []
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream(
            "POST",
            target.url,
            json=target.body(True),
            headers=target.headers,
            timeout=httpx.Timeout(5, read=0.2),
        ) as response,
    ):
        for frame in iter_frames(response.iter_lines()):
            frames.append(frame)
    assert len(frames) == 1
    # the client left: the emulator notices and stops the stream
    assert target.emu.control.wait_for(lambda c: c.active_streams == 0 and c.streams_cancelled == 1)


def test_garbage(target: Target) -> None:
    target.emu.control.fault_next("garbage", times=2)
    response = target.post()
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        orjson.loads(response.content)
    stream = target.post(stream=True)
    assert stream.headers["content-type"].startswith("text/event-stream")
    frames = list(iter_frames(stream.text.split("\n")))
    assert frames and all(not d.startswith('{"') for _, d in frames)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(frames[0][1])


def test_wrong_content_type(target: Target) -> None:
    target.emu.control.fault_next("wrong_content_type")
    response = target.post(stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<html>")


def test_truncated_json(target: Target) -> None:
    target.emu.control.fault_next("truncated_json")
    response = target.post()
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(
        response.content
    )  # complete HTTP, cut JSON
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    assert response.content.startswith(b"{")


def test_truncated_json_in_a_stream(target: Target) -> None:
    target.emu.control.fault_next("truncated_json", after_chunks=2)
    with httpx.Client() as client:
        frames, error = target.stream_frames(client)
    assert error is None and len(frames) == 3
    for _, data in frames[:2]:
        orjson.loads(data)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(frames[2][1])


def test_error_event_mid_stream(target: Target) -> None:
    target.emu.control.fault_next("error_event_mid_stream", after_chunks=2)
    with httpx.Client() as client:
        frames, error = target.stream_frames(client)
    assert error is None and len(frames) == 3
    event, data = frames[2]
    payload = orjson.loads(data)
    if target.name == "kimi":
        assert event is None
        assert payload == {
            "error": {
                "type": "engine_overloaded_error",
                "message": "The engine is currently overloaded, please try again later",
            }
        }
    else:
        assert event == "error"
        assert payload["type"] == "error" and payload["error"]["type"] == "overloaded_error"
    assert all(d != "[DONE]" for _, d in frames)


def test_error_event_custom_type(target: Target) -> None:
    target.emu.control.fault_next(
        "error_event_mid_stream", after_chunks=1, error_type="api_error", message="boom"
    )
    with httpx.Client() as client:
        frames, _ = target.stream_frames(client)
    assert orjson.loads(frames[1][1])["error"] == {"type": "api_error", "message": "boom"}


@pytest.mark.parametrize("kind", ["error_body_200", "error_event_mid_stream"])
def test_error_body_200(target: Target, kind: str) -> None:
    target.emu.control.fault_next(kind)
    response = target.post()
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["type"] == (
        "engine_overloaded_error" if target.name == "kimi" else "overloaded_error"
    )


def test_chunk_delay(target: Target) -> None:
    target.emu.control.chunk_delay = 0.03
    started = time.monotonic()
    response = target.post(stream=True)
    frames = list(iter_frames(response.text.split("\n")))
    assert len(frames) >= 6
    assert time.monotonic() - started >= 0.03 * (len(frames) - 1) * 0.9


def test_client_leaving_cancels_the_stream(target: Target) -> None:
    control = target.emu.control
    control.chunk_delay = 0.02
    with httpx.stream(
        "POST", target.url, json=target.body(True, "w " * 200), headers=target.headers
    ) as response:
        lines = response.iter_lines()
        for _, _ in zip(range(3), iter_frames(lines), strict=False):
            pass
        assert control.active_streams == 1
    assert control.wait_for(lambda c: c.active_streams == 0, timeout=3)
    assert (control.streams_cancelled, control.streams_completed) == (1, 0)
    control.chunk_delay = 0
    assert target.post(stream=True).status_code == 200
    assert control.wait_for(lambda c: c.streams_completed == 1)
    assert control.streams_cancelled == 1


def test_response_headers_knob(target: Target) -> None:
    target.emu.control.response_headers = {"X-RateLimit-Remaining-Requests": "7"}
    assert target.post().headers["x-ratelimit-remaining-requests"] == "7"
    assert target.post(stream=True).headers["x-ratelimit-remaining-requests"] == "7"
