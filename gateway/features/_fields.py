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
from typing import Any

from .pii import PiiScanner

_NAME_RE = re.compile(r"[A-Za-z_]{1,64}")
_SECRET_KEY_RE = re.compile(r"(?i)pass|pwd|secret|token|key|credential|auth")
_MEDIA_KEYS = frozenset({"file_data"})
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


class FieldScanner:
    """Scans strings with a ``PiiScanner`` and remembers the first field of each kind."""

    __slots__ = ("scanner", "where")

    def __init__(self, scanner: PiiScanner) -> None:
        self.scanner = scanner
        self.where: dict[str, str] = {}

    def _scan(self, text: str, parts: tuple[Any, ...]) -> None:
        scanner = self.scanner
        before = len(scanner.found)
        scanner.scan(text)
        if len(scanner.found) != before:
            path = _path(parts)
            for kind in scanner.found:
                self.where.setdefault(kind, path)

    def walk(self, body: Any) -> None:
        stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
        scanner = self.scanner
        while stack and not scanner.done():
            value, parts = stack.pop()
            if isinstance(value, str):
                self._scan(value, parts)
            elif isinstance(value, dict):
                # reversed: the stack then pops fields (and list items) in body order
                for key, item in reversed(list(value.items())):
                    here = (*parts, _name(key))
                    if isinstance(key, str) and len(key) >= 8:
                        self._scan(key, (*parts, "*key*"))
                    if isinstance(item, str):
                        if _is_media(key, item, value):
                            continue
                        if isinstance(key, str) and len(key) <= 64 and _SECRET_KEY_RE.search(key):
                            self._scan(f'"{key}": "{item[:_PAIR_VALUE_CHARS]}"', here)
                    stack.append((item, here))
            elif isinstance(value, list):
                for i in range(len(value) - 1, -1, -1):
                    stack.append((value[i], (*parts, i)))
