"""Strict JSON in and out, parsed once with orjson.

orjson already refuses NaN, Infinity, invalid UTF-8 and lone surrogates, which is the
strictness the contract asks of request bodies.
"""

from __future__ import annotations

from typing import Any

import orjson

from .errors import BadRequest

dumps = orjson.dumps


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def parse_body(data: bytes) -> Any:
    """Parse a client's request body or raise a 400 that says why."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
