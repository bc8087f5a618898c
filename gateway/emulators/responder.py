"""The request/response cycle shared by every emulator route.

``ApiEndpoint`` is a raw ASGI app (so it can drop the connection or stall) that
records the request, takes the next injected fault, runs the route's pure handler
(which validates and answers a ``JsonBody`` or an ``EventStream``, or raises
``ApiError``), and writes the answer, bent by the fault. A ``Dialect`` holds what
differs between the APIs in that machinery: error shapes and request ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .control import EmulatorControl, Fault, RecordedRequest
from .errors import ApiError, default_error
from .wire import DisconnectWatch, drop_connection

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
GARBAGE_JSON = b"\x00\x01this is not JSON {{{"
# Faults that bend an answer the handler produced rather than replacing it.
_MID_FLIGHT = frozenset(
    {"reset_mid_stream", "stall_between_chunks", "truncated_json", "error_event_mid_stream"}
)


@dataclass(frozen=True)
class JsonBody:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class EventStream:
    events: Sequence[bytes]  # whole SSE frames, each ending in a blank line
    headers: Mapping[str, str] = field(default_factory=dict)


Answer = JsonBody | EventStream


@dataclass(frozen=True)
class Call:
    """What a handler sees of a request."""

    headers: Mapping[str, str]  # lowercase names
    raw: bytes
    json: Any  # None when the body is empty or not JSON
    json_error: str | None  # why the body is not JSON, if it is not


@dataclass(frozen=True)
class Dialect:
    """What differs between the APIs in the shared machinery."""

    errors: Mapping[int, tuple[str, str]]  # status -> default (type, message)
    render_error: Callable[[str, str, str | None], bytes]  # type, message, request id
    stream_error: Callable[[str, str, str | None], bytes]  # one SSE frame
    garbage_event: bytes  # an SSE frame whose data is not JSON
    overload_status: int  # whose error mid-stream faults send by default
    request_id_header: str | None = None
    new_request_id: Callable[[], str] | None = None

    def error(
        self, status: int, error_type: str | None, message: str | None, rid: str | None
    ) -> JsonBody:
        default_type, default_message = default_error(self.errors, status)
        body = self.render_error(error_type or default_type, message or default_message, rid)
        return JsonBody(status, body)


Handler = Callable[[Call], Answer]


class ApiEndpoint:
    """One route of an emulated API, as an ASGI app."""

    def __init__(self, control: EmulatorControl, dialect: Dialect, handler: Handler) -> None:
        self.control = control
        self.dialect = dialect
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw = await request.body()
        call = _parse(request, raw)
        self.control.record(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                headers=dict(call.headers),
                json=call.json,
                raw_length=len(raw),
                query=request.url.query,
            )
        )
        fault = self.control.take_fault()
        rid = self.dialect.new_request_id() if self.dialect.new_request_id else None
        async with DisconnectWatch(receive) as watch:
            writer = _Writer(self.control, self.dialect, scope, send, watch, rid)
            await self._respond(writer, call, fault)

    async def _respond(self, writer: _Writer, call: Call, fault: Fault | None) -> None:
        if fault is not None and fault.kind == "stall_before":
            if not await writer.watch.sleep(fault["seconds"]):
                return  # the client gave up while we stalled: nothing left to answer
            fault = None
        if fault is not None and fault.kind == "reset_before":
            await writer.drop(rst=fault["rst"])
            return
        answer = self._replacement(fault, call, writer.rid)
        bend = None
        if answer is None:
            try:
                answer = self.handler(call)
            except ApiError as exc:
                answer = self.dialect.error(exc.status, exc.error_type, exc.message, writer.rid)
            bend = fault if fault is not None and fault.kind in _MID_FLIGHT else None
        if isinstance(answer, EventStream):
            await writer.stream(answer, bend)
        else:
            await writer.json(answer, bend)

    def _replacement(self, fault: Fault | None, call: Call, rid: str | None) -> Answer | None:
        """The answer a fault substitutes for the real one, if it does."""
        if fault is None:
            return None
        wants_stream = isinstance(call.json, dict) and call.json.get("stream") is True
        if fault.kind == "fail":
            body = fault["body"]
            headers = fault["headers"]
            if body is None:
                error = self.dialect.error(
                    fault["status"], fault["error_type"], fault["message"], rid
                )
                return JsonBody(error.status, error.body, headers)
            raw = body if isinstance(body, bytes) else str(body).encode()
            if isinstance(body, (dict, list)):
                raw = orjson.dumps(body)
            return JsonBody(fault["status"], raw, headers)
        if fault.kind == "garbage":
            if wants_stream:
                return EventStream([self.dialect.garbage_event] * 3)
            return JsonBody(200, GARBAGE_JSON)
        if fault.kind == "wrong_content_type":
            return JsonBody(200, HTML_PAGE, content_type="text/html; charset=utf-8")
        if fault.kind == "error_body_200" or (
            fault.kind == "error_event_mid_stream" and not wants_stream
        ):
            # A non-stream request has no events to fail between: the nearest thing
            # is a 200 whose body is an error.
            error = self.dialect.error(
                self.dialect.overload_status, fault["error_type"], fault["message"], rid
            )
            return JsonBody(200, error.body)
        return None


def _parse(request: Request, raw: bytes) -> Call:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if not raw:
        return Call(headers, raw, None, "empty body")
    try:
        return Call(headers, raw, orjson.loads(raw), None)
    except orjson.JSONDecodeError as exc:
        return Call(headers, raw, None, str(exc))


class _Writer:
    """Writes one answer over ASGI, applying a mid-flight fault."""

    def __init__(
        self,
        control: EmulatorControl,
        dialect: Dialect,
        scope: Scope,
        send: Send,
        watch: DisconnectWatch,
        rid: str | None,
    ) -> None:
        self.control = control
        self.dialect = dialect
        self.scope = scope
        self.send = send
        self.watch = watch
        self.rid = rid

    def _headers(self, content_type: str, extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
        merged: dict[str, str] = {"content-type": content_type}
        if self.dialect.request_id_header and self.rid:
            merged[self.dialect.request_id_header] = self.rid
        merged.update(self.control.response_headers)
        merged.update({k.lower(): v for k, v in extra.items()})
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in merged.items()]

    async def drop(self, *, rst: bool) -> None:
        drop_connection(self.scope, rst=rst)
        # Return only once the server saw the loss; it would otherwise log an app
        # that "returned without completing response".
        await self.watch.wait(2.0)

    async def json(self, answer: JsonBody, fault: Fault | None) -> None:
        body = answer.body
        if fault is not None and answer.status != 200:
            fault = None  # faults bend successful answers only; errors pass as they are
        if fault is not None and fault.kind == "truncated_json":
            body = body[: len(body) // 2]
            fault = None
        headers = self._headers(answer.content_type, answer.headers)
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send(
            {"type": "http.response.start", "status": answer.status, "headers": headers}
        )
        if fault is None or fault.kind not in ("reset_mid_stream", "stall_between_chunks"):
            await self.send({"type": "http.response.body", "body": body})
            return
        half = len(body) // 2
        await self.send({"type": "http.response.body", "body": body[:half], "more_body": True})
        if fault.kind == "reset_mid_stream":
            await self.drop(rst=fault["rst"])
            return
        if not await self.watch.sleep(fault["seconds"]):  # stall_between_chunks
            return
        await self.send({"type": "http.response.body", "body": body[half:]})

    async def stream(self, answer: EventStream, fault: Fault | None) -> None:
        events = answer.events
        fault_at = -1
        if fault is not None and fault.kind != "stall_between_chunks":
            fault_at = min(int(fault["after_chunks"]), len(events))
        self.control.stream_opened()
        cancelled = completed = False
        try:
            start = {"type": "http.response.start", "status": 200}
            headers = self._headers(SSE_CONTENT_TYPE, answer.headers)
            headers.append((b"cache-control", b"no-cache"))
            await self.send({**start, "headers": headers})
            for index in range(len(events) + 1):
                if index == fault_at and fault is not None:
                    await self._break_stream(fault, events, index)
                    return
                if index == len(events):
                    break
                if index > 0 and not await self.watch.sleep(self._pause(fault, index)):
                    cancelled = True
                    return
                if self.watch.disconnected:
                    cancelled = True
                    return
                await self.send(
                    {"type": "http.response.body", "body": events[index], "more_body": True}
                )
                # Let the disconnect watcher run: a fast stream never awaits otherwise.
                await asyncio.sleep(0)
            await self.send({"type": "http.response.body", "body": b""})
            completed = True
        finally:
            self.control.stream_closed(cancelled=cancelled, completed=completed)

    def _pause(self, fault: Fault | None, index: int) -> float:
        pause = self.control.chunk_delay
        if fault is not None and fault.kind == "stall_between_chunks":
            after = fault["after_chunks"]
            if after is None or index == int(after):
                pause = max(pause, float(fault["seconds"]))
        return pause

    async def _break_stream(self, fault: Fault, events: Sequence[bytes], index: int) -> None:
        if fault.kind == "reset_mid_stream":
            await self.drop(rst=fault["rst"])
            return
        if fault.kind == "error_event_mid_stream":
            error_type, message = default_error(self.dialect.errors, self.dialect.overload_status)
            frame = self.dialect.stream_error(
                fault["error_type"] or error_type, fault["message"] or message, self.rid
            )
        else:  # truncated_json: the next event with its JSON cut in half, then EOF
            frame = truncate_event(events[index]) if index < len(events) else b'data: {"id\n\n'
        await self.send({"type": "http.response.body", "body": frame, "more_body": True})
        await self.send({"type": "http.response.body", "body": b""})


def truncate_event(frame: bytes) -> bytes:
    """The SSE frame with its data cut in the middle, still a well-formed frame."""
    lines = frame.rstrip(b"\n").split(b"\n")
    out = []
    for line in lines:
        if line.startswith(b"data:"):
            payload = line[5:].lstrip()
            line = b"data: " + payload[: max(1, len(payload) // 2)]
        out.append(line)
    return b"\n".join(out) + b"\n\n"
