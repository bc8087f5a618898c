"""Scan every string of a request body for PII and name the field where each kind was found.

A PII policy (``pii_providers``) is a promise about everything the gateway forwards, so
the scan does not follow the schema: it walks the whole body, every value and every key,
known fields (``messages[].content``, ``stop``, ``metadata.user_id``, ``user``,
``reasoning_content``, ``tool_call_id``, ``prediction``...) and unknown ones alike. Only
binary media is skipped: ``data:`` URLs (OpenAI images and files), ``file_data``,
``input_audio.data`` and Anthropic ``source.data`` of a base64 source; the gateway cannot
read an image or a PDF, so a policy that must keep media from a provider has to use
``providers``. A media value that is not base64 throughout is text, and is scanned.

A value whose key names a secret (``{"password": "..."}`` in a tool input) is also scanned
as ``key: value``, as the JSON text of that object would be.

Field paths are made of the body's keys and indices (``messages[2].content[0].text``,
``metadata.user_id``); a key that is not plain letters and underscores is written ``*`` so
a path never carries a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .pii import PiiScanner, has_no_candidate

_NAME_RE = re.compile(r"[A-Za-z_]{1,64}")
_SECRET_KEY_RE = re.compile(r"(?i)pass|pwd|secret|token|key|credential|auth")
_MEDIA_KEYS = frozenset({"file_data"})
_MEDIA_NAMES = _MEDIA_KEYS | {"data"}  # keys whose value may be media (``_is_media``)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_PAIR_VALUE_CHARS = 600


def _name(key: Any) -> str:
    return key if isinstance(key, str) and _NAME_RE.fullmatch(key) else "*"


def _path(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out or "(body)"


def _is_media(key: Any, value: str, parent: dict[str, Any]) -> bool:
    """Binary media: skipped only when it is base64 throughout (an email or a sentence
    cannot be, so text put where media goes is still scanned; digit runs in real
    base64 would otherwise look like numbers)."""
    if value.startswith("data:"):
        comma = value.find(";base64,", 0, 128)
        return comma >= 0 and _BASE64.fullmatch(value, comma + 8) is not None
    # Anthropic {"type": "base64", "media_type": ..., "data": ...}; OpenAI input_audio
    if key in _MEDIA_KEYS or (key == "data" and (parent.get("type") == "base64"
                                                 or "format" in parent)):
        return _BASE64.fullmatch(value) is not None
    return False


# What a key means to the walk, cached per key string: a body's keys are a small
# vocabulary ("role", "content", "input_schema"...) repeated in every request, and
# classifying one costs two regex calls and a scan. ``_QUIET`` holds the keys that are
# neither scanned nor a secret's name, so that a dict made of them only (most of a body's
# dicts) is told in one C call. Bounded: cleared when full (keys are the client's; past
# that many distinct ones the cache is refilled, not grown).
_KEYS: dict[str, tuple[str, bool, bool]] = {}
_QUIET: set[str] = set()
_MAX_KEYS = 4096


def _key_info(key: Any) -> tuple[str, bool, bool]:
    """The key's name in a path; whether it is scanned (at least 8 characters, and a
    candidate in it, see ``has_no_candidate``); whether it names a secret."""
    info = _KEYS.get(key)
    if info is not None:
        return info
    if not isinstance(key, str):
        return ("*", False, False)
    info = (_name(key), len(key) >= 8 and not has_no_candidate(key),
            len(key) <= 64 and _SECRET_KEY_RE.search(key) is not None)
    if len(_KEYS) >= _MAX_KEYS:
        _KEYS.clear()
        _QUIET.clear()
    _KEYS[key] = info
    if not info[1] and not info[2]:
        _QUIET.add(key)
    return info


def _key_name(key: Any) -> str:
    return (_KEYS.get(key) or _key_info(key))[0]


class FieldScanner:
    """Scans strings with a ``PiiScanner`` and remembers the first field of each kind.

    The walk reads the body in document order, depth first, with a stack of the open
    containers. A dict's keys and secret pairs are scanned when it is opened, last key
    first, then its values in order: the order of the plain walk (which pushed a dict's
    values on a stack as it scanned their keys), kept because what a scan classifies
    depends on what was found before (``tests/features/test_fields_walk.py`` holds the
    two equal). Paths are written only when a kind is found.
    """

    __slots__ = ("scanner", "where")

    def __init__(self, scanner: PiiScanner) -> None:
        self.scanner = scanner
        self.where: dict[str, str] = {}

    def _finds(self, text: str) -> bool:
        """Scan ``text``: did it find a kind?"""
        found = self.scanner.found
        before = len(found)
        self.scanner.scan(text)
        return len(found) != before

    def _found_in(self, parts: list[Any], last: Any) -> None:
        """Name the field ``last`` of the container at ``parts`` (None: the body itself)
        for the kinds found so far without a field."""
        path = _path((*parts, last) if last is not None else ())
        for kind in self.scanner.found:
            self.where.setdefault(kind, path)

    def _open(self, value: dict[Any, Any], parts: list[Any]) -> Iterator[tuple[Any, Any]]:
        """Scan the keys and secret pairs of ``value`` (at ``parts``); its items."""
        if not _QUIET.issuperset(value):
            scans: list[tuple[Any, str, bool, Any]] = []
            for key, item in value.items():
                name, scan_key, secret = _KEYS.get(key) or _key_info(key)
                if scan_key or (secret and isinstance(item, str)):
                    scans.append((key, name, scan_key, item if secret else None))
            for key, name, scan_key, item in reversed(scans):
                if scan_key and self._finds(key):
                    self._found_in(parts, "*key*")
                if (isinstance(item, str) and not _media(key, item, value)
                        and self._finds(f'"{key}": "{item[:_PAIR_VALUE_CHARS]}"')):
                    self._found_in(parts, name)
        return iter(value.items())

    def walk(self, body: Any) -> None:
        scanner = self.scanner
        if isinstance(body, str):
            if len(body) >= 8 and self._finds(body):
                self._found_in([], None)
            return
        parts: list[Any] = []  # the path of the innermost open container
        # (items, the dict they are of or None for a list's)
        stack: list[tuple[Iterator[tuple[Any, Any]], dict[Any, Any] | None]] = []
        if isinstance(body, dict):
            stack.append((self._open(body, parts), body))
        elif isinstance(body, list):
            stack.append((enumerate(body), None))
        while stack:
            items, parent = stack[-1]
            for key, item in items:
                if isinstance(item, str):
                    # (a string under 8 characters holds no candidate: ``PiiScanner.scan``)
                    if len(item) < 8 or (parent is not None and _media(key, item, parent)):
                        continue
                    if self._finds(item):
                        self._found_in(parts, key if parent is None else _key_name(key))
                elif isinstance(item, dict):
                    if scanner.done():
                        return
                    parts.append(key if parent is None else _key_name(key))
                    stack.append((self._open(item, parts), item))
                    break
                elif isinstance(item, list):
                    parts.append(key if parent is None else _key_name(key))
                    stack.append((enumerate(item), None))
                    break
            else:
                stack.pop()
                if stack:
                    parts.pop()


def _media(key: Any, value: str, parent: dict[Any, Any]) -> bool:
    """``_is_media``, asked only where it may say yes."""
    return (value.startswith("data:") or key in _MEDIA_NAMES) and _is_media(key, value, parent)
