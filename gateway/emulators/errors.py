"""Error bodies of the two emulated APIs, and the exception validators raise.

Moonshot answers ``{"error": {"type", "message"}}`` (no ``param``/``code``, unlike
OpenAI); Anthropic answers ``{"type": "error", "error": {"type", "message"},
"request_id"}`` and repeats the id in a ``request-id`` header.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import orjson


class ApiError(Exception):
    """A request the emulated API refuses; rendered in the dialect's error shape."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


# status -> (type, message) the real APIs use for the common failures.
MOONSHOT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("invalid_authentication_error", "Invalid Authentication"),
    403: ("permission_denied_error", "The API you are accessing is not open"),
    404: ("resource_not_found_error", "Not found the model or Permission denied"),
    413: ("invalid_request_error", "Request body too large"),
    429: ("engine_overloaded_error", "The engine is currently overloaded, please try again later"),
    500: ("server_error", "Internal server error"),
}

ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def default_error(table: Mapping[int, tuple[str, str]], status: int) -> tuple[str, str]:
    """The (type, message) for a status, falling back on the 4xx/5xx family."""
    if status in table:
        return table[status]
    return table[400] if status < 500 else table[500]


def moonshot_error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"error": {"type": error_type, "message": message}})


def anthropic_error_body(error_type: str, message: str, request_id: str | None) -> bytes:
    body: dict[str, object] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return orjson.dumps(body)


def new_request_id() -> str:
    # Anthropic ids look like req_011CSHoEeqs5C35K2UUqR7Fy: a prefix and base62 text.
    return "req_011" + random_base62(21)


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))
