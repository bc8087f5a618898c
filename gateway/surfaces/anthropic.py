"""The Anthropic Messages surface: natively to the Messages wire format (a shortcut
past the hub), through the hub to the others (Kimi).

To Claude the client's body goes through as parsed, with only ``model`` rewritten (and
``max_tokens`` capped), so nothing is lost in translation (thinking blocks,
cache_control, citations); the stream is relayed event by event. To Kimi it is
translated to the hub's chat completions (``translate/from_messages.py``) and the
answer back to a valid Anthropic message or event sequence (``translate/to_messages.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .. import validate
from ..auth import anthropic_key
from ..config import ModelConfig
from ..errors import GatewayError
from ..http import ANTHROPIC_ERRORS
from ..sse import SSEEvent, frame_named, named_event
from ..translate import (
    ChatStreamToMessages,
    anthropic_stream_error,
    chat_to_messages_response,
    messages_to_chat_request,
)
from ..translate.hub import (
    MESSAGES,
    PLAIN,
    USAGE_LAST,
    HubOptions,
    event_json,
    not_an_answer,
)
from ..translate.params import Unsupported
from ..translate.reasoning import strip_gateway_thinking
from .base import HubCodec, Prepared, Usage
from .surface import Count, Surface

_FORWARD_HEADERS = ("anthropic-version", "anthropic-beta")
Event = tuple[str, Any]


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
    """Relays Claude's events unchanged (their data as it came), watching usage and the
    end."""

    def __init__(self, cacheable: bool, provider: str) -> None:
        self.finished = False
        self._provider = provider
        self._usage: dict[str, Any] = {}
        self._asm = MessageAssembler() if cacheable else None

    def feed(self, ev: SSEEvent) -> bytes:
        name = ev.event or ""
        if name in ("message_start", "message_delta", "error") or self._asm is not None:
            d = event_json(ev, self._provider) if ev.data else {}
            if name == "error":
                raise anthropic_stream_error(d, provider=self._provider)
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
        return named_event(name, ev.data)

    def close(self) -> bytes:
        return b""

    def usage(self) -> Usage:
        return Usage.from_anthropic(self._usage)

    def assembled(self) -> dict[str, Any] | None:
        return self._asm.result() if self._asm is not None and self.finished else None

    def drop_assembly(self) -> None:
        self._asm = None


class MessagesEvents:
    """Hub chunks -> an Anthropic event sequence (``to_messages.py``)."""

    __slots__ = ("_asm", "_tr", "finished")

    def __init__(self, tr: ChatStreamToMessages, cacheable: bool) -> None:
        self._tr = tr
        self._asm = MessageAssembler() if cacheable else None
        self.finished = False  # once message_stop is out

    def _out(self, events: list[Event]) -> list[Event]:
        if self._asm is not None:
            for name, d in events:
                self._asm.add(name, d)
        self.finished = self._tr.finished
        return events

    def feed(self, chunks: list[dict[str, Any]]) -> list[Any]:
        feed = self._tr.feed
        if len(chunks) == 1:
            return self._out(feed(chunks[0]))
        return self._out([ev for ch in chunks for ev in feed(ch)])

    def finish(self) -> list[Any]:
        return self._out(self._tr.finish())

    def close(self) -> list[Any]:
        return []

    def assembled(self) -> dict[str, Any] | None:
        return self._asm.result() if self._asm is not None else None

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


def message_events(cached: dict[str, Any]) -> list[Event]:
    """A whole message as the event sequence Claude streams (the inverse of
    :class:`MessageAssembler`), so a cache hit streams as the miss did."""
    msg = {k: v for k, v in cached.items() if k not in ("content", "stop_reason",
                                                        "stop_sequence")}
    usage = dict(cached.get("usage") or {})
    out: list[Event] = [("message_start", {"type": "message_start", "message": {
        **msg, "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1}}})]

    def start(i: int, block: dict[str, Any]) -> None:
        out.append(("content_block_start", {"type": "content_block_start", "index": i,
                                            "content_block": block}))

    def delta(i: int, **d: Any) -> None:
        out.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                            "delta": d}))

    for i, b in enumerate(cached.get("content") or ()):
        t = b.get("type")
        if t == "text":
            start(i, {"type": "text", "text": ""})
            for citation in b.get("citations") or ():
                delta(i, type="citations_delta", citation=citation)
            delta(i, type="text_delta", text=b.get("text", ""))
        elif t == "tool_use":
            start(i, {**b, "input": {}})
            delta(i, type="input_json_delta",
                  partial_json=orjson.dumps(b.get("input") or {}).decode())
        elif t == "thinking":
            # As Claude streams it: empty at the start, then the text and the
            # signature as deltas (clients that build blocks from deltas see both).
            start(i, {**b, "thinking": "", "signature": ""})
            delta(i, type="thinking_delta", thinking=b.get("thinking", ""))
            delta(i, type="signature_delta", signature=b.get("signature", ""))
        else:
            start(i, b)
        out.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": cached.get("stop_reason"), "stop_sequence": cached.get("stop_sequence")},
        "usage": {"output_tokens": usage.get("output_tokens", 0)}}))
    out.append(("message_stop", {"type": "message_stop"}))
    return out


@dataclass(frozen=True, slots=True)
class Native:
    """A request sent to Anthropic as the client wrote it."""

    provider: str


class NativeMessages:
    """The shortcut past the hub: Messages to the Messages wire format, losslessly."""

    def prepare(self, body: dict[str, Any], model: ModelConfig,
                client_headers: dict[str, str]) -> Prepared:
        # Thinking blocks the gateway signed for Kimi's reasoning would fail
        # Anthropic's signature check: they never reach it.
        up = strip_gateway_thinking(_capped(body, model.max_output_tokens))
        up["model"] = model.upstream
        headers = {h: client_headers[h] for h in _FORWARD_HEADERS if client_headers.get(h)}
        return Prepared(up, Native(model.provider), headers)

    def response(self, upstream: dict[str, Any], prep: Prepared,
                 model_id: str) -> dict[str, Any]:
        if not isinstance(upstream.get("content"), list):
            raise not_an_answer(prep.ctx.provider, "content list")
        return upstream

    def stream(self, prep: Prepared, cacheable: bool) -> ClaudeNativeStream:
        return ClaudeNativeStream(cacheable, prep.ctx.provider)


class MessagesCodec(HubCodec):
    frame = staticmethod(frame_named)
    shortcuts = {MESSAGES: NativeMessages()}

    def to_hub(self, body: dict[str, Any], model: ModelConfig, unsupported: Unsupported | None
               ) -> tuple[dict[str, Any], HubOptions, Any]:
        chat, tr = messages_to_chat_request(_capped(body, model.max_output_tokens),
                                            upstream_model=model.upstream,
                                            unsupported=unsupported)
        return chat, PLAIN, tr

    def from_hub(self, chat: dict[str, Any], ctx: Any, model_id: str,
                 provider: str) -> dict[str, Any]:
        return chat_to_messages_response(chat, model=model_id, tr=ctx, provider=provider)

    def events(self, ctx: Any, prep: Prepared, model_id: str, body: dict[str, Any],
               cacheable: bool) -> tuple[MessagesEvents, str]:
        tr = ChatStreamToMessages(model=model_id, tr=ctx, input_estimate=prep.input_estimate,
                                  provider=prep.ctx.provider)
        return MessagesEvents(tr, cacheable), USAGE_LAST

    def usage(self, client_body: dict[str, Any]) -> Usage:
        return Usage.from_anthropic(client_body.get("usage"))

    def error_events(self, err: GatewayError) -> list[Any]:
        return [("error", err.anthropic_body())]

    def replay_events(self, cached: dict[str, Any], body: dict[str, Any]) -> list[Any]:
        """A cached message as the event sequence Claude streams."""
        return message_events(cached)


SURFACE = Surface(
    name="messages", path="/v1/messages", dialect=ANTHROPIC_ERRORS, key=anthropic_key,
    validate=validate.messages_request, walker="messages", codec=MessagesCodec(),
    forward_headers=_FORWARD_HEADERS,
    count=Count("/v1/messages/count_tokens", validate.count_tokens_request,
                lambda n: {"input_tokens": n}))
