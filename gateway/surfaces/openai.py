"""The OpenAI chat-completions surface: Kimi natively, Claude through translation."""

from __future__ import annotations

import time
from typing import Any

from .. import validate
from ..auth import openai_key
from ..config import ModelConfig
from ..errors import GatewayError
from ..http import OPENAI_ERRORS
from ..sse import SSEEvent
from ..translate import (
    KimiStreamNormalizer,
    MessagesStreamToChat,
    chat_to_kimi_request,
    chat_to_messages_request,
    kimi_response_to_chat,
    messages_to_chat_response,
)
from ..translate.params import Unsupported
from .base import Prepared, Usage, event_json, require_answer
from .chat_cache import DONE, ChunkAssembler, replay_chunks
from .chat_cache import sse_data as _data
from .surface import Surface


class _ChatStream:
    """Shared by both providers: chunks out, usage, assembly."""

    def __init__(self, include_usage: bool, cacheable: bool) -> None:
        self.include_usage = include_usage
        self.finished = False
        self._usage: dict[str, Any] | None = None
        self._asm = ChunkAssembler() if cacheable else None

    def _emit(self, chunks: list[dict[str, Any]]) -> bytes:
        if not chunks:
            return b""
        out = []
        for ch in chunks:
            if ch.get("usage"):
                self._usage = ch["usage"]
            if self._asm is not None:
                self._asm.add(ch)
            out.append(_data(ch))
        return b"".join(out)

    def usage(self) -> Usage:
        return Usage.from_openai(self._usage)

    def assembled(self) -> dict[str, Any] | None:
        return self._asm.result() if self._asm is not None and self.finished else None

    def drop_assembly(self) -> None:
        self._asm = None


class KimiStream(_ChatStream):
    def __init__(self, model_id: str, include_usage: bool, cacheable: bool, n: int = 1) -> None:
        super().__init__(include_usage, cacheable)
        # Ask the normaliser for usage always: it is what reconciles token limits.
        self._norm = KimiStreamNormalizer(include_usage=True, model=model_id, n=n)

    def feed(self, ev: SSEEvent) -> bytes:
        if ev.data == "[DONE]":
            self.finished = True
            return self._emit(self._filter(self._norm.finish()))
        if not ev.data:
            return b""
        chunk = event_json(ev, "kimi")
        return self._emit(self._filter(self._norm.feed(chunk)))

    def _filter(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.include_usage:
            return chunks
        out = []
        for ch in chunks:
            if not ch.get("choices") and ch.get("usage"):
                self._usage = ch["usage"]  # keep for reconciliation, do not send
                continue
            ch.pop("usage", None)
            out.append(ch)
        return out

    def close(self) -> bytes:
        return DONE


class ClaudeStream(_ChatStream):
    def __init__(self, model_id: str, ctx: Any, include_usage: bool, cacheable: bool,
                 request_id: str) -> None:
        super().__init__(include_usage, cacheable)
        self._tr = MessagesStreamToChat(model=model_id, tr=ctx, include_usage=include_usage,
                                        chunk_id="chatcmpl-" + request_id, created=int(time.time()))

    def feed(self, ev: SSEEvent) -> bytes:
        if not ev.data:
            return b""
        data = event_json(ev, "claude")
        out = self._emit(self._tr.feed(ev.event or data.get("type", ""), data))
        if self._tr.finished:
            self.finished = True
        return out

    def usage(self) -> Usage:
        return Usage.from_openai(self._tr.usage)

    def close(self) -> bytes:
        return DONE


class OpenAISurface:
    name = "openai"

    def prepare(self, body: dict[str, Any], model: ModelConfig, provider_type: str,
                client_headers: dict[str, str], unsupported: Unsupported | None = None
                ) -> Prepared:
        if provider_type == "openai":
            return Prepared(chat_to_kimi_request(body, upstream_model=model.upstream))
        up, tr = chat_to_messages_request(
            body, upstream_model=model.upstream, default_max_tokens=model.default_max_tokens,
            max_output_tokens=model.max_output_tokens, unsupported=unsupported)
        return Prepared(up, tr)

    def response(self, provider_type: str, upstream: dict[str, Any], prep: Prepared,
                 model_id: str) -> dict[str, Any]:
        require_answer(upstream, provider_type, "kimi" if provider_type == "openai" else "claude")
        if provider_type == "openai":
            return kimi_response_to_chat(upstream, model=model_id)
        return messages_to_chat_response(upstream, model=model_id, tr=prep.ctx)

    def stream(self, provider_type: str, prep: Prepared, model_id: str, body: dict[str, Any],
               request_id: str, cacheable: bool = False) -> KimiStream | ClaudeStream:
        so = body.get("stream_options") or {}
        include_usage = bool(so.get("include_usage"))
        if provider_type == "openai":
            n = body.get("n")
            return KimiStream(model_id, include_usage, cacheable,
                              n if isinstance(n, int) and n > 1 else 1)
        return ClaudeStream(model_id, prep.ctx, include_usage, cacheable, request_id)

    def usage(self, client_body: dict[str, Any]) -> Usage:
        return Usage.from_openai(client_body.get("usage"))

    def error_event(self, err: GatewayError) -> bytes:
        # The openai SDK raises APIError on a `data:` payload carrying "error".
        return _data(err.openai_body())

    def replay(self, cached: dict[str, Any], body: dict[str, Any]) -> list[bytes]:
        """A cached chat.completion as a valid chunk stream."""
        so = body.get("stream_options") or {}
        return replay_chunks(cached, bool(so.get("include_usage")))


SURFACE = Surface(
    name="chat_completions", path="/v1/chat/completions", dialect=OPENAI_ERRORS,
    key=openai_key, validate=validate.chat_request, walker="chat_completions",
    codec=OpenAISurface())
