"""The translation hub: every surface speaks chat completions to every wire format.

A client surface (chat completions, Anthropic Messages, OpenAI Responses) and a
provider wire format (chat completions: Moonshot Kimi and OpenAI-compatible servers;
Messages: Anthropic Claude) never meet directly. Between them sits the *hub*, OpenAI's
chat-completions format with the few extensions below, so N surfaces and M wire
formats need N + M translators, not N x M:

    client body --to_hub--> hub request --adapter.request--> upstream body
    upstream answer --adapter.response--> hub answer --from_hub--> client answer
    upstream events --adapter.stream--> hub chunks --surface's events--> client events
                                                   --sse.frame_*--> client bytes

The surface half lives in ``gateway/surfaces/`` (``base.HubCodec`` runs the arrows
above); the wire-format half is here.

Adding a wire format
    Write an adapter (see :class:`ChatCompletionsAdapter`, :class:`MessagesAdapter`)
    with three methods, and register it in :data:`ADAPTERS` under a new constant that a
    config ``type:`` maps to in :data:`WIRE_FORMATS`:

    ``request(chat, model, opts, unsupported, provider) -> (body, ctx)``
        The upstream body for a hub request. ``chat`` is the caller's: never mutate
        it. Raise ``BadRequest`` (``_check.bad``) for what this format cannot carry,
        or hand it to ``unsupported`` (a 400 unless ``drop_params`` allows dropping).
        ``ctx`` is whatever the answer's translation needs.
    ``response(upstream, ctx, model_id, opts, provider) -> chat.completion``
        A whole upstream answer as a hub answer. A 200 that is no answer raises
        ``UpstreamBadResponse`` naming ``provider`` (the configured provider name).
    ``stream(ctx, model_id, request_id, opts, provider, usage) -> ChunkSource``
        ``feed(SSEEvent) -> list[chunk]`` per upstream event, ``finished`` once the
        upstream said it is done, ``usage`` the hub usage seen so far (also when the
        stream broke off). ``usage`` says where usage goes in the chunks: nowhere
        (``USAGE_NONE``), in OpenAI's last ``{"choices": [], "usage": ...}`` chunk
        (``USAGE_LAST``), or there and as ``usage: null`` on every other chunk
        (``USAGE_OPENAI``, a chat client's ``stream_options.include_usage``).

    Errors inside a 200 stream raise ``UpstreamStatusError`` (``stream_errors.py``).

Adding a surface
    Subclass ``surfaces.base.HubCodec`` and give it ``to_hub`` (client body -> hub
    request, ``HubOptions``, the surface's context), ``from_hub`` (hub answer -> client
    answer), ``events`` (hub chunks -> client events, unframed: ``feed``, ``finish``,
    ``close``, ``assembled``; and the ``USAGE_*`` it wants), ``replay_events`` (a
    cached answer as events), ``error_events``, ``usage`` and ``frame``
    (``sse.frame_data`` or ``sse.frame_named``). A surface whose own format *is* a
    wire format may declare a lossless ``shortcut`` for it, as Messages does for
    Anthropic (``surfaces/anthropic.py``): the hub is then not used at all.

The hub's extensions to chat completions (each optional; an adapter converts or
removes what its upstream does not take):

``reasoning_content`` (message, delta)
    The model's reasoning text, as Moonshot sends it; Claude's thinking text.
``thinking_blocks`` (message)
    Signed reasoning, as Anthropic blocks: ``{"type": "thinking", "thinking",
    "signature"}`` or ``{"type": "redacted_thinking", "data"}``, in order. On a
    request's assistant message they are sent to Claude first in that turn, unchanged
    (its tool loop with thinking requires it), except the gateway's own (signature
    ``gwkimi1.``: Kimi's reasoning, ``reasoning.py``), which would fail Anthropic's
    check; to Kimi their texts go as ``reasoning_content``. In an answer they appear
    only for surfaces that asked (``HubOptions.signed_reasoning``).
``thinking_blocks`` (delta)
    The stream form: ``{"type": "thinking", "signature"}`` ends the thinking block
    whose text came as ``reasoning_content`` deltas; a ``redacted_thinking`` block
    comes whole.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ..errors import UpstreamBadResponse
from ..sse import SSEEvent
from .from_anthropic import MessagesStreamToChat, messages_to_chat_response
from .kimi import KimiStreamNormalizer, chat_to_kimi_request, kimi_response_to_chat
from .params import Unsupported
from .thinking import cache_breakpoints, request_thinking
from .to_anthropic import chat_to_messages_request

if TYPE_CHECKING:
    from ..config import ModelConfig

CHAT_COMPLETIONS = "chat_completions"
"""OpenAI's ``POST /chat/completions``: Moonshot Kimi, OpenAI-compatible servers."""
MESSAGES = "messages"
"""Anthropic's ``POST /v1/messages``: Claude, and Anthropic-compatible endpoints."""

USAGE_NONE, USAGE_LAST, USAGE_OPENAI = "none", "last", "openai"  # see ``stream`` above

# The config's provider ``type:`` (a public contract, spelt by vendor) -> wire format.
WIRE_FORMATS: dict[str, str] = {"openai": CHAT_COMPLETIONS, "anthropic": MESSAGES}


@dataclass(frozen=True, slots=True)
class HubOptions:
    """What a surface can do with the hub's extensions, for the adapters to know."""

    # The surface hands signed reasoning to its client and takes it back (Responses'
    # encrypted_content): answers carry ``thinking_blocks``, and on Claude a
    # ``reasoning_effort`` turns extended thinking on (``thinking.py``).
    signed_reasoning: bool = False
    # Claude: prompt-cache breakpoints on tools, system and the conversation so far
    # (Responses' ``prompt_cache_key``).
    prompt_cache: bool = False


PLAIN = HubOptions()


class ChunkSource(Protocol):
    @property
    def finished(self) -> bool:
        """The upstream said the stream is done."""

    @property
    def usage(self) -> dict[str, Any] | None:
        """The hub (OpenAI-shaped) usage seen so far."""

    def feed(self, ev: SSEEvent) -> list[dict[str, Any]]:
        """Hub chunks for one upstream event (often one, possibly none)."""


class WireAdapter(Protocol):
    wire: str

    def request(self, chat: dict[str, Any], model: ModelConfig, opts: HubOptions,
                unsupported: Unsupported | None, provider: str) -> tuple[dict[str, Any], Any]:
        ...

    def response(self, upstream: dict[str, Any], ctx: Any, model_id: str, opts: HubOptions,
                 provider: str) -> dict[str, Any]: ...

    def stream(self, ctx: Any, model_id: str, request_id: str, opts: HubOptions,
               provider: str, usage: str) -> ChunkSource: ...


def event_json(ev: SSEEvent, provider: str) -> dict[str, Any]:
    """The JSON object an upstream SSE event carries, or a clean 502-class error."""
    try:
        d = orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse(f"upstream {provider} sent a stream event that is not JSON",
                                  provider=provider) from None
    if not isinstance(d, dict):
        raise UpstreamBadResponse(f"upstream {provider} sent a stream event that is not an "
                                  "object", provider=provider)
    return d


def not_an_answer(provider: str, missing: str) -> UpstreamBadResponse:
    """A 200 JSON object that is not an answer (``{}``, no choices, no content) is the
    upstream's failure, a 502, never relayed to the client as if it were one."""
    return UpstreamBadResponse(f"upstream {provider} answered 200 without a {missing}",
                               provider=provider)


# -- chat completions ----------------------------------------------------------------

class _ChatChunks:
    """Moonshot's chunks, normalised (usage where OpenAI puts it); ``[DONE]`` ends."""

    __slots__ = ("_norm", "_provider", "finished")

    def __init__(self, norm: KimiStreamNormalizer, provider: str) -> None:
        self._norm = norm
        self._provider = provider
        self.finished = False

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._norm.usage

    def feed(self, ev: SSEEvent) -> list[dict[str, Any]]:
        data = ev.data
        if data == "[DONE]":
            self.finished = True
            return self._norm.finish()
        if not data:
            return []
        return self._norm.feed(event_json(ev, self._provider))


class ChatCompletionsAdapter:
    """The hub is this format: requests get Moonshot's few differences (``kimi.py``),
    answers get their usage moved where OpenAI puts it."""

    wire = CHAT_COMPLETIONS

    def request(self, chat: dict[str, Any], model: ModelConfig, opts: HubOptions,
                unsupported: Unsupported | None, provider: str) -> tuple[dict[str, Any], int]:
        n = chat.get("n")
        return (chat_to_kimi_request(chat, upstream_model=model.upstream),
                n if isinstance(n, int) and n > 1 else 1)

    def response(self, upstream: dict[str, Any], ctx: Any, model_id: str, opts: HubOptions,
                 provider: str) -> dict[str, Any]:
        choices = upstream.get("choices")
        if not (isinstance(choices, list) and choices
                and all(isinstance(c, dict) for c in choices)):
            raise not_an_answer(provider, "choices list")
        return kimi_response_to_chat(upstream, model=model_id)

    def stream(self, ctx: int, model_id: str, request_id: str, opts: HubOptions,
               provider: str, usage: str) -> _ChatChunks:
        norm = KimiStreamNormalizer(include_usage=usage == USAGE_OPENAI, model=model_id, n=ctx,
                                    provider=provider, final_usage=usage == USAGE_LAST)
        return _ChatChunks(norm, provider)


# -- Anthropic Messages --------------------------------------------------------------

class _MessagesChunks:
    """Anthropic's events as hub chunks; ``message_stop`` ends."""

    __slots__ = ("_provider", "_tr")

    def __init__(self, tr: MessagesStreamToChat, provider: str) -> None:
        self._tr = tr
        self._provider = provider

    @property
    def finished(self) -> bool:
        return self._tr.finished

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._tr.usage

    def feed(self, ev: SSEEvent) -> list[dict[str, Any]]:
        if not ev.data:
            return []
        data = event_json(ev, self._provider)
        return self._tr.feed(ev.event or data.get("type", ""), data)


class MessagesAdapter:
    """Chat -> Anthropic requests (``to_anthropic.py``, ``thinking.py``), Anthropic
    answers and events -> chat (``from_anthropic.py``)."""

    wire = MESSAGES

    def request(self, chat: dict[str, Any], model: ModelConfig, opts: HubOptions,
                unsupported: Unsupported | None, provider: str) -> tuple[dict[str, Any], Any]:
        up, tr = chat_to_messages_request(
            chat, upstream_model=model.upstream, default_max_tokens=model.default_max_tokens,
            max_output_tokens=model.max_output_tokens, unsupported=unsupported)
        if opts.signed_reasoning:
            request_thinking(up, chat.get("reasoning_effort"))
        if opts.prompt_cache:
            cache_breakpoints(up)
        return up, tr

    def response(self, upstream: dict[str, Any], ctx: Any, model_id: str, opts: HubOptions,
                 provider: str) -> dict[str, Any]:
        if not isinstance(upstream.get("content"), list):
            raise not_an_answer(provider, "content list")
        return messages_to_chat_response(upstream, model=model_id, tr=ctx,
                                         signed=opts.signed_reasoning)

    def stream(self, ctx: Any, model_id: str, request_id: str, opts: HubOptions,
               provider: str, usage: str) -> _MessagesChunks:
        tr = MessagesStreamToChat(model=model_id, tr=ctx, include_usage=usage == USAGE_OPENAI,
                                  chunk_id="chatcmpl-" + request_id, created=int(time.time()),
                                  signed=opts.signed_reasoning, provider=provider,
                                  final_usage=usage == USAGE_LAST)
        return _MessagesChunks(tr, provider)


ADAPTERS: dict[str, WireAdapter] = {
    CHAT_COMPLETIONS: ChatCompletionsAdapter(),
    MESSAGES: MessagesAdapter(),
}
