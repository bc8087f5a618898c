"""Strict JSON in and out, parsed once with orjson.

orjson already refuses NaN, Infinity, invalid UTF-8 and lone surrogates, which is the
strictness the contract asks of request bodies. Duplicate keys: the last one wins (as
in orjson, Python's json and JavaScript), and since the gateway forwards what it
parsed, never the raw bytes, an upstream cannot read the body differently.

Depth: orjson parses up to 1024 levels of arrays and objects but writes at most 254,
and the gateway writes every body again (upstream request, cache key, logs); Python
walkers would also hit the recursion limit near 1000. A body deeper than
``MAX_DEPTH`` is therefore a 400 here, before anything else touches it.
"""

from __future__ import annotations

from typing import Any

import orjson

from .errors import BadRequest

MAX_DEPTH = 128
# orjson.dumps refuses a value nested deeper than this many arrays/objects.
_ORJSON_WRITE_DEPTH = 254


# Containers a Python walk visits before handing over to the orjson probe: a walk costs
# per container, the probe per byte (a 10 MB chat of 640 turns: 0.2 ms walked, 3-15 ms
# serialized; a short request: 1 us vs 4.5 us).
_WALK_CONTAINERS = 20_000


def too_deep(value: Any, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests more than ``max_depth`` arrays and objects.

    Walked in Python while the value has few containers (chat bodies: a few per
    message, whatever the text's size); past ``_WALK_CONTAINERS`` asked of orjson
    instead: wrapped in enough lists that a value deeper than ``max_depth`` crosses
    orjson's write limit, so the check costs one C-speed serialization, also for a
    30 MB body of tiny arrays.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    visited = 0
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        visited += 1
        if visited > _WALK_CONTAINERS:
            return _too_deep_probe(value, max_depth)
        for child in (node.values() if isinstance(node, dict) else node):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _too_deep_probe(value: Any, max_depth: int) -> bool:
    probe: Any = value
    for _ in range(_ORJSON_WRITE_DEPTH - max_depth):
        probe = [probe]
    try:
        orjson.dumps(probe)
    except TypeError as exc:
        if "Recursion" in str(exc):
            return True
        raise
    return False


def opening_brackets(data: bytes) -> int:
    """The ``{`` and ``[`` in ``data``, strings included: at least the number of objects
    and arrays it holds, so at least its depth (a C-speed count)."""
    return data.count(b"{") + data.count(b"[")


def too_deep_json(data: bytes, value: Any, opening: int | None = None) -> bool:
    """``too_deep(value)`` of ``value`` parsed from ``data``, walked only if ``data`` has
    more than ``MAX_DEPTH`` opening brackets (``opening``, if the caller counted them):
    with no more, it cannot nest deeper (a chat body or an answer has a few containers
    a message: most are never walked at all)."""
    if opening is None:
        opening = opening_brackets(data)
    return opening > MAX_DEPTH and too_deep(value)


def parse_body(data: bytes, opening: int | None = None) -> Any:
    """Parse a client's request body or raise a 400 that says why (``opening``: see
    ``too_deep_json``)."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    if isinstance(body, (dict, list)) and too_deep_json(data, body, opening):
        raise BadRequest(f"Request body is nested too deeply: more than {MAX_DEPTH} levels "
                         "of arrays and objects.", code="nesting_too_deep")
    return body
