"""The OpenAI chat-completions surface: the hub itself, so to and from it is identity.

Kimi gets the body as parsed (the chat-completions adapter's few changes aside), Claude
through the Messages adapter (``translate/hub.py``).
"""

from __future__ import annotations

from typing import Any

from .. import validate
from ..auth import openai_key
from ..config import ModelConfig
from ..errors import GatewayError
from ..http import OPENAI_ERRORS
from ..sse import END, frame_data
from ..translate.hub import PLAIN, USAGE_NONE, USAGE_OPENAI, HubOptions
from ..translate.params import Unsupported
from .base import HubCodec, Prepared, Usage
from .chat_cache import ChunkAssembler, replay_chunks
from .surface import Surface


class ChatEvents:
    """Hub chunks are this surface's events: out as they come, assembled for the cache."""

    __slots__ = ("_asm", "finished")

    def __init__(self, cacheable: bool) -> None:
        self._asm = ChunkAssembler() if cacheable else None
        self.finished = False  # the upstream's end is the stream's

    def feed(self, chunks: list[dict[str, Any]]) -> list[Any]:
        if self._asm is not None:
            for ch in chunks:
                self._asm.add(ch)
        return chunks

    def finish(self) -> list[Any]:
        return []

    def close(self) -> list[Any]:
        return [END]

    def assembled(self) -> dict[str, Any] | None:
        return self._asm.result() if self._asm is not None else None

    def drop_assembly(self) -> None:
        self._asm = None


class ChatCompletionsCodec(HubCodec):
    frame = staticmethod(frame_data)

    def to_hub(self, body: dict[str, Any], model: ModelConfig, unsupported: Unsupported | None
               ) -> tuple[dict[str, Any], HubOptions, Any]:
        return body, PLAIN, None

    def from_hub(self, chat: dict[str, Any], ctx: Any, model_id: str,
                 provider: str) -> dict[str, Any]:
        return chat

    def events(self, ctx: Any, prep: Prepared, model_id: str, body: dict[str, Any],
               cacheable: bool) -> tuple[ChatEvents, str]:
        so = body.get("stream_options") or {}
        return ChatEvents(cacheable), USAGE_OPENAI if so.get("include_usage") else USAGE_NONE

    def usage(self, client_body: dict[str, Any]) -> Usage:
        return Usage.from_openai(client_body.get("usage"))

    def error_events(self, err: GatewayError) -> list[Any]:
        # The openai SDK raises APIError on a `data:` payload carrying "error".
        return [err.openai_body()]

    def replay_events(self, cached: dict[str, Any], body: dict[str, Any]) -> list[Any]:
        """A cached chat.completion as a valid chunk stream."""
        so = body.get("stream_options") or {}
        return replay_chunks(cached, bool(so.get("include_usage")))


SURFACE = Surface(
    name="chat_completions", path="/v1/chat/completions", dialect=OPENAI_ERRORS,
    key=openai_key, validate=validate.chat_request, walker="chat_completions",
    codec=ChatCompletionsCodec())
