"""The client-facing API surfaces, and the table the app routes them from.

Each surface module ends in its ``SURFACE`` (``surface.Surface``: its front half as
data, its codec as the back half). ``SURFACES`` is the one table: the app makes each
surface's routes from it, and errors on a path are rendered in the dialect of the
surface that owns the path (``for_path``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..http import ANTHROPIC_ERRORS, OPENAI_ERRORS, ErrorDialect
from .anthropic import SURFACE as MESSAGES
from .openai import SURFACE as CHAT_COMPLETIONS
from .responses import SURFACE as RESPONSES
from .surface import Surface

SURFACES: tuple[Surface, ...] = (CHAT_COMPLETIONS, MESSAGES, RESPONSES)

__all__ = ["CHAT_COMPLETIONS", "MESSAGES", "RESPONSES", "SURFACES", "Surface", "dialect_for"]


def anthropic_client(headers: Mapping[str, str]) -> bool:
    """A request from an Anthropic SDK (on a path all surfaces share, ``/v1/models``)."""
    return "anthropic-version" in headers or "x-api-key" in headers


def dialect_for(path: str, headers: Mapping[str, str]) -> ErrorDialect:
    """The error dialect of ``path``: its surface's; a shared path (``/v1/models``)
    answers in the client's dialect; anything else in OpenAI's."""
    for s in SURFACES:
        if path == s.path or path.startswith(s.path + "/"):
            return s.dialect
    if path.startswith("/v1/models") and anthropic_client(headers):
        return ANTHROPIC_ERRORS
    return OPENAI_ERRORS
