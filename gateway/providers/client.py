"""The upstream HTTP client: one keep-alive pool per provider (``h1.py``).

Not httpx and no longer aiohttp on the hot path: in a loopback proxy benchmark on the
2-CPU development machine (bench/README.md describes it) httpx's default transport did
about 755 req/s, httpx over an aiohttp transport about 4,300 and aiohttp directly about
9,500; aiohttp itself spends ~55 us of CPU per small POST, ``h1`` ~9 us (``python
bench/upstream_bench.py``).

Everything the transport can raise is mapped here onto ``gateway.errors`` (the
boundary), and every connection is released in a ``finally``: back to the pool after a
complete response, closed otherwise; a stream is closed when its consumer stops early
(client disconnect, error) by ``UpstreamStream.aclose``.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..config import ProviderConfig
from ..errors import (
    UpstreamBadResponse,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from ..jsonutil import too_deep_json
from ..logs import Redactor
from ..sse import SSEEvent, SSEParser
from ..translate.hub import CHAT_COMPLETIONS
from . import encoding, h1

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024


@dataclass(slots=True)
class UpstreamResult:
    body: dict[str, Any]
    status: int
    headers: Mapping[str, str]
    elapsed_s: float


def _retry_after(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    s = headers.get("retry-after")
    if s:
        try:
            return max(0.0, float(s))
        except ValueError:
            return None
    return None


class ProviderClient:
    """Sends already-translated bodies to one provider and maps its failures."""

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.kind = cfg.wire_format  # hub.CHAT_COMPLETIONS or hub.MESSAGES
        self._origin = h1.Origin(cfg.base_url)
        self._pool: h1.Pool | None = None
        self._url = cfg.base_url + ("/chat/completions" if self.kind == CHAT_COMPLETIONS
                                    else "/v1/messages")
        self._target = self._origin.path_of(self._url)
        self._redactor = Redactor([cfg.api_key])
        # Built once: a request without headers of its own sends the same head but for
        # its content-length (None: headers that cannot be sent, refused per request).
        self._prefixes = {accept: self._prefix(accept)
                          for accept in (None, "text/event-stream")}

    @property
    def configured(self) -> bool:
        return bool(self.cfg.api_key)

    @property
    def key_setting(self) -> str:
        """The setting a user must fill for this provider (named in errors and warnings)."""
        env = "KIMI_API_KEY" if self.kind == CHAT_COMPLETIONS else "ANTHROPIC_API_KEY"
        return f"providers.{self.name}.api_key (env {env} in the shipped config)"

    def pool(self) -> h1.Pool:
        if self._pool is None or self._pool.closed:
            self._pool = h1.Pool(self._origin, limit=self.cfg.pool.max_connections,
                                 keepalive_s=self.cfg.pool.keepalive_s,
                                 connect_timeout_s=self.cfg.timeouts.connect_s)
        return self._pool

    @property
    def connections_in_use(self) -> int:
        """Connections handed out and not yet back in the pool (or closed)."""
        pool = self._pool
        return 0 if pool is None or pool.closed else pool.in_use

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        h = {"content-type": "application/json", "accept": "application/json",
             "accept-encoding": "identity", "user-agent": "llm-gateway/0.1"}
        if self.kind == CHAT_COMPLETIONS:
            h["authorization"] = f"Bearer {self.cfg.api_key}"
        else:
            h["x-api-key"] = self.cfg.api_key
            h["anthropic-version"] = self.cfg.anthropic_version
        if extra:
            h.update(extra)
        return h

    def _scrub(self, text: str) -> str:
        # Belt and braces: an upstream error message must never echo our key to a client.
        key = self.cfg.api_key
        return self._redactor.scrub(text) if key and key in text else text

    def _request_headers(self, extra: Mapping[str, str] | None,
                         accept: str | None) -> dict[str, str]:
        headers = self.headers(extra)
        if accept is not None:
            headers["accept"] = accept
        return headers

    def _prefix(self, accept: str | None) -> bytes | None:
        try:
            return h1.head_prefix(self._origin, self._target,
                                  self._request_headers(None, accept))
        except ValueError:
            return None

    def _payload(self, body: dict[str, Any], extra: Mapping[str, str] | None,
                 accept: str | None = None) -> tuple[bytes, bytes]:
        data = orjson.dumps(body)
        prefix = None if extra else self._prefixes[accept]
        if prefix is None:
            prefix = h1.head_prefix(self._origin, self._target,
                                    self._request_headers(extra, accept))
        return prefix + h1.content_length(len(data)), data

    async def _raise_for_status(self, c: h1.Conn) -> None:
        """Raise the error a status of 400 or more is (``UpstreamStatusError``)."""
        if c.status < 400:
            return
        raw = b""
        try:
            raw = await c.read_body(MAX_ERROR_BYTES)
        except (TimeoutError, h1.HttpClientError):
            pass
        utype: str | None = None
        message = ""
        try:
            err = orjson.loads(raw).get("error")
            if isinstance(err, dict):
                utype = err.get("type") if isinstance(err.get("type"), str) else None
                message = str(err.get("message") or "")
        except (orjson.JSONDecodeError, AttributeError):
            message = raw[:200].decode("utf-8", "replace")
        if c.status == 401:
            message = (
                f"provider {self.name!r} rejected the gateway's configured API key "
                f"(check {self.key_setting})"
            )
        else:
            message = (f"upstream {self.name} returned {c.status}: "
                       f"{self._scrub(message) or c.reason}")
        raise UpstreamStatusError(
            message,
            upstream_status=c.status,
            upstream_type=utype,
            provider=self.name,
            retry_after=_retry_after(c.headers),
        )

    def _map(self, exc: BaseException) -> UpstreamError:
        if isinstance(exc, h1.ConnectTimeout):
            return UpstreamTimeout(f"upstream {self.name} timed out connecting: {exc.reason}",
                                   provider=self.name)
        if isinstance(exc, TimeoutError):
            return UpstreamTimeout(f"upstream {self.name} timed out", provider=self.name)
        if isinstance(exc, h1.ConnectFailed):
            return UpstreamConnectError(
                f"cannot connect to upstream {self.name}: {exc.reason}", provider=self.name)
        if isinstance(exc, h1.Disconnected):
            return UpstreamConnectError(
                f"upstream {self.name} broke off its response" if exc.started
                else f"upstream {self.name} closed the connection", provider=self.name)
        if isinstance(exc, h1.TooLarge):
            return UpstreamBadResponse(f"upstream {self.name} response too large",
                                       provider=self.name)
        if isinstance(exc, h1.BadResponse):
            return UpstreamBadResponse(f"upstream {self.name} sent a malformed response: {exc}",
                                       provider=self.name)
        return UpstreamConnectError(f"upstream {self.name} failed: {type(exc).__name__}",
                                    provider=self.name)

    async def post_json(
        self, body: dict[str, Any], extra_headers: Mapping[str, str] | None = None
    ) -> UpstreamResult:
        t0 = time.perf_counter()
        payload = self._payload(body, extra_headers)
        pool = self.pool()
        try:
            # One deadline for the whole exchange (the wait for a connection included).
            c = await h1.exchange(pool, payload, pool.loop.time() + self.cfg.timeouts.total_s)
            try:
                if c.status >= 400:
                    await self._raise_for_status(c)
                raw = await c.read_body(MAX_RESPONSE_BYTES)
                status, headers = c.status, c.headers
            finally:
                pool.release(c, True)
        except UpstreamError:
            raise
        except (TimeoutError, h1.HttpClientError, OSError) as exc:
            raise self._map(exc) from None
        ctype = headers.get("content-type", "")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponse(
                f"upstream {self.name} sent a response that is not JSON "
                f"(content-type {ctype or 'none'})", provider=self.name) from None
        if not isinstance(data, dict) or too_deep_json(raw, data):
            raise UpstreamBadResponse(f"upstream {self.name} sent a JSON body that is "
                                      "not an object of sane depth", provider=self.name)
        if "error" in data and isinstance(data["error"], dict) and (
            "choices" not in data and "content" not in data
        ):
            # A 200 carrying an error body (seen from OpenAI-compatible servers).
            err = data["error"]
            raise UpstreamStatusError(
                f"upstream {self.name} returned an error: {self._scrub(str(err.get('message', '')))}",
                upstream_status=502, upstream_type=None, provider=self.name)
        return UpstreamResult(data, status, headers, time.perf_counter() - t0)

    async def open_stream(
        self, body: dict[str, Any], extra_headers: Mapping[str, str] | None = None
    ) -> UpstreamStream:
        """POST a streaming request; returns once the upstream answered 200 with SSE."""
        t0 = time.perf_counter()
        payload = self._payload(body, extra_headers, accept="text/event-stream")
        pool = self.pool()
        try:
            async with asyncio.timeout(self.cfg.timeouts.first_byte_s):
                c = await h1.exchange(pool, payload)
        except (TimeoutError, h1.HttpClientError, OSError) as exc:
            raise self._map(exc) from None
        try:
            try:
                async with asyncio.timeout(self.cfg.timeouts.first_byte_s):
                    await self._raise_for_status(c)
            except TimeoutError as exc:
                raise self._map(exc) from None
            ctype = c.headers.get("content-type", "")
            if "text/event-stream" not in ctype:
                raise UpstreamBadResponse(
                    f"upstream {self.name} answered a stream request with content-type "
                    f"{ctype or 'none'}", provider=self.name)
            try:
                decoder = encoding.decoder(c.headers.get("content-encoding"), MAX_RESPONSE_BYTES)
            except h1.BadResponse as exc:
                raise self._map(exc) from None
        except BaseException:
            pool.release(c, False)
            raise
        return UpstreamStream(self, pool, c, t0, decoder)


class UpstreamStream:
    """SSE events of one upstream response; ``aclose`` releases the connection."""

    def __init__(self, client: ProviderClient, pool: h1.Pool, conn: h1.Conn, t0: float,
                 decoder: Any = None) -> None:
        self._client = client
        self._pool = pool
        self._conn = conn
        self._decoder = decoder
        self._parser = SSEParser()
        self._closed = False
        self._eof = False
        self.t0 = t0
        self.headers = conn.headers

    async def events(self) -> AsyncIterator[SSEEvent]:
        # The idle timeout runs only while waiting for the upstream (one timer per
        # wait, no Task): reading paused for a slow client does not count as idle.
        conn = self._conn
        idle_s = self._client.cfg.timeouts.idle_s
        key = self._client.cfg.api_key
        scrub = self._client._scrub
        decoder = self._decoder
        try:
            while True:
                try:
                    raw = await conn.next_chunk(idle_s)
                    chunk = raw if decoder is None else decoder.feed(raw)
                except (TimeoutError, h1.HttpClientError, OSError) as exc:
                    raise self._client._map(exc) from None
                except zlib.error as exc:  # a corrupt gzip/deflate stream
                    raise self._client._map(h1.BadResponse(str(exc))) from None
                if not raw:
                    self._eof = True
                    events = [*self._parser.feed(chunk), *self._parser.finish()]
                    for ev in events:  # the last event may lack its blank line
                        if key and key in ev.data:
                            ev = SSEEvent(scrub(ev.data), ev.event, ev.id)
                        yield ev
                    return
                for ev in self._parser.feed(chunk):
                    if key and key in ev.data:
                        # An in-stream error quoting our key must not reach the client
                        # (translated, or relayed verbatim on the passthrough).
                        ev = SSEEvent(scrub(ev.data), ev.event, ev.id)
                    yield ev
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            # Reused only when read to its end; a half-read stream is closed.
            self._pool.release(self._conn, self._eof)
