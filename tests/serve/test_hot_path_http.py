"""The hot path's HTTP pieces against what they replace (``gateway/http.py``).

``HeaderMap`` answers as Starlette's ``Headers``; ``JSONResponse`` builds the head
Starlette's ``Response`` builds; ``new_request_id`` is a version-4 UUID; ``FirstWriteHeld``
sends a response's head and body in one call and never holds bytes past the loop's turn.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from starlette.datastructures import Headers
from starlette.responses import Response

from gateway.http import FirstWriteHeld, HeaderMap, JSONResponse, new_request_id

RAW = [(b"content-type", b"application/json"), (b"x-request-id", b"abc"),
       (b"x-dup", b"first"), (b"x-dup", b"second"), (b"authorization", b"Bearer k"),
       (b"x-latin", "caf\xe9".encode("latin-1"))]


def test_header_map_answers_as_starlette_headers() -> None:
    ours, theirs = HeaderMap({"headers": list(RAW)}), Headers(scope={"headers": list(RAW)})
    for name in ["content-type", "Content-Type", "X-DUP", "x-latin", "authorization",
                 "absent", "x-request-id"]:
        assert ours.get(name) == theirs.get(name)
        assert ours.get(name, "default") == theirs.get(name, "default")
        assert (name in ours) == (name in theirs)
        if name in theirs:
            assert ours[name] == theirs[name]
        else:
            with pytest.raises(KeyError):
                ours[name]
    assert ours.getlist("x-dup") == theirs.getlist("x-dup") == ["first", "second"]
    assert ours.items() == theirs.items() and ours.raw == theirs.raw
    assert 3 not in ours  # a non-string is never a header name


@pytest.mark.parametrize("status", [200, 400, 429, 204, 304])
@pytest.mark.parametrize("headers", [{}, {"x-request-id": "r1", "Retry-After": "2"},
                                     {"content-type": "application/problem+json"},
                                     {"content-length": "2", "connection": "close"}])
def test_json_response_head_is_starlettes(status: int, headers: dict[str, str]) -> None:
    body = b'{"a":1}'
    theirs = Response(body, status_code=status, headers=headers, media_type="application/json")
    ours = JSONResponse(body, status, headers)
    assert ours.raw_headers == theirs.raw_headers
    assert (ours.status_code, ours.body, ours.background) == (status, body, None)


def test_request_ids_are_uuid4_hex() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in list(ids)[:200]:
        u = uuid.UUID(hex=rid)
        assert (u.version, u.variant, u.hex) == (4, uuid.RFC_4122, rid)


def test_request_ids_take_the_os_random_bytes_in_batches(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    import os

    drawn: list[int] = []
    real = os.urandom

    def counting(n: int) -> bytes:
        drawn.append(n)
        return real(n)

    monkeypatch.setattr(os, "urandom", counting)
    ids = {new_request_id() for _ in range(640)}
    assert len(ids) == 640
    assert 10 <= len(drawn) <= 11 and set(drawn) == {16 * 64}  # 64 ids a draw


def test_a_forked_child_never_repeats_its_parents_request_ids() -> None:
    import os

    new_request_id()  # the parent holds a batch of unused bytes when it forks
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out
        os.write(w, " ".join(new_request_id() for _ in range(8)).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        child = set(f.read().split())
    parent = {new_request_id() for _ in range(8)}
    assert len(child) == 8 and not child & parent


class Recorder(asyncio.Transport):
    """A transport that records what it is asked to send, call by call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[bytes]] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append([bytes(data)])

    def writelines(self, list_of_data: object) -> None:
        self.calls.append([bytes(d) for d in list_of_data])  # type: ignore[attr-defined]

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_head_and_body_leave_in_one_call() -> None:
    t = Recorder()
    w = FirstWriteHeld(t, asyncio.get_running_loop())
    w.write(b"HEAD")
    assert t.calls == []  # held
    w.write(b"BODY")
    assert t.calls == [[b"HEAD", b"BODY"]]  # at once, not at the end of the turn
    w.write(b"MORE")
    assert t.calls[-1] == [b"MORE"]
    await asyncio.sleep(0)
    assert t.calls == [[b"HEAD", b"BODY"], [b"MORE"]]  # nothing sent twice


async def test_a_lone_head_leaves_at_the_end_of_the_turn() -> None:
    t = Recorder()
    w = FirstWriteHeld(t, asyncio.get_running_loop())
    w.write(b"HEAD")  # a stream's head, its first event not there yet
    await asyncio.sleep(0)
    assert t.calls == [[b"HEAD"]]
    w.write(b"EVENT")
    assert t.calls == [[b"HEAD"], [b"EVENT"]]


async def test_close_sends_what_is_held_first() -> None:
    t = Recorder()
    w = FirstWriteHeld(t, asyncio.get_running_loop())
    w.write(b"HEAD")
    w.close()
    assert (t.calls, t.closed, w.is_closing()) == ([[b"HEAD"]], True, True)
    await asyncio.sleep(0)
    assert t.calls == [[b"HEAD"]]
