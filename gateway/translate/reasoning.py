"""Kimi's ``reasoning_content`` as Anthropic thinking blocks, and back.

Moonshot's thinking models want the ``reasoning_content`` of earlier assistant
tool-call turns sent back. An Anthropic client keeps a turn's thinking blocks and
sends them back (Anthropic requires it too), so the gateway returns Kimi's reasoning as
a thinking block whose ``signature`` it made itself: ``gwkimi1.`` and a hash of the
thinking text. Such a block coming back is recognised (prefix and hash) and becomes
``reasoning_content`` again for Kimi; it is never sent to Anthropic, whose own
signatures it could not pass (``strip_gateway_thinking``). The hash is not a secret:
it only tells the gateway's blocks from Anthropic's and catches an edited text.
"""

from __future__ import annotations

import hashlib
from typing import Any

SIGNATURE_PREFIX = "gwkimi1."


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
