"""Type checks for client request bodies, each raising a 400 that names the field.

Translators read client JSON that nobody has validated yet; a wrong type must become
``BadRequest("messages[2].content must be ...", param="messages[2].content")``, never
an ``AttributeError`` deep inside a translator.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from ..errors import BadRequest


# JSON has no int/bool distinction in Python's eyes: ``True`` is an ``int``, and the real
# APIs reject it as one. These predicates are the one place that says so (the emulators
# use them too).
def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_str_list(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def bad(param: str, reason: str) -> BadRequest:
    return BadRequest(f"{param} {reason}", param=param)


def obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(param, "must be an object")
    return value


def arr(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad(param, "must be an array")
    return value


def string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise bad(param, "must be a string")
    return value


def nonempty_string(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad(param, "must be a non-empty string")
    return value


def boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise bad(param, "must be a boolean")
    return value


def integer(value: Any, param: str, *, minimum: int | None = None) -> int:
    if not is_int(value):
        raise bad(param, "must be an integer")
    if minimum is not None and value < minimum:
        raise bad(param, f"must be at least {minimum}")
    return value


def number(value: Any, param: str) -> float:
    if not is_number(value):
        raise bad(param, "must be a number")
    return float(value)


def string_list(value: Any, param: str) -> list[str]:
    """A string or an array of strings (OpenAI's ``stop``), as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        for i, item in enumerate(value):
            string(item, f"{param}[{i}]")
        return value
    raise bad(param, "must be a string or an array of strings")


def function_tool(tool: dict[str, Any], p: str) -> None:
    """Chat-completions tools must be ``function`` tools (OpenAI's ``custom`` tools take
    free-form text input, which neither provider has)."""
    ttype = tool.get("type", "function")
    if ttype != "function":
        raise bad(f"{p}.type", f"is {ttype!r}: the gateway supports only 'function' tools "
                  "(a name, a description and JSON Schema parameters); custom tools with "
                  "free-form input are not supported")
