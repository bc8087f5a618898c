"""Logging: one JSON line per request (``gateway.access``) and JSON or human app logs.

Prompts and completions are never logged unless ``GATEWAY_LOG_PROMPTS`` is set, and
secrets (provider keys, gateway keys) are redacted from every line whatever it says.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable

import orjson


class Redactor(logging.Filter):
    """Replaces any configured secret that appears in a log record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def set(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.scrub(record.getMessage())
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
               + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name}
        access = getattr(record, "access", None)
        if access is not None:
            out.update(access)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return self.redactor.scrub(orjson.dumps(out, default=str).decode())


class HumanFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        access = getattr(record, "access", None)
        if access is not None:
            a = access
            record.msg = (f"{a.get('status')} {a.get('surface')} route={a.get('route')} "
                          f"model={a.get('model')} cache={a.get('cache')} "
                          f"{a.get('duration_ms')}ms id={a.get('request_id')}")
            record.args = None
        return self.redactor.scrub(super().format(record))


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = ()) -> Redactor:
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redactor) if fmt == "json" else HumanFormatter(redactor))
    handler.addFilter(redactor)
    root = logging.getLogger("gateway")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    return redactor
