"""A client-facing API surface: the extension point of the gateway.

A surface is one API its clients speak (chat completions, Anthropic messages, OpenAI
responses). It owns its whole front half, declared here as data; the pipeline
(``gateway.pipeline``) runs the rest identically for every surface:

    key -> admit -> body -> validate -> [turn.expand] -> features -> decide -> limits
        -> cache -> engine (codec.prepare / response / stream) -> finish (sinks)

What a surface provides, and what the pipeline guarantees in return:

``name``
    The API's name (``chat_completions``, ``messages``, ``responses``): the ``surface``
    label of every metric, the access log's ``surface``, part of every cache key.
``path``
    Its create endpoint (``POST``); the app routes it from ``gateway.surfaces.SURFACES``.
``dialect``
    How errors are rendered (``gateway.http.ErrorDialect``), on its paths and before
    the body is read (a 401, a 413): the client's SDK must be able to parse them.
``key``
    Where its clients present the gateway key (``Authorization: Bearer``, or Anthropic's
    ``x-api-key``). Compared in constant time by ``auth.KeyRing``.
``validate``
    The body check the provider would make, as a clear 400 before any work: the rest of
    the pipeline may rely on the fields it checked (``model`` a string, ``messages`` a list).
``walker``
    The features walker (``gateway.features``) that knows which text is the user's, the
    system's, a tool's, and which field asks for output. A body is never walked by
    another surface's walker: ``extract_features`` raises on a name it does not know.
``forward_headers``
    Client headers the codec sends upstream (and that are therefore part of the cache
    key, as they can change the answer).
``codec``
    The back half (``surfaces.base.Codec``): the body to each provider's wire format
    and each provider's answer, whole or streamed, back, over the hub (``translate``).
``count``
    Optional: a token-counting endpoint answered by the gateway itself.
``turn``
    Optional: per-request state around the exchange (the Responses API's stored
    conversations): ``expand`` the body before features, ``keep`` the answer, wrap the
    stream. See ``Turn``.
``routes``
    Optional: further endpoints of the API that do not proxy (stored responses).

Adding a surface is a checklist (README, "Layout"): one module in ``surfaces/`` ending
in its ``SURFACE``, its translators to and from the hub in ``translate/``, its walker in
``features/``, its validator, an entry in ``SURFACES`` and in ``openapi.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from ..auth import Caller
    from ..http import ErrorDialect
    from ..pipeline.exchange import Exchange
    from ..pipeline.services import Services
    from .base import Codec, StreamTranslator


class Turn(Protocol):
    """One request's state around the exchange (``Surface.turn`` makes one per request)."""

    async def expand(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """The body the pipeline works on (after validation, before features)."""

    def headers(self) -> dict[str, str]:
        """Response headers of its own."""

    async def keep(self, ex: Exchange, out: dict[str, Any] | None) -> None:
        """Called with a whole answer before it is sent."""

    def relay(self, ex: Exchange, tr: StreamTranslator,
              chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The client's stream, wrapping the engine's."""


@dataclass(frozen=True, slots=True)
class Count:
    """A token-counting endpoint: the gateway's own estimate, no upstream call."""

    path: str
    validate: Callable[[Any], dict[str, Any]]
    render: Callable[[int], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Surface:
    name: str
    path: str
    dialect: ErrorDialect
    key: Callable[[Mapping[str, str]], str | None]
    validate: Callable[[Any], dict[str, Any]]
    walker: str
    codec: Codec
    forward_headers: tuple[str, ...] = ()
    count: Count | None = None
    turn: Callable[[Services], Turn] | None = None
    routes: Callable[[Services], list[BaseRoute]] | None = None

    def forwarded(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The client headers this surface forwards upstream, as sent."""
        return {h: v for h in self.forward_headers if (v := headers.get(h))}

    def __repr__(self) -> str:
        return f"Surface({self.name!r})"
