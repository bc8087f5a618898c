"""What a surface's back half (its ``Codec``) provides to the engine.

A codec knows how to turn its client's body into each provider type's upstream body,
and each provider's answer (whole or streamed) back into its client's format. The
engine (``pipeline/engine.py``) does the rest identically for every surface: fallbacks,
retries, streams; the front half is ``surfaces/surface.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ..config import ModelConfig
from ..errors import GatewayError, UpstreamBadResponse
from ..sse import SSEEvent
from ..translate import anthropic_to_openai_usage, normalize_openai_usage
from ..translate.params import Unsupported
from ..translate.usage import openai_cached_tokens


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


def require_answer(upstream: dict[str, Any], provider_type: str, provider: str) -> None:
    """A 200 JSON object that is not an answer (``{}``, no choices, no content) is the
    upstream's failure, a 502, never relayed to the client as if it were one."""
    if provider_type == "openai":
        choices = upstream.get("choices")
        ok = isinstance(choices, list) and bool(choices) and all(
            isinstance(c, dict) for c in choices)
    else:
        ok = isinstance(upstream.get("content"), list)
    if not ok:
        raise UpstreamBadResponse(f"upstream {provider} answered 200 without a "
                                  f"{'choices list' if provider_type == 'openai' else 'content list'}",
                                  provider=provider)


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
        n = normalize_openai_usage(u)
        return cls(n["prompt_tokens"], n["completion_tokens"], openai_cached_tokens(u))

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
