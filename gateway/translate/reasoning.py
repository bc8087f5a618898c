"""Kimi's ``reasoning_content`` as Anthropic thinking blocks, and back.

Moonshot's thinking models want the ``reasoning_content`` of earlier assistant
tool-call turns sent back. An Anthropic client keeps a turn's thinking blocks and
sends them back (Anthropic requires it too), so the gateway returns Kimi's reasoning as
a thinking block whose ``signature`` it made itself: ``gwkimi1.`` and a hash of the
thinking text. Such a block coming back is recognised (prefix and hash) and becomes
``reasoning_content`` again for Kimi; it is never sent to Anthropic, whose own
signatures it could not pass (``strip_gateway_thinking``). The hash is not a secret:
it only tells the gateway's blocks from Anthropic's and catches an edited text.

A Responses client gets each thinking block as a ``reasoning`` item: the text as its
summary, the rest of the block (signature, or a redacted block's data) sealed in its
``encrypted_content`` (``seal``); sent back, the two make the block again (``unseal``).
The text stays in the summary, where the feature walk (PII, policies) reads it: nothing
in the sealed part reaches a provider but a signature or Anthropic's encrypted data.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

from . import _check as check

SIGNATURE_PREFIX = "gwkimi1."
SEAL_PREFIX = "gwrs1."


class Signer:
    """Builds a signature over text arriving in pieces (a stream), in constant memory."""

    __slots__ = ("_hash",)

    def __init__(self, text: str = "") -> None:
        self._hash = hashlib.sha256()
        self.update(text)

    def update(self, text: str) -> None:
        self._hash.update(text.encode())

    def signature(self) -> str:
        return SIGNATURE_PREFIX + self._hash.hexdigest()


def sign(text: str) -> str:
    return Signer(text).signature()


def is_gateway_thinking(block: Any) -> bool:
    """A thinking block the gateway made from Kimi's reasoning (text unchanged)."""
    if not isinstance(block, dict) or block.get("type") != "thinking":
        return False
    signature, text = block.get("signature"), block.get("thinking")
    return (isinstance(signature, str) and signature.startswith(SIGNATURE_PREFIX)
            and isinstance(text, str) and signature == sign(text))


def strip_gateway_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without the gateway's thinking blocks (for Anthropic); the same object
    when it has none, so the usual passthrough copies nothing."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(
            isinstance(m, dict) and m.get("role") == "assistant"
            and isinstance(m.get("content"), list)
            and any(is_gateway_thinking(b) for b in m["content"]) for m in messages):
        return body
    out = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and m.get("role") == "assistant":
            kept = [b for b in content if not is_gateway_thinking(b)]
            if not kept and content:
                # A turn that was only Kimi's reasoning (an answer cut short while it
                # thought): Anthropic refuses empty turns and merges the ones around it.
                continue
            m = {**m, "content": kept}
        out.append(m)
    return {**body, "messages": out}


def seal(block: dict[str, Any]) -> str:
    """A thinking block, less its text, as a reasoning item's ``encrypted_content``."""
    kept = {k: v for k, v in block.items() if k != "thinking"}
    return SEAL_PREFIX + base64.urlsafe_b64encode(orjson.dumps(kept)).decode()


def sign_and_seal(text: str) -> str:
    """``seal`` of the gateway's own block for ``text`` (Kimi's reasoning)."""
    return seal({"type": "thinking", "signature": sign(text)})


def unseal(value: str, text: str, param: str) -> dict[str, Any] | None:
    """The block a reasoning item stands for (``text``: its summary), or None when
    ``encrypted_content`` is not the gateway's (another provider's: dropped)."""
    if not value.startswith(SEAL_PREFIX):
        return None
    try:
        d = orjson.loads(base64.urlsafe_b64decode(value[len(SEAL_PREFIX):]))
    except ValueError:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        d = None
    if isinstance(d, dict):
        if d.get("type") == "thinking" and isinstance(d.get("signature"), str):
            return {"type": "thinking", "thinking": text, "signature": d["signature"]}
        if d.get("type") == "redacted_thinking" and isinstance(d.get("data"), str):
            return {"type": "redacted_thinking", "data": d["data"]}
    raise check.bad(param, "is not an encrypted_content the gateway made (send it back "
                    "as it came)")
