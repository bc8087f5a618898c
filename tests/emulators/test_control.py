from __future__ import annotations

import threading
import time

import pytest

from gateway.emulators import FAULT_KINDS, EmulatorControl, RecordedRequest


def _request(path: str) -> RecordedRequest:
    return RecordedRequest("POST", path, {}, None, 0)


def test_faults_are_fifo_and_counted() -> None:
    control = EmulatorControl()
    control.fail_next(529, times=2)
    control.fault_next("reset_before")
    control.fault_next("stall_before", seconds=0.5)
    assert control.pending_faults == 4
    kinds = [control.take_fault() for _ in range(5)]
    assert [f.kind if f else None for f in kinds] == [
        "fail",
        "fail",
        "reset_before",
        "stall_before",
        None,
    ]
    assert kinds[0] is not None and kinds[0]["status"] == 529
    assert kinds[3] is not None and kinds[3]["seconds"] == 0.5
    assert control.pending_faults == 0


def test_fault_defaults_are_filled_in() -> None:
    control = EmulatorControl()
    control.fault_next("reset_mid_stream")
    fault = control.take_fault()
    assert fault is not None
    assert dict(fault.params) == {"after_chunks": 1, "rst": False}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.fault_next("explode"), "unknown fault kind"),
        (lambda c: c.fault_next("stall_before", secs=1), "takes"),
        (lambda c: c.fault_next("garbage", times=0), "times"),
        (lambda c: c.fail_next(99), "HTTP status"),
    ],
)
def test_bad_fault_requests_fail_loudly(call: object, message: str) -> None:
    control = EmulatorControl()
    with pytest.raises(ValueError, match=message):
        call(control)  # type: ignore[operator]
    assert control.pending_faults == 0


def test_fail_next_retry_after_becomes_a_header() -> None:
    control = EmulatorControl()
    control.fail_next(429, retry_after=2)
    control.fail_next(429, retry_after=0.5, headers={"x-should-retry": "true"})
    first, second = control.take_fault(), control.take_fault()
    assert first is not None and first["headers"] == {"retry-after": "2"}
    assert second is not None and second["headers"] == {
        "x-should-retry": "true",
        "retry-after": "0.5",
    }


def test_every_documented_kind_is_accepted() -> None:
    control = EmulatorControl()
    for kind in sorted(FAULT_KINDS):
        control.fault_next(kind)
    assert control.pending_faults == len(FAULT_KINDS) == 9


def test_recording_and_reset() -> None:
    control = EmulatorControl()
    assert control.last_request is None
    control.record(_request("/a"))
    control.record(_request("/b"))
    snapshot = control.requests
    control.record(_request("/c"))
    assert [r.path for r in snapshot] == ["/a", "/b"]  # a snapshot, not a live view
    assert control.last_request is not None and control.last_request.path == "/c"
    control.chunk_delay = 0.1
    control.text_override = "x"
    control.fail_next(500)
    control.reset()
    assert control.requests == [] and control.pending_faults == 0
    assert control.chunk_delay == 0 and control.text_override is None


def test_chunk_delay_rejects_negative() -> None:
    with pytest.raises(ValueError):
        EmulatorControl().chunk_delay = -1


def test_wait_for_wakes_on_stream_changes() -> None:
    control = EmulatorControl()
    control.stream_opened()
    timer = threading.Timer(0.05, lambda: control.stream_closed(cancelled=True, completed=False))
    timer.start()
    started = time.monotonic()
    assert control.wait_for(lambda c: c.active_streams == 0, timeout=2)
    assert time.monotonic() - started < 1
    assert control.streams_cancelled == 1
    assert not control.wait_for(lambda c: c.active_streams == 5, timeout=0.05)


async def test_wait_for_async_times_out() -> None:
    control = EmulatorControl()
    assert await control.wait_for_async(lambda c: c.active_streams == 0, timeout=0.1)
    assert not await control.wait_for_async(lambda c: c.active_streams == 1, timeout=0.05)


def test_concurrent_takers_never_share_a_fault() -> None:
    control = EmulatorControl()
    control.fail_next(500, times=200)
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while control.take_fault() is not None:
            with lock:
                taken.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 200
