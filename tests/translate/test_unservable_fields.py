"""``to_anthropic`` skips its checks of what Claude cannot serve for a request with none
of ``_UNSERVABLE``'s fields: that set must name every field the checks read."""

from __future__ import annotations

from typing import Any

from gateway.translate import to_anthropic
from gateway.translate.params import Unsupported


class Reads(dict[str, Any]):
    """An empty body that remembers the fields asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return default

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return False


def test_the_skipped_checks_read_only_the_listed_fields() -> None:
    body = Reads()
    to_anthropic._reject_unsupported(body)
    to_anthropic._check_unservable(body, Unsupported())
    assert body.read == to_anthropic._UNSERVABLE
