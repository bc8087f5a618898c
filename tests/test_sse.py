"""The incremental SSE parser and the event encoders."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import UpstreamBadResponse
from gateway.sse import DONE, SSEEvent, SSEParser


# The reference encoder the parser's round trips are checked against (the gateway frames
# its own streams with sse.frame_data / frame_named).
def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One SSE event; multi-line data becomes several ``data:`` lines."""
    if event is not None and ("\n" in event or "\r" in event):
        raise ValueError("SSE event names cannot contain line breaks")
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        body = b"".join(b"data: " + line + b"\n" for line in lines)
    else:
        body = b"data: " + data + b"\n"
    if event is None:
        return body + b"\n"
    return b"event: " + event.encode() + b"\n" + body + b"\n"


def parse(data: bytes, chunk: int | None = None, **kw: int) -> list[SSEEvent]:
    parser = SSEParser(**kw)
    if chunk is None:
        events = parser.feed(data)
    else:
        events = []
        for i in range(0, len(data), chunk):
            events.extend(parser.feed(data[i : i + chunk]))
    events.extend(parser.finish())
    return events


ANTHROPIC = (
    b"event: message_start\n"
    b'data: {"type":"message_start"}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
)


def test_named_events() -> None:
    assert parse(ANTHROPIC) == [
        SSEEvent('{"type":"message_start"}', "message_start"),
        SSEEvent('{"type": "ping"}', "ping"),
    ]


def test_openai_stream_and_done() -> None:
    assert parse(b'data: {"a":1}\n\ndata: [DONE]\n\n') == [SSEEvent('{"a":1}'), SSEEvent("[DONE]")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    raw = eol.join([b"event: x", b"data: a", b"data: b", b"", b"data:c", b"", b""])
    assert parse(raw) == [SSEEvent("a\nb", "x"), SSEEvent("c")]
    assert parse(raw, chunk=1) == [SSEEvent("a\nb", "x"), SSEEvent("c")]


def test_mixed_line_endings_and_cr_lf_split_across_chunks() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: 1\r") == []
    assert parser.feed(b"\ndata: 2\r") == []  # the LF belongs to the CR before it
    assert parser.feed(b"\r") == [SSEEvent("1\n2")]
    assert parser.feed(b"\n") == []  # LF after CR: one line end, not an empty line


def test_comments_ids_retry_unknown_fields() -> None:
    raw = (
        b": keep-alive\n\nid: 7\nretry: 1000\nfoo: bar\ndata\n\n"
        b"data: x\n\nid: bad\x00id\ndata: y\n\n"
    )
    assert parse(raw) == [
        SSEEvent("", None, "7"),
        SSEEvent("x", None, "7"),
        SSEEvent("y", None, "7"),
    ]


def test_event_without_data_is_not_dispatched_and_type_resets() -> None:
    assert parse(b"event: lonely\n\ndata: d\n\n") == [SSEEvent("d")]


def test_only_one_leading_space_is_dropped() -> None:
    assert parse(b"data:  two\n\ndata:none\n\n") == [SSEEvent(" two"), SSEEvent("none")]


def test_bom_is_skipped_even_when_split() -> None:
    raw = "\ufeffdata: é\n\n".encode()
    assert parse(raw) == parse(raw, chunk=1) == [SSEEvent("é")]


def test_multibyte_characters_split_anywhere() -> None:
    raw = 'data: {"t":"你好🙂é"}\n\n'.encode()
    for size in range(1, 8):
        assert parse(raw, chunk=size) == [SSEEvent('{"t":"你好🙂é"}')]


def test_incomplete_event_at_end_is_dropped() -> None:
    assert parse(b'data: {"a":1}\n\ndata: {"trunc') == [SSEEvent('{"a":1}')]
    assert parse(b"data: x\n") == []


def test_invalid_utf8_is_a_clean_error() -> None:
    with pytest.raises(UpstreamBadResponse):
        SSEParser(provider="kimi").feed(b"data: \xff\xfe\n\n")
    parser = SSEParser()
    parser.feed(b"data: \xe4\xbd")  # an unfinished character...
    with pytest.raises(UpstreamBadResponse) as info:
        parser.finish()  # ...when the stream ends
    assert info.value.status == 502


def test_line_too_long_in_one_chunk_and_across_chunks() -> None:
    with pytest.raises(UpstreamBadResponse) as info:
        parse(b"data: " + b"x" * 200 + b"\n\n", max_size=100)
    assert "longer than 100" in info.value.message
    with pytest.raises(UpstreamBadResponse):
        parse(b"data: " + b"x" * 200, chunk=7, max_size=100)
    assert parse(b"data: " + b"x" * 90 + b"\n\n", chunk=7, max_size=100) == [SSEEvent("x" * 90)]


def test_event_too_large_across_many_data_lines() -> None:
    with pytest.raises(UpstreamBadResponse):
        parse(b"data: xxxxxxxxx\n" * 20 + b"\n", max_size=100)


def test_long_line_in_small_chunks_is_linear() -> None:
    payload = b"data: " + b"x" * (8 * 1024 * 1024) + b"\n\n"
    start = time.perf_counter()
    events = parse(payload, chunk=1024)
    assert len(events) == 1 and len(events[0].data) == 8 * 1024 * 1024
    # Quadratic re-joining would copy ~32 GB here; linear work takes well under a second.
    assert time.perf_counter() - start < 10


def test_many_small_events_are_linear() -> None:
    one = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'
    start = time.perf_counter()
    assert len(parse(one * 100_000, chunk=4096)) == 100_000
    assert time.perf_counter() - start < 10


def test_encode_event() -> None:
    assert encode_event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert encode_event(b'{"type":"ping"}', "ping") == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert encode_event(b"a\nb\r\nc\rd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert DONE == b"data: [DONE]\n\n"
    with pytest.raises(ValueError):
        encode_event(b"x", "bad\nname")


@given(
    data=st.text(),
    event=st.one_of(
        st.none(), st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]))
    ),
)
def test_encode_then_parse_round_trips(data: str, event: str | None) -> None:
    normalized = data.replace("\r\n", "\n").replace("\r", "\n")
    assert parse(encode_event(data.encode(), event)) == [SSEEvent(normalized, event)]


LINE = st.one_of(
    st.sampled_from(
        [b"data: [DONE]", b"event: ping", b": comment", b"id: 1", b"retry: 5", b"data:", b""]
    ),
    st.builds(lambda t: b"data: " + t.encode(), st.text(max_size=20)),
    st.builds(lambda t: b"event: " + t.encode(), st.text(max_size=5)),
    st.binary(max_size=12),
)
STREAM = st.builds(
    lambda lines, eols: b"".join(
        line + eol for line, eol in zip(lines, eols[: len(lines)], strict=True)
    ),
    st.lists(LINE, max_size=30),
    st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=30, max_size=30),
)


def _outcome(data: bytes, cuts: list[int], max_size: int) -> tuple[str, list[SSEEvent]]:
    parser = SSEParser(max_size=max_size)
    events: list[SSEEvent] = []
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    try:
        for a, b in itertools.pairwise(bounds):
            events.extend(parser.feed(data[a:b]))
        events.extend(parser.finish())
    except UpstreamBadResponse:
        return "error", []
    return "ok", events


@settings(max_examples=400)
@given(
    data=st.one_of(STREAM, st.binary(max_size=200)),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
    max_size=st.sampled_from([16, 64, 16 * 1024 * 1024]),
)
def test_any_bytes_any_chunking_same_events_or_clean_error(
    data: bytes, cuts: list[int], max_size: int
) -> None:
    # Only UpstreamBadResponse may escape, and the chunking never changes the outcome.
    assert _outcome(data, cuts, max_size) == _outcome(data, [], max_size)


# -- framing (stream translators yield events; sse.py writes the bytes) --------------------

def test_frame_data_is_the_chat_completions_dialect() -> None:
    from gateway.sse import END, frame_data

    chunks = [{"id": "c", "choices": [{"delta": {"content": "a\nb"}}]}, {"choices": []}]
    out = frame_data([*chunks, END])
    assert out.endswith(b"data: [DONE]\n\n") and b"event:" not in out
    events = parse(out)
    assert [e.event for e in events] == [None, None, None]
    assert [json.loads(e.data) for e in events[:2]] == chunks and events[2].data == "[DONE]"
    assert frame_data([]) == b""


def test_frame_named_writes_objects_and_relays_raw_data_as_it_came() -> None:
    from gateway.sse import frame_named

    raw = '{"type":"ping"}'
    out = frame_named([("message_start", {"type": "message_start", "n": "é"}),
                       ("ping", raw), ("multi", "line one\nline two")])
    events = parse(out)
    assert [e.event for e in events] == ["message_start", "ping", "multi"]
    assert json.loads(events[0].data) == {"type": "message_start", "n": "é"}
    assert events[1].data == raw  # byte for byte: a relayed upstream event
    assert events[2].data == "line one\nline two"  # each line its own data: field
    with pytest.raises(ValueError):
        frame_named([("bad\nname", {})])
