"""Bounds on a request body's structure, checked before it becomes Python objects.

``max_body_bytes`` bounds a body's bytes, but not what parsing it costs: 32 MB of
``{},`` is ten million dicts (1.7 GB, seconds of walking by the feature scanners). So
a body is measured before ``orjson`` parses it:

- **values**: the JSON values and members it holds, counted as the ``{``, ``[`` and
  ``,`` outside strings; more than ``server.max_json_nodes`` is a 413. Counting is
  C-speed: first the characters anywhere (an upper bound, ~10 ms for 32 MB); only when
  that bound passes the limit are strings cut out (a regex, at worst ~80 ms per MB, for
  a body of millions of one-letter strings) to count exactly, so prose full of commas
  is never refused for its commas;
- **depth**: ``jsonutil.MAX_DEPTH`` levels of arrays and objects (400 past it);
- **messages** and **content parts per message**: after parsing, ``server.max_messages``
  and ``server.max_content_parts`` (413), before validation or any scanner walks them.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import PayloadTooLarge
from .jsonutil import parse_body

# A JSON string: quote, then runs of ordinary bytes or escapes, then quote.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)


def _structural(raw: bytes) -> int:
    return raw.count(b",") + raw.count(b"{") + raw.count(b"[")


def count_nodes(raw: bytes, limit: int) -> int:
    """The number of values and members of ``raw`` (exact once it may pass ``limit``;
    below it, any number not above ``limit``)."""
    upper = _structural(raw)
    if upper <= limit:
        return upper
    return _structural(_STRING.sub(b"", raw))


def parse_request(raw: bytes, server: Any) -> Any:
    """``jsonutil.parse_body`` within ``server``'s (a ``ServerConfig``) bounds."""
    return parse_bounded(raw, server.max_json_nodes, server.max_messages,
                         server.max_content_parts)


def parse_bounded(raw: bytes, max_nodes: int, max_messages: int, max_parts: int) -> Any:
    """``jsonutil.parse_body`` within the bounds above (413 past one, naming it)."""
    nodes = count_nodes(raw, max_nodes)
    if nodes > max_nodes:
        raise PayloadTooLarge(
            f"Request body has {nodes} JSON values; the limit is {max_nodes} "
            "(server.max_json_nodes).")
    body = parse_body(raw)
    if isinstance(body, dict):
        check_messages(body.get("messages"), max_messages, max_parts)
    return body


def check_messages(messages: Any, max_messages: int, max_parts: int) -> None:
    if not isinstance(messages, list):
        return
    if len(messages) > max_messages:
        raise PayloadTooLarge(
            f"messages: {len(messages)} messages; the limit is {max_messages} "
            "(server.max_messages).")
    for i, m in enumerate(messages):
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and len(content) > max_parts:
            raise PayloadTooLarge(
                f"messages[{i}].content: {len(content)} parts; the limit is {max_parts} "
                "(server.max_content_parts).")
