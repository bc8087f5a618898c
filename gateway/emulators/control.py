"""EmulatorControl: what a test sees of an emulator and how it steers one.

The emulator runs in another thread (``EmulatorServer``) or in the test's own loop
(``serve_in_loop``), so every piece of state here sits behind one lock.

Faults form one FIFO queue shared by ``fail_next`` and ``fault_next``: the head applies
to the next request (any route), its count drops, and it leaves the queue at zero.

Kinds, their parameters (defaults) and what the client sees:

- ``fail`` (``fail_next``): status, body, headers, error_type, message, retry_after;
  that status with the API's own error body.
- ``reset_before`` (rst=True): a TCP reset, no response at all.
- ``reset_mid_stream`` (after_chunks=1, rst=False): N SSE events (half of a JSON
  body), then the connection drops.
- ``stall_before`` (seconds=5.0): nothing for ``seconds``, then the normal answer.
- ``stall_between_chunks`` (seconds=1.0, after_chunks=None): a pause before every
  event after the first, or only once after N events when after_chunks is given
  (a JSON body pauses half-way).
- ``garbage``: 200 whose body is not JSON (streams: SSE frames whose data is not JSON).
- ``wrong_content_type``: 200 with a text/html page.
- ``truncated_json`` (after_chunks=1): 200 JSON cut in the middle with a matching
  content-length (streams: the event after N events has its JSON cut, then EOF).
- ``error_event_mid_stream`` (after_chunks=1, error_type, message): N events, then
  the API's in-stream error (Anthropic ``event: error``, Moonshot a ``data:
  {"error": ...}`` line) and EOF; on a non-stream request, like error_body_200.
- ``error_body_200`` (error_type, message): 200 whose body is the API's error JSON
  (default: Anthropic overloaded_error, Moonshot engine_overloaded_error).

Faults that bend an answer (reset_mid_stream, stall_between_chunks, truncated_json,
error_event_mid_stream) apply to successful answers only: a request the emulator
refuses gets its error unchanged, and the fault is used up.

``reset_mid_stream`` closes with a FIN by default: the events already sent are then
certain to reach the client, which sees an incomplete chunked body (httpx
``RemoteProtocolError``, aiohttp ``ClientPayloadError``). With ``rst=True`` it sends a
TCP RST (``ConnectionResetError``), and Linux may then drop data the client had not
read yet, so tests counting events before the failure should keep the default.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# kind -> its parameters and their defaults; fault_next rejects anything else so a
# typo in a test fails loudly instead of injecting nothing.
FAULT_PARAMS: dict[str, dict[str, Any]] = {
    "reset_before": {"rst": True},
    "reset_mid_stream": {"after_chunks": 1, "rst": False},
    "stall_before": {"seconds": 5.0},
    "stall_between_chunks": {"seconds": 1.0, "after_chunks": None},
    "garbage": {},
    "wrong_content_type": {},
    "truncated_json": {"after_chunks": 1},
    "error_event_mid_stream": {"after_chunks": 1, "error_type": None, "message": None},
    "error_body_200": {"error_type": None, "message": None},
}
FAULT_KINDS = frozenset(FAULT_PARAMS)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lowercase names; repeated headers joined by ", "
    json: Any  # the parsed body, or None when it was empty or not JSON
    raw_length: int
    query: str = ""


@dataclass(frozen=True)
class Fault:
    kind: str  # "fail" or one of FAULT_KINDS
    params: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.params[name]


@dataclass
class _Queued:
    fault: Fault
    remaining: int


class EmulatorControl:
    """Thread-safe recorder, fault queue and knobs shared by a test and an emulator."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._requests: list[RecordedRequest] = []
        self._faults: deque[_Queued] = deque()
        self._chunk_delay = 0.0
        self._text_override: str | None = None
        self._eager_tools = False
        self._response_headers: dict[str, str] = {}
        self._active_streams = 0
        self._streams_cancelled = 0
        self._streams_completed = 0
        self._cached_prefixes: set[bytes] = set()

    # ----- recording -------------------------------------------------------------
    def record(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot: the emulator may append while a test iterates."""
        with self._cond:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._cond:
            return self._requests[-1] if self._requests else None

    def clear(self) -> None:
        """Forget recorded requests."""
        with self._cond:
            self._requests.clear()

    def reset(self) -> None:
        """Back to a fresh state: requests, faults, knobs and stream tallies.

        ``active_streams`` is a live gauge and stays: a stream still closing would
        otherwise drive it below zero.
        """
        with self._cond:
            self._requests.clear()
            self._faults.clear()
            self._chunk_delay = 0.0
            self._text_override = None
            self._eager_tools = False
            self._response_headers = {}
            self._streams_cancelled = 0
            self._streams_completed = 0
            self._cached_prefixes.clear()

    def cache_prefix(self, key: bytes) -> bool:
        """Note a prompt-cache prefix; True if it was already cached (a read), False
        the first time (a write)."""
        with self._cond:
            seen = key in self._cached_prefixes
            self._cached_prefixes.add(key)
            return seen

    # ----- faults ----------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        *,
        error_type: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status``.

        ``body`` None: the API's own error body for that status (``error_type`` and
        ``message`` override its fields); a dict is sent as JSON; str/bytes as is.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["retry-after"] = _format_seconds(retry_after)
        params = {
            "status": status,
            "body": body,
            "headers": all_headers,
            "error_type": error_type,
            "message": message,
        }
        self._enqueue(Fault("fail", params), times)

    def fault_next(self, kind: str, times: int = 1, **params: Any) -> None:
        """Inject a transport or protocol fault into the next ``times`` requests."""
        if kind not in FAULT_PARAMS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        defaults = FAULT_PARAMS[kind]
        unknown = set(params) - set(defaults)
        if unknown:
            raise ValueError(f"fault {kind!r} takes {sorted(defaults)}, not {sorted(unknown)}")
        self._enqueue(Fault(kind, {**defaults, **params}), times)

    def _enqueue(self, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._cond:
            self._faults.append(_Queued(fault, times))

    def take_fault(self) -> Fault | None:
        """The fault for the request being handled now, consuming one use of it."""
        with self._cond:
            if not self._faults:
                return None
            head = self._faults[0]
            head.remaining -= 1
            if head.remaining == 0:
                self._faults.popleft()
            return head.fault

    @property
    def pending_faults(self) -> int:
        with self._cond:
            return sum(q.remaining for q in self._faults)

    # ----- steady knobs ------------------------------------------------------------
    @property
    def chunk_delay(self) -> float:
        """Seconds between stream events (0: as fast as the client reads)."""
        with self._cond:
            return self._chunk_delay

    @chunk_delay.setter
    def chunk_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("chunk_delay must be >= 0")
        with self._cond:
            self._chunk_delay = seconds

    @property
    def text_override(self) -> str | None:
        """Reply text used instead of the generated one (None: generate)."""
        with self._cond:
            return self._text_override

    @text_override.setter
    def text_override(self, text: str | None) -> None:
        with self._cond:
            self._text_override = text

    @property
    def eager_tools(self) -> bool:
        """Call a tool whenever tools are offered and the choice allows one (demo mode;
        see ``replies``), not only when the user names it."""
        with self._cond:
            return self._eager_tools

    @eager_tools.setter
    def eager_tools(self, on: bool) -> None:
        with self._cond:
            self._eager_tools = on

    @property
    def response_headers(self) -> dict[str, str]:
        """Extra headers added to every response (rate-limit headers, for example)."""
        with self._cond:
            return dict(self._response_headers)

    @response_headers.setter
    def response_headers(self, headers: Mapping[str, str]) -> None:
        with self._cond:
            self._response_headers = {k.lower(): v for k, v in headers.items()}

    # ----- stream accounting ---------------------------------------------------------
    @property
    def active_streams(self) -> int:
        with self._cond:
            return self._active_streams

    @property
    def streams_cancelled(self) -> int:
        """Streams the client closed before their last event was sent."""
        with self._cond:
            return self._streams_cancelled

    @property
    def streams_completed(self) -> int:
        with self._cond:
            return self._streams_completed

    def stream_opened(self) -> None:
        with self._cond:
            self._active_streams += 1
            self._cond.notify_all()

    def stream_closed(self, *, cancelled: bool, completed: bool) -> None:
        with self._cond:
            self._active_streams -= 1
            self._streams_cancelled += cancelled
            self._streams_completed += completed
            self._cond.notify_all()

    # ----- waiting -----------------------------------------------------------------
    def wait_for(self, predicate: Callable[[EmulatorControl], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(self)`` holds; False on timeout.

        Only for an emulator in another thread (``EmulatorServer``); inside the
        emulator's own loop use ``wait_for_async``.
        """
        deadline = time.monotonic() + timeout
        # The condition's lock is an RLock, so the predicate may read properties.
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    async def wait_for_async(
        self, predicate: Callable[[EmulatorControl], bool], timeout: float = 5.0
    ) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
