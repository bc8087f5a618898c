"""gateway.logs: the redactor, the access record's fixed fields, both formats.

Process-level behaviour (one line per request on a real server's stderr, no prompts,
no secrets) is in tests/serve/; these pin the pieces with real ``logging`` records.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator

import pytest

from gateway.logs import (
    ACCESS_FIELDS,
    HumanFormatter,
    JsonFormatter,
    LineHandler,
    Redactor,
    access_record,
    fallbacks,
    log_access,
    setup_logging,
)

SECRET = "sk-unit-SECRET-123456"


def record(msg: str = "request", *args: object, access: dict | None = None,
           name: str = "gateway.access") -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args or None, None)
    if access is not None:
        rec.access = access  # type: ignore[attr-defined]
    return rec


def test_scrub_replaces_every_secret_and_ignores_short_values() -> None:
    r = Redactor([SECRET, "abc"])
    assert r.scrub(f"key={SECRET}; again {SECRET}; abc") == "key=[redacted]; again [redacted]; abc"


def test_a_secret_containing_another_is_replaced_whole() -> None:
    r = Redactor(["sk-unit-1234", "sk-unit-1234-longer"])
    assert r.scrub("x sk-unit-1234-longer y") == "x [redacted] y"


def test_scrub_value_walks_nested_structures() -> None:
    r = Redactor([SECRET])
    value = {"a": [SECRET, {"b": f"pre {SECRET}"}], "n": 3, "t": (SECRET,)}
    assert r.scrub_value(value) == {"a": ["[redacted]", {"b": "pre [redacted]"}], "n": 3,
                                    "t": ["[redacted]"]}


def test_json_escaped_spelling_is_redacted_too() -> None:
    odd = 'sk-"quoted\\slash-9999'
    line = JsonFormatter(Redactor([odd])).format(record(access={"error": f"bad key {odd}"}))
    assert "quoted" not in line
    assert json.loads(line)["error"] == "bad key [redacted]"


def test_source_is_asked_again_so_reloaded_keys_are_redacted() -> None:
    current = ["sk-first-key-0001"]
    r = Redactor(source=lambda: current)
    assert r.scrub("sk-first-key-0001") == "[redacted]"
    current[:] = ["sk-second-key-0002"]  # what a config reload does to the source
    assert r.scrub("sk-first-key-0001 sk-second-key-0002") == "sk-first-key-0001 [redacted]"


def test_filter_redacts_formatted_messages() -> None:
    r = Redactor([SECRET])
    rec = record("connecting with %s", SECRET, name="gateway")
    assert r.filter(rec) is True
    assert rec.getMessage() == "connecting with [redacted]"


@pytest.mark.parametrize(("attempts", "expected"), [
    ([], 0),
    ([{"model": "a", "status": 200}], 0),
    ([{"model": "a", "error": "529"}, {"model": "b", "status": 200}], 1),
    ([{"model": "a", "skipped": "circuit open"}, {"model": "b", "error": "5xx"},
      {"model": "c", "status": 200}], 2),
    ([{"model": "a", "error": "429"}, {"model": "a", "status": 200}], 0),  # a retry
])
def test_fallbacks_counts_moves_to_another_model(attempts: list, expected: int) -> None:
    assert fallbacks(attempts) == expected


def test_access_record_has_every_field_in_order_then_extras() -> None:
    rec = access_record({"status": 401, "surface": "chat_completions", "error": "bad key"})
    assert list(rec)[:len(ACCESS_FIELDS)] == list(ACCESS_FIELDS)
    assert rec["route"] is None and rec["attempts"] == [] and rec["fallbacks"] == 0
    assert rec["error"] == "bad key"


def test_json_line_has_time_level_logger_pid_and_the_record() -> None:
    access = {"request_id": "r1", "status": 200, "attempts": [{"model": "m", "status": 200}],
              "error": f"upstream said {SECRET}"}
    out = json.loads(JsonFormatter(Redactor([SECRET])).format(record(access=access)))
    assert list(out)[:4] == ["time", "level", "logger", "pid"]
    assert out["logger"] == "gateway.access" and out["request_id"] == "r1"
    assert out["error"] == "upstream said [redacted]"


def test_human_line_summarises_the_request() -> None:
    access = {"request_id": "r2", "status": 502, "surface": "chat_completions", "key": "team-a",
              "route": "default", "provider": None, "model": None, "cache": "bypass",
              "attempts": [{"model": "a", "error": "5xx"}, {"model": "b", "error": "5xx"}],
              "error": f"both failed ({SECRET})"}
    line = HumanFormatter(Redactor([SECRET])).format(record(access=access))
    assert not line.startswith("{")
    assert "502 chat_completions key=team-a route=default" in line
    assert "attempts=2 fallbacks=1 id=r2" in line
    assert "[redacted]" in line and SECRET not in line


def test_human_line_escapes_line_breaks_in_messages() -> None:
    """Upstream error text with CR/LF (issue 18.8): one record stays one line."""
    text = "bad\r\n2026-01-01 00:00:00 INFO gateway.access: 200 forged\nend"
    line = HumanFormatter(Redactor([SECRET])).format(
        record("stream %s failed after start: %s", "r3", text, name="gateway"))
    assert "\n" not in line and "\r" not in line
    assert line.endswith("failed after start: bad\\r\\n2026-01-01 00:00:00 INFO "
                         "gateway.access: 200 forged\\nend")


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate,
                 logging.getLogger(n).level) for n in ("gateway", "uvicorn.error")}
    yield
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)


def test_setup_logging_routes_gateway_and_uvicorn_errors(restore_loggers: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    setup_logging("info", "json", [SECRET])
    logging.getLogger("gateway.access").info("request", extra={"access": {"status": 200}})
    logging.getLogger("uvicorn.error").error("Exception in ASGI application %s", SECRET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["logger"] for line in lines] == ["gateway.access", "uvicorn.error"]
    assert lines[1]["message"] == "Exception in ASGI application [redacted]"


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


async def test_line_handler_writes_what_its_linger_collects_at_once() -> None:
    import asyncio

    stream = CountingStream()
    handler = LineHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(record("line 0"))
    await asyncio.sleep(0)
    assert stream.getvalue() == ""          # pending: later lines may share its write
    for i in (1, 2):
        handler.handle(record(f"line {i}"))
    await asyncio.sleep(LineHandler.LINGER_S * 4)
    assert stream.getvalue() == "line 0\nline 1\nline 2\n" and stream.writes == 1
    for i in range(300):                    # a burst is written every 256 lines
        handler.handle(record(f"b{i}"))
    assert stream.writes == 2 and stream.getvalue().count("\nb") == 256
    handler.flush()                         # logging.shutdown() at exit does this
    assert stream.getvalue().endswith("b299\n") and stream.writes == 3


def test_line_handler_writes_at_once_outside_a_loop() -> None:
    stream = CountingStream()
    handler = LineHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(record("starting"))
    assert stream.getvalue() == "starting\n"


# --- log_access: the record-free path and the logging path write the same line -------

ACCESS = {"request_id": "r9", "surface": "chat_completions", "key": None, "route": "default",
          "provider": "claude", "model": "claude-opus-4-5", "status": 200, "cost_usd": 0.0002,
          "attempts": [{"model": "a", "error": "529"}, {"model": "b", "status": 200}],
          "routing": {"requested": "auto", "features": {"pii": []}},
          "error": f"said {SECRET} and \"{SECRET}\"", "prompt": [{"content": SECRET}]}


def logged(stream: io.StringIO, via: str, access: dict) -> list[dict]:
    """The JSON lines logging ``access`` writes, via ``log_access`` or ``logging``."""
    logger = logging.getLogger("gateway.access")
    if via == "direct":
        log_access(logger, access)
    else:
        logger.info("request", extra={"access": access})
    logging.getLogger("gateway").handlers[0].flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    stream.truncate(0), stream.seek(0)
    return lines


def test_log_access_without_a_record_writes_the_logging_line(
        restore_loggers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    setup_logging("info", "json", [SECRET])
    made: list[str] = []  # the names of the records logging makes
    make = logging.Logger.makeRecord
    monkeypatch.setattr(logging.Logger, "makeRecord",
                        lambda self, name, *a, **k: made.append(name) or make(self, name, *a, **k))
    for access in (ACCESS, {"request_id": None, "surface": "messages", "status": 401}):
        [direct], [usual] = logged(stream, "direct", access), logged(stream, "logging", access)
        assert made == ["gateway.access"]  # the logging path's, not the direct one's
        made.clear()
        for line in (direct, usual):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line.pop("time"))
        assert list(direct.items()) == list(usual.items())
        assert SECRET not in json.dumps(direct)


def test_log_access_goes_through_logging_for_anything_else(
        restore_loggers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    access_logger = logging.getLogger("gateway.access")

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    kept: list[logging.LogRecord] = []
    setup_logging("info", "json", [SECRET])
    # A handler of the user's (or a test's) on the access logger sees the record.
    access_logger.addHandler(Keep())
    try:
        assert len(logged(stream, "direct", dict(ACCESS))) == 1
        assert [r.access["request_id"] for r in kept] == ["r9"]  # type: ignore[attr-defined]
    finally:
        access_logger.handlers.clear()
    # A filter on the access logger decides.
    access_logger.addFilter(lambda r: False)
    try:
        assert logged(stream, "direct", dict(ACCESS)) == []
    finally:
        access_logger.filters.clear()
    # Propagation to the root logger's handlers (pytest's caplog is one).
    gateway = logging.getLogger("gateway")
    gateway.propagate = True
    logging.getLogger().addHandler(root := Keep())
    try:
        kept.clear()
        assert len(logged(stream, "direct", dict(ACCESS))) == 1 and len(kept) == 1
    finally:
        logging.getLogger().removeHandler(root)
        gateway.propagate = False
    # A level that drops the line.
    gateway.setLevel("WARNING")
    assert logged(stream, "direct", dict(ACCESS)) == []
    # The human format is made from the record.
    setup_logging("info", "human", [SECRET])
    log_access(access_logger, dict(ACCESS))
    gateway.handlers[0].flush()
    assert "200 chat_completions key=None route=default" in stream.getvalue()


def test_a_forked_child_logs_its_own_pid() -> None:
    formatter = JsonFormatter(Redactor())
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write, formatter.format_access("gateway.access", {"status": 200}).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as f:
        assert json.loads(f.read())["pid"] == child
    assert json.loads(formatter.format_access("gateway.access", {}))["pid"] == os.getpid()


def test_a_line_that_cannot_be_made_is_reported_the_usual_way(
        restore_loggers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    setup_logging("info", "json", [SECRET])
    handler = logging.getLogger("gateway").handlers[0]
    reported: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", reported.append)
    log_access(logging.getLogger("gateway.access"), {"status": 200, "routing": {1: "x"}})
    handler.flush()
    assert stream.getvalue() == "" and len(reported) == 1  # orjson: a key that is no str
    assert reported[0].access["status"] == 200  # type: ignore[attr-defined]
