"""Tool-call ids that every provider accepts, mapped reversibly.

Anthropic requires ``tool_use.id`` to match ``^[a-zA-Z0-9_-]+$``; Moonshot's ids look
like ``functions.get_weather:0``. A conversation can cross providers between turns (a
fallback, a route that changed), so the same function must be applied to
``tool_use.id`` and ``tool_result.tool_use_id`` and must be:

- deterministic: the same id maps the same way in every request of a conversation;
- injective: ids that were safe are kept unless they start with the reserved prefix,
  everything else becomes ``PREFIX + urlsafe-base64(utf-8)`` without padding, so no
  two ids can collide (the prefix is reserved for encoded ids);
- reversible: ``from_safe_tool_id(to_safe_tool_id(x)) == x`` for every string ``x``.

The prefix is not ``toolu_``: that is the prefix of Anthropic's own ids, which must pass
through unchanged.
"""

from __future__ import annotations

import base64
import binascii
import re

PREFIX = "gwid_"

_SAFE = re.compile(r"[a-zA-Z0-9_-]+")


def to_safe_tool_id(tool_id: str) -> str:
    """Map any tool-call id onto ``^[a-zA-Z0-9_-]+$`` (identity for safe ids)."""
    if _SAFE.fullmatch(tool_id) and not tool_id.startswith(PREFIX):
        return tool_id
    encoded = base64.urlsafe_b64encode(tool_id.encode("utf-8", "surrogatepass"))
    return PREFIX + encoded.rstrip(b"=").decode("ascii")


def from_safe_tool_id(safe_id: str) -> str:
    """Invert :func:`to_safe_tool_id`; ids it did not produce come back unchanged."""
    if not safe_id.startswith(PREFIX):
        return safe_id
    payload = safe_id[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        original = raw.decode("utf-8", "surrogatepass")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return safe_id
    # Only an exact inverse counts: a look-alike id the client made up stays as it is.
    return original if to_safe_tool_id(original) == safe_id else safe_id
