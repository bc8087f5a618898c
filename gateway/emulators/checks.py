"""Small helpers the emulators' validators share; the type predicates (``is_int``
and the like) are the gateway's own, from ``gateway/translate/_check.py``."""

from __future__ import annotations

from typing import Any

from .errors import ApiError


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def content_type_is_json(headers: dict[str, str] | Any) -> bool:
    value = str(headers.get("content-type", "")).split(";")[0].strip().lower()
    return value == "application/json" or value.endswith("+json")
