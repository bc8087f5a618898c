"""Errors that arrive inside a 200 stream, mapped onto ``UpstreamStatusError``.

Both providers can fail after the response headers went out: Anthropic sends an SSE
``error`` event (``overloaded_error`` is common under load), Moonshot and other
OpenAI-compatible servers send ``data: {"error": {...}}``. The status we attach is the
one the same error would have had before the stream started, so retry and fallback
policy treat both cases alike.
"""

from __future__ import annotations

from typing import Any

from ..errors import UpstreamStatusError

# https://docs.anthropic.com/en/api/errors
ANTHROPIC_ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# Moonshot's error types (platform docs, "Error codes"), plus OpenAI's own spellings
# for self-hosted OpenAI-compatible servers.
OPENAI_ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "content_filter": 400,
    "invalid_authentication_error": 401,
    "incorrect_api_key_error": 401,
    "authentication_error": 401,
    "permission_denied_error": 403,
    "resource_not_found_error": 404,
    "exceeded_current_quota_error": 429,
    "insufficient_quota": 429,
    "engine_overloaded_error": 429,
    "rate_limit_reached_error": 429,
    "rate_limit_exceeded": 429,
    "server_error": 500,
}


def _message(err: dict[str, Any], fallback: str) -> str:
    message = err.get("message")
    return message if isinstance(message, str) and message else fallback


def anthropic_stream_error(data: dict[str, Any], *, provider: str = "upstream"
                           ) -> UpstreamStatusError:
    """The exception for an Anthropic SSE ``error`` event's data (``provider``: the
    configured name of the provider that sent it)."""
    err = data.get("error")
    err = err if isinstance(err, dict) else {}
    etype = err.get("type")
    etype = etype if isinstance(etype, str) else "api_error"
    return UpstreamStatusError(
        _message(err, "Anthropic stream failed"),
        upstream_status=ANTHROPIC_ERROR_STATUS.get(etype, 500),
        upstream_type=etype,
        provider=provider,
    )


def openai_stream_error(data: dict[str, Any], *, provider: str = "upstream"
                        ) -> UpstreamStatusError:
    """The exception for a ``data: {"error": {...}}`` payload of an OpenAI-style stream."""
    err = data.get("error")
    if isinstance(err, str):
        err = {"message": err}
    err = err if isinstance(err, dict) else {}
    etype = err.get("type")
    etype = etype if isinstance(etype, str) else None
    code = err.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        status = code  # some OpenAI-compatible servers (vLLM) put the HTTP status here
    else:
        status = OPENAI_ERROR_STATUS.get(etype or "", 500)
    return UpstreamStatusError(
        _message(err, "upstream stream failed"),
        upstream_status=status,
        upstream_type=etype,
        provider=provider,
    )
