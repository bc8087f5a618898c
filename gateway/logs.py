"""Logging: one JSON line per request (``gateway.access``) and JSON or human app logs.

Prompts and completions are never logged unless ``GATEWAY_LOG_PROMPTS`` is set, and
secrets (provider keys, gateway keys, the Redis password) are redacted from every line
whatever it says: from the access record's values before it is encoded, and from the
finished line, in plain and in JSON-escaped spelling.

An access record is the dict ``Services`` passes as ``extra={"access": ...}``; the
formatter completes it to one fixed set of fields (``ACCESS_FIELDS``, null when
unknown, e.g. no route for a request refused before routing), so log queries never
depend on which path a request took.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

REDACTED = "[redacted]"
MIN_SECRET_LEN = 6  # shorter values would mangle ordinary words

# Every access line carries these, in this order.
ACCESS_FIELDS = (
    "request_id", "surface", "key", "route", "provider", "model", "alias", "status",
    "stream", "cache", "tokens_in", "tokens_out", "tokens_cached", "cost_usd",
    "duration_ms", "upstream_ms", "overhead_ms", "ttft_ms", "attempts", "fallbacks",
)

SecretSource = Callable[[], Iterable[str]]


class Redactor(logging.Filter):
    """Replaces any configured secret that appears in a log record.

    ``source`` (optional) is asked for the current secrets on every use, so keys added
    by a config reload are redacted too; ``secrets`` are fixed ones.
    """

    def __init__(self, secrets: Iterable[str] = (), source: SecretSource | None = None) -> None:
        super().__init__()
        self._fixed: list[str] = []
        self._source = source
        self._asked: tuple[str, ...] | None = None  # what the source said last time
        self._seen: tuple[str, ...] = ()
        self._patterns: list[str] = []
        self.set(secrets)

    def set(self, secrets: Iterable[str]) -> None:
        self._fixed = [s for s in secrets if s and len(s) >= MIN_SECRET_LEN]
        self._seen = ()
        self._asked = None
        self._refresh()

    @property
    def secrets(self) -> list[str]:
        self._refresh()
        return list(self._seen)

    def _refresh(self) -> None:
        if self._source is not None:
            # Asked on every line: the same answer as last time (a tuple compare of the
            # same string objects) needs no more work.
            asked = tuple(self._source())
            if asked == self._asked:
                return
            self._asked = asked
        current = list(self._fixed)
        if self._source is not None:
            current += [s for s in asked if s and len(s) >= MIN_SECRET_LEN]
        key = tuple(dict.fromkeys(current))
        if key == self._seen and self._patterns:
            return
        self._seen = key
        patterns: set[str] = set()
        for s in key:
            patterns.add(s)
            # A secret with a quote, backslash or control character appears escaped in
            # a JSON line; scrub that spelling too.
            patterns.add(orjson.dumps(s).decode()[1:-1])
        # Longest first, so a secret containing another is replaced whole.
        self._patterns = sorted(patterns, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        self._refresh()
        for s in self._patterns:
            if s in text:
                text = text.replace(s, REDACTED)
        return text

    def scrub_value(self, value: Any) -> Any:
        """``value`` with every string inside it scrubbed (dicts, lists, tuples)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {k: self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub_value(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        # An access record's line is built from the record and scrubbed whole by the
        # formatters; its message ("request") never reaches the line.
        if getattr(record, "access", None) is not None:
            return True
        if self._patterns or self._source is not None:
            record.msg = self.scrub(record.getMessage())
            record.args = None
        return True


def fallbacks(attempts: Any) -> int:
    """How many times a request moved on to another model (retries of one model excluded)."""
    if not isinstance(attempts, list) or len(attempts) < 2:  # no pair to compare
        return 0
    models = [a.get("model") for a in attempts if isinstance(a, dict)]
    return sum(1 for a, b in itertools.pairwise(models) if a != b)


def access_record(access: Mapping[str, Any],
                  head: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The access dict completed to ``ACCESS_FIELDS`` (extra fields such as ``error`` or
    ``prompt`` follow them), after the fields of ``head`` if given (a JSON line's)."""
    # The fields first, in their order (null when absent), then the extras in theirs.
    out: dict[str, Any] = {**head, **_NO_FIELDS, **access} if head else {**_NO_FIELDS, **access}
    if out["attempts"] is None:
        out["attempts"] = []
    out["fallbacks"] = fallbacks(out["attempts"])
    return out


_NO_FIELDS: dict[str, Any] = dict.fromkeys(ACCESS_FIELDS)


# os.getpid() is a system call, dear on the per-line path: asked once, and again in a
# forked child.
_pid = os.getpid()


def _renew_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_renew_pid)

_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text
# ".000Z" to ".999Z": a format spec per line costs more than a lookup.
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def _timestamp(created: float, msecs: float) -> str:
    # Lines of one second share the formatted second (strftime is most of the cost);
    # one tuple, replaced whole, so another thread never reads half of it.
    global _second
    sec, text = _second
    if sec != int(created):
        sec = int(created)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _second = (sec, text)
    return text + _MILLIS[int(msecs)]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, then the access record or
    the message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        out = _head(record.created, record.msecs, record.levelname, record.name,
                    record.process)
        access = getattr(record, "access", None)
        if isinstance(access, Mapping):
            # Scrubbed once, below, as a whole line (escaped spellings included).
            out = access_record(access, out)
        else:
            out["message"] = self.redactor.scrub(record.getMessage())
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return self._line(out)

    def format_access(self, name: str, access: Mapping[str, Any]) -> str:
        """The line ``format`` makes of an INFO record of logger ``name`` carrying
        ``access`` and nothing else, made now without the record (``log_access``)."""
        created = time.time()
        # LogRecord's own arithmetic for the milliseconds.
        head = _head(created, int((created - int(created)) * 1000),
                     logging.getLevelName(logging.INFO), name,
                     _pid if logging.logProcesses else None)
        return self._line(access_record(access, head))

    def _line(self, out: dict[str, Any]) -> str:
        return self.redactor.scrub(orjson.dumps(out, default=str).decode())


def _head(created: float, msecs: float, levelname: str, name: str,
          pid: int | None) -> dict[str, Any]:
    """A JSON line's first fields: time, level, logger, pid."""
    return {"time": _timestamp(created, msecs), "level": levelname.lower(), "logger": name,
            "pid": pid}


class HumanFormatter(logging.Formatter):
    """``time LEVEL logger: message``; an access record as one readable summary."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        access = getattr(record, "access", None)
        if isinstance(access, Mapping):
            a = access_record(access)
            line = (f"{a['status']} {a['surface']} key={a['key']} route={a['route']} "
                    f"{a['provider']}/{a['model']} cache={a['cache']} "
                    f"tokens={a['tokens_in']}/{a['tokens_out']} cost=${a['cost_usd']} "
                    f"{a['duration_ms']}ms (upstream {a['upstream_ms']}ms, "
                    f"overhead {a['overhead_ms']}ms, ttft {a['ttft_ms']}ms) "
                    f"attempts={len(a['attempts'])} fallbacks={a['fallbacks']} "
                    f"id={a['request_id']}")
            if a.get("error"):
                line += f" error={a['error']!r}"
            if a.get("prompt") is not None:
                line += f" prompt={orjson.dumps(a['prompt'], default=str).decode()}"
            record.msg = line
            record.args = None
        else:
            msg = record.getMessage()
            if "\n" in msg or "\r" in msg:
                # Upstream error text, a YAML error...: one record, one line; a CR/LF in
                # it must not start a line that looks like another record.
                record = logging.makeLogRecord(record.__dict__)
                record.msg = msg.replace("\r", "\\r").replace("\n", "\\n")
                record.args = None
        return self.redactor.scrub(super().format(record))


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that, inside a running event loop, writes the lines logged within
    ``LINGER_S`` of the first one pending with one write and one flush (or every 256
    lines): a syscall per access line was a measurable share of a request's cost, at
    concurrency 1 (one line per request, each write on some request's path) as at 16.
    Outside a loop (start-up, other threads) a line is written at once. ``flush()``
    writes what is pending, and ``logging.shutdown`` calls it at exit."""

    # How long a line may wait for others to share its write: at c=1 and ~2,500
    # requests/s, about ten lines a write; no reader of a log notices 5 ms.
    LINGER_S = 0.005

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)
            return
        self._queue(line)

    def takes_access(self, level: int) -> bool:
        """Can an access record at ``level`` be handed to ``emit_access``, with the
        line it would get through ``handle``? Yes when the level passes, the formatter
        is the plain ``JsonFormatter`` and every filter a ``Redactor`` (which lets an
        access record through untouched): what ``setup_logging`` installs."""
        if level < self.level or type(self.formatter) is not JsonFormatter:
            return False
        for f in self.filters:  # a loop: all() of a generator costs more, every line
            if type(f) is not Redactor:
                return False
        return True

    def emit_access(self, name: str, access: Mapping[str, Any]) -> bool:
        """``handle`` of an INFO access record of logger ``name``, without the record
        (see ``log_access``); False if its line could not be made: the caller logs it
        the usual way, which reports the error."""
        assert isinstance(self.formatter, JsonFormatter)
        with self.lock:  # type: ignore[union-attr]  # made by Handler.__init__, as handle
            try:
                line = self.formatter.format_access(name, access)
            except Exception:  # noqa: BLE001 - reported by the usual way
                return False
            self._queue(line)
        return True

    def _queue(self, line: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write([line])
            return
        if not self._pending:
            loop.call_later(self.LINGER_S, self._write_pending)
        self._pending.append(line)
        if len(self._pending) >= 256:
            self._write_pending()

    def _write_pending(self) -> None:
        lines, self._pending = self._pending, []
        if lines:
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not fail requests
            pass

    def flush(self) -> None:
        self._write_pending()
        super().flush()


def log_access(logger: logging.Logger, access: dict[str, Any]) -> None:
    """``logger.info("request", extra={"access": access})``, the one way an access
    record is logged.

    When the one handler the record would reach is a ``LineHandler`` as
    ``setup_logging`` installs it (and the logger has no filter), the line is made
    straight from ``access``: a ``LogRecord`` and logging's dispatch were about half of
    the cost of a request's line. Any other arrangement (a handler or filter of the
    user's or a test's, pytest's caplog, the human format, a level that drops the
    line) goes through ``logging`` as usual.
    """
    handler = _direct_handler(logger)
    if handler is None or not handler.emit_access(logger.name, access):
        logger.info("request", extra={"access": access})


def _direct_handler(logger: logging.Logger) -> LineHandler | None:
    """The ``LineHandler`` that is the only handler an INFO record of ``logger`` reaches
    (``Logger.callHandlers``' walk), if it ``takes_access``; else None."""
    if logger.disabled or logger.filters or not logger.isEnabledFor(logging.INFO):
        return None
    found: logging.Handler | None = None
    node: logging.Logger | None = logger
    while node is not None:
        for h in node.handlers:
            if found is not None:
                return None
            found = h
        node = node.parent if node.propagate else None
    # Exactly ours: a subclass may emit otherwise.
    if type(found) is LineHandler and found.takes_access(logging.INFO):
        return found
    return None


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = (),
                  source: SecretSource | None = None) -> Redactor:
    """Route the ``gateway`` loggers (and uvicorn's error logger) to stderr in ``fmt``.

    uvicorn's error logger carries tracebacks of failed requests; sending it through
    the same handler keeps every line in one format and behind the redactor.
    """
    redactor = Redactor(secrets, source)
    # No line says where in the code it was logged from: skip logging's stack walk on
    # every record (the Logging HOWTO's "Optimization" section documents this switch).
    logging._srcfile = None  # type: ignore[attr-defined]
    # Nor the thread or process name (same section): no formatter here prints them.
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = LineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redactor) if fmt == "json" else HumanFormatter(redactor))
    handler.addFilter(redactor)
    for name in ("gateway", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    logging.getLogger("gateway").setLevel(level.upper())
    return redactor

