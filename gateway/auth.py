"""Gateway keys: who is calling, compared in constant time, storable as hashes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from .config import KeyConfig
from .errors import AuthError


@dataclass(frozen=True, slots=True)
class Caller:
    name: str | None  # None: open access (no keys configured)
    policy: str | None
    key: KeyConfig | None

    @property
    def tenant(self) -> str:
        return self.name or "anonymous"


ANONYMOUS = Caller(None, None, None)


class KeyRing:
    """Matches a presented key against the configured ones.

    Every configured digest is compared with ``hmac.compare_digest`` on every call
    (no early exit), so the time taken does not depend on which key, if any, matched
    or on how much of it was right. Only SHA-256 digests are kept in memory.
    """

    def __init__(self, keys: list[KeyConfig]) -> None:
        self._entries = [(k.digest, k) for k in keys if k.digest is not None]

    @property
    def open(self) -> bool:
        return not self._entries

    def identify(self, presented: str | None) -> Caller:
        if self.open:
            return ANONYMOUS
        if not presented:
            raise AuthError(
                "Missing gateway key: send it as `Authorization: Bearer <key>` "
                "(or `x-api-key` on /v1/messages)."
            )
        digest = hashlib.sha256(_wire_bytes(presented)).digest()
        found: KeyConfig | None = None
        for d, k in self._entries:
            if hmac.compare_digest(d, digest) and found is None:  # type: ignore[arg-type]
                found = k
        if found is None:
            raise AuthError("Invalid gateway key.")
        return Caller(found.name, found.policy, found)


def _wire_bytes(presented: str) -> bytes:
    """The key's bytes as the client sent them. The HTTP server decodes header values as
    latin-1 (one character a byte), so a UTF-8 key ("clé") arrives as "clÃ©"; encoding
    back to latin-1 recovers its bytes, which match the configured key's UTF-8. A str
    that is not latin-1 (a direct caller) is taken as text."""
    try:
        return presented.encode("latin-1")
    except UnicodeEncodeError:
        return presented.encode("utf-8", "surrogateescape")


def bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def openai_key(headers: Mapping[str, str]) -> str | None:
    """The key as OpenAI's SDKs send it: ``Authorization: Bearer <key>``."""
    return bearer(headers.get("authorization"))


def anthropic_key(headers: Mapping[str, str]) -> str | None:
    """The key as Anthropic's SDKs send it (``x-api-key``), or as a bearer token
    (Claude Code with ``ANTHROPIC_AUTH_TOKEN``)."""
    return headers.get("x-api-key") or bearer(headers.get("authorization"))
