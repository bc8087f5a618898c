"""The Anthropic Messages surface: Claude natively (passthrough), Kimi translated.

To Claude the client's body goes through as parsed, with only ``model`` rewritten,
so nothing is lost in translation (thinking blocks, cache_control, citations); the
stream is relayed event by event. To Kimi it is translated to chat completions and
the answer back to a valid Anthropic message or event sequence.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import validate
from ..auth import anthropic_key
from ..config import ModelConfig
from ..errors import GatewayError
from ..http import ANTHROPIC_ERRORS
from ..sse import SSEEvent
from ..translate import (
    ChatStreamToMessages,
    anthropic_stream_error,
    chat_to_messages_response,
    messages_to_chat_request,
)
from ..translate.params import Unsupported
from ..translate.reasoning import strip_gateway_thinking
from .base import Prepared, Usage, event_json, require_answer
from .surface import Count, Surface

_FORWARD_HEADERS = ("anthropic-version", "anthropic-beta")


def _event(name: str, data: Any) -> bytes:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return b"event: " + name.encode() + b"\ndata: " + raw + b"\n\n"


class MessageAssembler:
    """Folds a native Anthropic event stream into one message (for the cache)."""

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.json_parts: dict[int, list[str]] = {}

    def add(self, name: str, d: dict[str, Any]) -> None:
        if name == "message_start":
            self.message = dict(d.get("message") or {})
        elif name == "content_block_start":
            self.blocks[d["index"]] = dict(d.get("content_block") or {})
        elif name == "content_block_delta":
            b = self.blocks.setdefault(d["index"], {"type": "text", "text": ""})
            delta = d.get("delta") or {}
            t = delta.get("type")
            if t == "text_delta":
                b["text"] = b.get("text", "") + delta.get("text", "")
            elif t == "input_json_delta":
                self.json_parts.setdefault(d["index"], []).append(delta.get("partial_json", ""))
            elif t == "thinking_delta":
                b["thinking"] = b.get("thinking", "") + delta.get("thinking", "")
            elif t == "signature_delta":
                b["signature"] = delta.get("signature", "")
            elif t == "citations_delta":
                b.setdefault("citations", []).append(delta.get("citation"))
        elif name == "message_delta" and self.message is not None:
            self.message.update(d.get("delta") or {})
            u = dict(self.message.get("usage") or {})
            u.update(d.get("usage") or {})
            self.message["usage"] = u

    def result(self) -> dict[str, Any] | None:
        if self.message is None:
            return None
        content = []
        for i in sorted(self.blocks):
            b = self.blocks[i]
            if i in self.json_parts:
                joined = "".join(self.json_parts[i])
                b["input"] = orjson.loads(joined) if joined else {}
            content.append(b)
        return {**self.message, "content": content}


class ClaudeNativeStream:
    """Relays Claude's events unchanged (re-framed), watching usage and the end."""

    def __init__(self, cacheable: bool) -> None:
        self.finished = False
        self._usage: dict[str, Any] = {}
        self._asm = MessageAssembler() if cacheable else None

    def feed(self, ev: SSEEvent) -> bytes:
        name = ev.event or ""
        if name in ("message_start", "message_delta", "error") or self._asm is not None:
            d = event_json(ev, "claude") if ev.data else {}
            if name == "error":
                raise anthropic_stream_error(d)
            if name == "message_start":
                self._usage.update((d.get("message") or {}).get("usage") or {})
            elif name == "message_delta":
                self._usage.update(d.get("usage") or {})
            if self._asm is not None:
                self._asm.add(name, d)
        if name == "message_stop":
            self.finished = True
        if not name:
            return b""
        return _event(name, ev.data.encode())

    def close(self) -> bytes:
        return b""

    def usage(self) -> Usage:
        return Usage.from_anthropic(self._usage)

    def assembled(self) -> dict[str, Any] | None:
        return self._asm.result() if self._asm is not None and self.finished else None

    def drop_assembly(self) -> None:
        self._asm = None


class KimiAsMessagesStream:
    """Kimi's chat chunks -> an Anthropic event sequence."""

    def __init__(self, model_id: str, prep: Prepared, cacheable: bool) -> None:
        self.finished = False
        self._tr = ChatStreamToMessages(model=model_id, tr=prep.ctx,
                                        input_estimate=prep.input_estimate)
        self._asm = MessageAssembler() if cacheable else None

    def _emit(self, pairs: list[tuple[str, dict[str, Any]]]) -> bytes:
        out = []
        for name, d in pairs:
            if self._asm is not None:
                self._asm.add(name, d)
            if name == "message_stop":
                self.finished = True
            out.append(_event(name, d))
        return b"".join(out)

    def feed(self, ev: SSEEvent) -> bytes:
        if ev.data == "[DONE]":
            return self._emit(self._tr.finish())
        if not ev.data:
            return b""
        chunk = event_json(ev, "kimi")
        return self._emit(self._tr.feed(chunk))

    def close(self) -> bytes:
        return b""

    def usage(self) -> Usage:
        return Usage.from_anthropic(self._tr.usage)

    def assembled(self) -> dict[str, Any] | None:
        return self._asm.result() if self._asm is not None and self.finished else None

    def drop_assembly(self) -> None:
        self._asm = None


def _capped(body: dict[str, Any], cap: int | None) -> dict[str, Any]:
    """A shallow copy with ``max_tokens`` lowered to the model's ``max_output_tokens``
    (as chat completions are): clients such as the AI SDK ask for 128000 whatever the
    model. An ``enabled`` thinking budget that no longer fits below it is lowered too."""
    up = dict(body)
    wanted = up.get("max_tokens")
    if cap is None or not isinstance(wanted, int) or wanted <= cap:
        return up
    up["max_tokens"] = cap
    thinking = up.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and budget >= cap > 1024:
            up["thinking"] = {**thinking, "budget_tokens": cap - 1}
    return up


class AnthropicSurface:
    name = "anthropic"
    forward_headers = _FORWARD_HEADERS  # they can change the answer: in the cache key

    def prepare(self, body: dict[str, Any], model: ModelConfig, provider_type: str,
                client_headers: dict[str, str], unsupported: Unsupported | None = None
                ) -> Prepared:
        if provider_type == "anthropic":
            # Thinking blocks the gateway signed for Kimi's reasoning would fail
            # Anthropic's signature check: they never reach it.
            up = strip_gateway_thinking(_capped(body, model.max_output_tokens))
            up["model"] = model.upstream
            headers = {h: client_headers[h] for h in _FORWARD_HEADERS if client_headers.get(h)}
            return Prepared(up, None, headers)
        up, tr = messages_to_chat_request(_capped(body, model.max_output_tokens),
                                          upstream_model=model.upstream,
                                          unsupported=unsupported)
        return Prepared(up, tr)

    def response(self, provider_type: str, upstream: dict[str, Any], prep: Prepared,
                 model_id: str) -> dict[str, Any]:
        require_answer(upstream, provider_type, "kimi" if provider_type == "openai" else "claude")
        if provider_type == "anthropic":
            return upstream
        return chat_to_messages_response(upstream, model=model_id, tr=prep.ctx)

    def stream(self, provider_type: str, prep: Prepared, model_id: str, body: dict[str, Any],
               request_id: str, cacheable: bool = False) -> ClaudeNativeStream | KimiAsMessagesStream:
        if provider_type == "anthropic":
            return ClaudeNativeStream(cacheable)
        return KimiAsMessagesStream(model_id, prep, cacheable)

    def usage(self, client_body: dict[str, Any]) -> Usage:
        return Usage.from_anthropic(client_body.get("usage"))

    def error_event(self, err: GatewayError) -> bytes:
        return _event("error", err.anthropic_body())

    def replay(self, cached: dict[str, Any], body: dict[str, Any]) -> list[bytes]:
        msg = {k: v for k, v in cached.items() if k not in ("content", "stop_reason",
                                                            "stop_sequence")}
        usage = dict(cached.get("usage") or {})
        out = [_event("message_start", {"type": "message_start", "message": {
            **msg, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1}}})]
        for i, b in enumerate(cached.get("content") or ()):
            t = b.get("type")
            if t == "text":
                out.append(_event("content_block_start", {"type": "content_block_start",
                                  "index": i, "content_block": {"type": "text", "text": ""}}))
                for citation in b.get("citations") or ():
                    out.append(_event("content_block_delta", {"type": "content_block_delta",
                                      "index": i, "delta": {"type": "citations_delta",
                                                            "citation": citation}}))
                out.append(_event("content_block_delta", {"type": "content_block_delta",
                                  "index": i, "delta": {"type": "text_delta", "text": b.get("text", "")}}))
            elif t == "tool_use":
                out.append(_event("content_block_start", {"type": "content_block_start",
                                  "index": i, "content_block": {**b, "input": {}}}))
                out.append(_event("content_block_delta", {"type": "content_block_delta",
                                  "index": i, "delta": {"type": "input_json_delta",
                                                        "partial_json": orjson.dumps(b.get("input") or {}).decode()}}))
            elif t == "thinking":
                # As Claude streams it: empty at the start, then the text and the
                # signature as deltas (clients that build blocks from deltas see both).
                out.append(_event("content_block_start", {"type": "content_block_start",
                                  "index": i, "content_block": {**b, "thinking": "", "signature": ""}}))
                out.append(_event("content_block_delta", {"type": "content_block_delta",
                                  "index": i, "delta": {"type": "thinking_delta",
                                                        "thinking": b.get("thinking", "")}}))
                out.append(_event("content_block_delta", {"type": "content_block_delta",
                                  "index": i, "delta": {"type": "signature_delta",
                                                        "signature": b.get("signature", "")}}))
            else:
                out.append(_event("content_block_start", {"type": "content_block_start",
                                  "index": i, "content_block": b}))
            out.append(_event("content_block_stop", {"type": "content_block_stop", "index": i}))
        out.append(_event("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": cached.get("stop_reason"), "stop_sequence": cached.get("stop_sequence")},
            "usage": {"output_tokens": usage.get("output_tokens", 0)}}))
        out.append(_event("message_stop", {"type": "message_stop"}))
        return out


SURFACE = Surface(
    name="messages", path="/v1/messages", dialect=ANTHROPIC_ERRORS, key=anthropic_key,
    validate=validate.messages_request, walker="messages", codec=AnthropicSurface(),
    forward_headers=_FORWARD_HEADERS,
    count=Count("/v1/messages/count_tokens", validate.count_tokens_request,
                lambda n: {"input_tokens": n}))
