"""Bounds on a request body's structure, checked before it becomes Python objects.

``max_body_bytes`` bounds a body's bytes, but not what parsing it costs: 32 MB of
``{},`` is ten million dicts (1.7 GB, seconds of walking by the feature scanners). So
a body is measured before ``orjson`` parses it:

- **values**: the JSON values and members it holds, counted as the ``{``, ``[`` and
  ``,`` outside strings; more than ``server.max_json_nodes`` is a 413. Counting is
  C-speed: first the characters anywhere (an upper bound, ~10 ms for 32 MB); only when
  that bound passes the limit are they counted outside strings (a regex over strings
  and structural characters, stopping as soon as the count passes the limit, so its
  cost is bounded by the limit, not the body), so prose full of commas is never refused
  for its commas;
- **depth**: ``jsonutil.MAX_DEPTH`` levels of arrays and objects (400 past it);
- **messages** and **content parts per message**: after parsing, ``server.max_messages``
  and ``server.max_content_parts`` (413), before validation or any scanner walks them.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import PayloadTooLarge
from .jsonutil import opening_brackets, parse_body

# A JSON string (quote, runs of ordinary bytes or escapes, quote), or a structural
# character that starts a value or a member.
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[,{\[]', re.DOTALL)
_QUOTE = ord('"')


def count_nodes(raw: bytes, limit: int, opening: int | None = None) -> int:
    """The number of values and members of ``raw`` if it is at most ``limit`` (an upper
    bound of it, at most ``limit``), else ``limit + 1`` (more than the limit).
    ``opening``: ``jsonutil.opening_brackets(raw)``, if the caller counted it."""
    if opening is None:
        opening = opening_brackets(raw)
    upper = opening + raw.count(b",")
    if upper <= limit:
        return upper
    n = 0
    for m in _TOKEN.finditer(raw):
        if raw[m.start()] != _QUOTE:
            n += 1
            if n > limit:
                break
    return n


def parse_request(raw: bytes, server: Any) -> Any:
    """``jsonutil.parse_body`` within ``server``'s (a ``ServerConfig``) bounds."""
    return parse_bounded(raw, server.max_json_nodes, server.max_messages,
                         server.max_content_parts)


def parse_bounded(raw: bytes, max_nodes: int, max_messages: int, max_parts: int) -> Any:
    """``jsonutil.parse_body`` within the bounds above (413 past one, naming it)."""
    opening = opening_brackets(raw)  # counted once: for the nodes and for the depth
    if count_nodes(raw, max_nodes, opening) > max_nodes:
        raise PayloadTooLarge(
            f"Request body has more than {max_nodes} JSON values (arrays, objects and "
            "their members), the limit (server.max_json_nodes).")
    body = parse_body(raw, opening)
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
