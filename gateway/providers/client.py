"""The upstream HTTP client: one pooled aiohttp session per provider.

aiohttp, not httpx, on the hot path: in a loopback proxy benchmark on this machine
(DEVELOPERS.md) httpx's default transport did about 755 req/s, httpx over an aiohttp
transport about 4,300 and aiohttp directly about 9,500. ``bench/`` re-measures it.

Everything aiohttp can raise is mapped here onto ``gateway.errors`` (the boundary),
and every response is released in a ``finally``; a stream is closed when its consumer
stops early (client disconnect, error) by ``UpstreamStream.aclose``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from ..config import ProviderConfig
from ..errors import (
    UpstreamBadResponse,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from ..jsonutil import too_deep
from ..sse import SSEEvent, SSEParser

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024


@dataclass(slots=True)
class UpstreamResult:
    body: dict[str, Any]
    status: int
    headers: Mapping[str, str]
    elapsed_s: float


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body up to ``cap`` bytes, however many reads it arrives in.

    ``StreamReader.read(n)`` returns what is buffered *now* (a body that arrives in
    two TCP segments would come back cut); this reads to the end or the cap.
    """
    parts: list[bytes] = []
    size = 0
    content = resp.content
    while size < cap:
        chunk = await content.read(cap - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


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
        self.kind = cfg.type
        self._session: aiohttp.ClientSession | None = None
        self._url = cfg.base_url + ("/chat/completions" if cfg.type == "openai" else "/v1/messages")
        self._count_url = cfg.base_url + "/v1/messages/count_tokens"
        t = cfg.timeouts
        self._timeout = aiohttp.ClientTimeout(total=t.total_s, sock_connect=t.connect_s)
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=t.connect_s, sock_read=t.idle_s
        )

    @property
    def configured(self) -> bool:
        return bool(self.cfg.api_key)

    @property
    def key_setting(self) -> str:
        """The setting a user must fill for this provider (named in errors and warnings)."""
        return f"providers.{self.name}.api_key (env {'KIMI_API_KEY' if self.kind == 'openai' else 'ANTHROPIC_API_KEY'} in the shipped config)"

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.cfg.pool.max_connections,
                keepalive_timeout=self.cfg.pool.keepalive_s,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                json_serialize=lambda o: orjson.dumps(o).decode(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        h = {"content-type": "application/json", "accept": "application/json",
             "user-agent": "llm-gateway/0.1"}
        if self.kind == "openai":
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
        if key and key in text:
            text = text.replace(key, "[redacted]")
        return text

    async def _raise_for_status(self, resp: aiohttp.ClientResponse) -> None:
        if resp.status < 400:
            return
        raw = b""
        try:
            raw = await _read_capped(resp, MAX_ERROR_BYTES)
        except (TimeoutError, aiohttp.ClientError):
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
        if resp.status == 401:
            message = (
                f"provider {self.name!r} rejected the gateway's configured API key "
                f"(check {self.key_setting})"
            )
        else:
            message = f"upstream {self.name} returned {resp.status}: {self._scrub(message) or resp.reason}"
        raise UpstreamStatusError(
            message,
            upstream_status=resp.status,
            upstream_type=utype,
            provider=self.name,
            retry_after=_retry_after(resp.headers),
        )

    def _map(self, exc: BaseException) -> UpstreamError:
        if isinstance(exc, asyncio.TimeoutError):
            return UpstreamTimeout(f"upstream {self.name} timed out", provider=self.name)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return UpstreamConnectError(
                f"cannot connect to upstream {self.name}: {exc.os_error.strerror or exc}",
                provider=self.name,
            )
        if isinstance(exc, aiohttp.ClientPayloadError):
            return UpstreamConnectError(
                f"upstream {self.name} broke off its response", provider=self.name)
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            return UpstreamConnectError(
                f"upstream {self.name} closed the connection", provider=self.name)
        return UpstreamConnectError(f"upstream {self.name} failed: {type(exc).__name__}",
                                    provider=self.name)

    async def post_json(
        self, body: dict[str, Any], extra_headers: Mapping[str, str] | None = None,
        *, url: str | None = None,
    ) -> UpstreamResult:
        t0 = time.perf_counter()
        try:
            async with self.session().post(
                url or self._url, data=orjson.dumps(body), headers=self.headers(extra_headers),
                timeout=self._timeout,
            ) as resp:
                await self._raise_for_status(resp)
                raw = await _read_capped(resp, MAX_RESPONSE_BYTES + 1)
                if len(raw) > MAX_RESPONSE_BYTES:
                    raise UpstreamBadResponse(f"upstream {self.name} response too large",
                                              provider=self.name)
                ctype = resp.headers.get("content-type", "")
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise UpstreamBadResponse(
                        f"upstream {self.name} sent a response that is not JSON "
                        f"(content-type {ctype or 'none'})", provider=self.name) from None
                if not isinstance(data, dict) or too_deep(data):
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
                return UpstreamResult(data, resp.status, resp.headers, time.perf_counter() - t0)
        except UpstreamError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._map(exc) from None

    async def open_stream(
        self, body: dict[str, Any], extra_headers: Mapping[str, str] | None = None
    ) -> UpstreamStream:
        """POST a streaming request; returns once the upstream answered 200 with SSE."""
        headers = self.headers(extra_headers)
        headers["accept"] = "text/event-stream"
        t0 = time.perf_counter()
        cm = None
        try:
            cm = self.session().post(self._url, data=orjson.dumps(body), headers=headers,
                                     timeout=self._stream_timeout)
            resp = await asyncio.wait_for(cm.__aenter__(), self.cfg.timeouts.first_byte_s)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._map(exc) from None
        try:
            await self._raise_for_status(resp)
            ctype = resp.headers.get("content-type", "")
            if "text/event-stream" not in ctype:
                raise UpstreamBadResponse(
                    f"upstream {self.name} answered a stream request with content-type "
                    f"{ctype or 'none'}", provider=self.name)
        except BaseException:
            resp.release()
            resp.close()
            raise
        return UpstreamStream(self, resp, t0)


class UpstreamStream:
    """SSE events of one upstream response; ``aclose`` releases the connection."""

    def __init__(self, client: ProviderClient, resp: aiohttp.ClientResponse, t0: float) -> None:
        self._client = client
        self._resp = resp
        self._parser = SSEParser()
        self._closed = False
        self._eof = False
        self.t0 = t0
        self.first_event_at: float | None = None
        self.headers = resp.headers

    async def events(self) -> AsyncIterator[SSEEvent]:
        # The idle timeout is aiohttp's sock_read (``_stream_timeout``): reset by every
        # read and dropped while reading is paused for a slow client. A wait_for per
        # chunk would add a Task and a timer to every event (Python 3.11).
        content = self._resp.content
        key = self._client.cfg.api_key
        try:
            while True:
                try:
                    chunk = await content.readany()
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    raise self._client._map(exc) from None
                if not chunk:
                    self._eof = True
                    for ev in self._parser.finish():  # a last event without its blank line
                        if key and key in ev.data:
                            ev = SSEEvent(ev.data.replace(key, "[redacted]"), ev.event, ev.id)
                        yield ev
                    return
                for ev in self._parser.feed(chunk):
                    if self.first_event_at is None:
                        self.first_event_at = time.perf_counter()
                    if key and key in ev.data:
                        # An in-stream error quoting our key must not reach the client
                        # (translated, or relayed verbatim on the passthrough).
                        ev = SSEEvent(ev.data.replace(key, "[redacted]"), ev.event, ev.id)
                    yield ev
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            if self._eof:
                self._resp.release()  # fully read: the connection can be reused
            else:
                # close(), not release(): a half-read stream must not go back to the pool.
                self._resp.close()
