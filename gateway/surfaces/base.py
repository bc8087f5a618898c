"""What a surface's back half (its ``Codec``) provides to the engine, and the hub
machinery that provides it.

A codec (chat completions, Anthropic messages, OpenAI Responses) knows how to turn its
client's body into each wire format's upstream body, and each provider's answer (whole
or streamed) back into its client's format. The engine (``pipeline/engine.py``) does the
rest identically for all: fallbacks, retries, streams; the front half is
``surfaces/surface.py``.

:class:`HubCodec` gives the engine's methods (``prepare``, ``response``, ``stream``,
``replay``, ``error_event``) from a surface's translations to and from the hub
(``translate/hub.py``, where the contract is written down), over the wire-format
adapters; a ``shortcut`` replaces the hub for one wire format where the surface speaks
it natively.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..config import ModelConfig
from ..errors import GatewayError
from ..sse import SSEEvent
from ..translate import anthropic_to_openai_usage
from ..translate.hub import ADAPTERS, ChunkSource, HubOptions, WireAdapter
from ..translate.params import Unsupported
from ..translate.usage import openai_counts


@dataclass(slots=True)
class Usage:
    input: int = 0
    output: int = 0
    cached: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output

    @classmethod
    def from_openai(cls, u: Any) -> Usage:
        """From OpenAI's (or Moonshot's) usage object; odd values count as 0."""
        if not isinstance(u, dict):
            return cls()
        return cls(*openai_counts(u))

    @classmethod
    def from_anthropic(cls, u: Any) -> Usage:
        """From Anthropic's usage: input counts all three input kinds, as OpenAI's does."""
        return cls.from_openai(anthropic_to_openai_usage(u) if isinstance(u, dict) else None)


@dataclass(slots=True)
class Prepared:
    """An upstream body ready to send, plus what the answer's translation needs."""

    body: dict[str, Any]
    ctx: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # The estimated prompt tokens (message_start of a translated Anthropic stream).
    input_estimate: int = 0


class StreamTranslator(Protocol):
    finished: bool

    def feed(self, ev: SSEEvent) -> bytes:
        """Client bytes for one upstream SSE event (may be empty)."""

    def close(self) -> bytes:
        """Client bytes that end a complete stream ([DONE] and the like)."""

    def usage(self) -> Usage:
        """Usage seen so far (for reconciliation also when the stream ends early)."""

    def assembled(self) -> dict[str, Any] | None:
        """The whole response in the client's non-stream shape, once finished (cache)."""


class Codec(Protocol):
    """A surface's back half (``Surface.codec``): what the engine calls."""

    def prepare(self, body: dict[str, Any], model: ModelConfig, provider_type: str,
                client_headers: dict[str, str], unsupported: Unsupported | None = None
                ) -> Prepared:
        """The upstream body; fields the provider cannot serve go through ``unsupported``
        (a 400, or dropped and listed in its ``dropped``)."""

    def response(self, provider_type: str, upstream: dict[str, Any], prep: Prepared,
                 model_id: str) -> dict[str, Any]: ...

    def stream(self, provider_type: str, prep: Prepared, model_id: str,
               body: dict[str, Any], request_id: str, cacheable: bool = False
               ) -> StreamTranslator: ...

    def usage(self, client_body: dict[str, Any]) -> Usage: ...

    def error_event(self, err: GatewayError) -> bytes: ...

    def replay(self, cached: dict[str, Any], body: dict[str, Any]) -> list[bytes]:
        """A cached whole response as a client stream."""


# -- the hub -------------------------------------------------------------------------

Frame = Callable[[list[Any]], bytes]


class HubEvents(Protocol):
    """A surface's stream from the hub: hub chunks in, client events out (unframed)."""

    finished: bool  # the client's stream is complete (its last event is out)

    def feed(self, chunks: list[dict[str, Any]]) -> list[Any]: ...

    def finish(self) -> list[Any]:
        """The upstream ended: close whatever is open."""

    def close(self) -> list[Any]:
        """After a complete stream: the events that end it."""

    def assembled(self) -> dict[str, Any] | None:
        """The whole answer in the client's shape, once finished (None unless asked)."""

    def drop_assembly(self) -> None: ...


@dataclass(slots=True)
class Route:
    """How a prepared request travels: which adapter, with whose context."""

    adapter: WireAdapter
    upstream: Any  # the adapter's translation context
    surface: Any  # the surface's own (to-hub) context
    opts: HubOptions
    provider: str  # the configured provider name, for errors


class HubStream:
    """An upstream stream through the hub: the adapter's chunks, the surface's events,
    the surface's framing. Finished when the upstream said so or the client's stream
    is complete."""

    __slots__ = ("finished", "frame", "sink", "source")

    def __init__(self, source: ChunkSource, sink: HubEvents, frame: Frame) -> None:
        self.source = source
        self.sink = sink
        self.frame = frame
        self.finished = False

    def feed(self, ev: SSEEvent) -> bytes:
        sink, source = self.sink, self.source
        events = sink.feed(source.feed(ev))
        if source.finished:
            self.finished = True
            if not sink.finished:
                events = [*events, *sink.finish()]
        elif sink.finished:
            self.finished = True
        return self.frame(events) if events else b""

    def close(self) -> bytes:
        return self.frame(self.sink.close())

    def usage(self) -> Usage:
        return Usage.from_openai(self.source.usage)

    def assembled(self) -> dict[str, Any] | None:
        return self.sink.assembled() if self.finished else None

    def drop_assembly(self) -> None:
        self.sink.drop_assembly()


class Shortcut(Protocol):
    """A wire format the surface speaks itself: the request and its answer go through
    without the hub (losslessly)."""

    def prepare(self, body: dict[str, Any], model: ModelConfig,
                client_headers: dict[str, str]) -> Prepared: ...

    def response(self, upstream: dict[str, Any], prep: Prepared,
                 model_id: str) -> dict[str, Any]: ...

    def stream(self, prep: Prepared, cacheable: bool) -> StreamTranslator: ...


class HubCodec:
    """The engine's side of a surface, from the surface's hub translations.

    Subclasses give ``to_hub``, ``from_hub``, ``events``, ``replay_events``,
    ``error_events``, ``usage`` and ``frame``; see ``translate/hub.py``.
    """

    name: str
    frame: Frame  # sse.frame_data or sse.frame_named, as a staticmethod
    shortcuts: ClassVar[Mapping[str, Shortcut]] = {}
    stream_class: ClassVar[type[HubStream]] = HubStream

    # -- what a surface provides ------------------------------------------------------
    def to_hub(self, body: dict[str, Any], model: ModelConfig,
               unsupported: Unsupported | None) -> tuple[dict[str, Any], HubOptions, Any]:
        raise NotImplementedError

    def from_hub(self, chat: dict[str, Any], ctx: Any, model_id: str,
                 provider: str) -> dict[str, Any]:
        raise NotImplementedError

    def events(self, ctx: Any, prep: Prepared, model_id: str, body: dict[str, Any],
               cacheable: bool) -> tuple[HubEvents, str]:
        """The stream from the hub, and where it wants usage (``hub.USAGE_*``)."""
        raise NotImplementedError

    def replay_events(self, cached: dict[str, Any], body: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def error_events(self, err: GatewayError) -> list[Any]:
        raise NotImplementedError

    def usage(self, client_body: dict[str, Any]) -> Usage:
        raise NotImplementedError

    # -- what the engine calls ---------------------------------------------------------
    def prepare(self, body: dict[str, Any], model: ModelConfig, provider_type: str,
                client_headers: dict[str, str], unsupported: Unsupported | None = None
                ) -> Prepared:
        shortcut = self.shortcuts.get(provider_type)
        if shortcut is not None:
            return shortcut.prepare(body, model, client_headers)
        chat, opts, ctx = self.to_hub(body, model, unsupported)
        adapter = ADAPTERS[provider_type]
        up, up_ctx = adapter.request(chat, model, opts, unsupported, model.provider)
        return Prepared(up, Route(adapter, up_ctx, ctx, opts, model.provider))

    def response(self, provider_type: str, upstream: dict[str, Any], prep: Prepared,
                 model_id: str) -> dict[str, Any]:
        route = prep.ctx
        if not isinstance(route, Route):
            return self.shortcuts[provider_type].response(upstream, prep, model_id)
        chat = route.adapter.response(upstream, route.upstream, model_id, route.opts,
                                      route.provider)
        return self.from_hub(chat, route.surface, model_id, route.provider)

    def stream(self, provider_type: str, prep: Prepared, model_id: str, body: dict[str, Any],
               request_id: str, cacheable: bool = False) -> StreamTranslator:
        route = prep.ctx
        if not isinstance(route, Route):
            return self.shortcuts[provider_type].stream(prep, cacheable)
        sink, usage = self.events(route.surface, prep, model_id, body, cacheable)
        source = route.adapter.stream(route.upstream, model_id, request_id, route.opts,
                                      route.provider, usage)
        return self.stream_class(source, sink, self.frame)

    def error_event(self, err: GatewayError) -> bytes:
        return self.frame(self.error_events(err))

    def replay(self, cached: dict[str, Any], body: dict[str, Any]) -> list[bytes]:
        """A cached whole response as a client stream (one write)."""
        return [self.frame(self.replay_events(cached, body))]
