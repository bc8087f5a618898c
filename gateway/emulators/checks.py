"""Small type predicates the validators share (JSON has no int/bool distinction
in Python's eyes: ``True`` is an ``int``, and the real APIs reject it as one)."""

from __future__ import annotations

from typing import Any, TypeGuard

from .errors import ApiError


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_str_list(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def content_type_is_json(headers: dict[str, str] | Any) -> bool:
    value = str(headers.get("content-type", "")).split(";")[0].strip().lower()
    return value == "application/json" or value.endswith("+json")
