"""Response cache: canonical request keys, tenant scoping, compressed entries.

A key is ``<tenant, percent-encoded>:<blake2b-256 hex>`` of a canonical form of the
request: orjson with sorted keys (key order never matters), integral floats folded to
ints (``0.0`` and ``0`` are the same temperature), and the fields that cannot change
the output removed (``stream``, ``stream_options``, ``user``, ``metadata``, request
ids...). The tenant, surface, client model and upstream model are hashed in too, and
the tenant also prefixes the key name, so one tenant can never address another's entry.

Entries are one version byte + zlib(orjson(entry)). zlib: in the standard library (no
new dependency), and chat completions are repetitive JSON that shrinks 3-5x at level 6
for tens of microseconds per KB, which pays for itself in Redis memory and bandwidth.
A stream is cached as its final assembled response; the HTTP layer replays it.
"""

from __future__ import annotations

import hashlib
import logging
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import orjson

from ..errors import StoreUnavailable
from ..stores.base import Store, StoreError

log = logging.getLogger("gateway.cache")
CacheMode = Literal["deterministic", "all", "off"]

# Fields that change how a response is delivered or attributed, never what it says.
EXCLUDED_FIELDS = frozenset({
    "stream", "stream_options", "user", "metadata", "store", "request_id",
    "idempotency_key", "safety_identifier", "prompt_cache_key", "service_tier",
})
_FORMAT = b"\x01"  # entry format version: zlib(orjson)


def _normalize(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)  # beyond 64 bits orjson cannot write the int back: keep the float
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def canonical_request(body: dict[str, Any], *, upstream_model: str, tenant: str,
                      surface: str, headers: Mapping[str, str] | None = None) -> bytes:
    """``headers``: the client headers forwarded upstream (``anthropic-beta``,
    ``anthropic-version``): they can change the answer, so they are part of the key."""
    kept = {k: v for k, v in body.items() if k not in EXCLUDED_FIELDS}
    doc = {"v": 1, "surface": surface, "tenant": tenant,
           "upstream_model": upstream_model, "body": _normalize(kept)}
    if headers:
        doc["headers"] = dict(headers)
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def cache_key(body: dict[str, Any], *, upstream_model: str, tenant: str, surface: str,
              headers: Mapping[str, str] | None = None) -> str:
    digest = hashlib.blake2b(canonical_request(body, upstream_model=upstream_model,
                                               tenant=tenant, surface=surface,
                                               headers=headers),
                             digest_size=32).hexdigest()
    return f"{quote(tenant, safe='')}:{digest}"


def is_cacheable(body: dict[str, Any], mode: CacheMode) -> bool:
    """``deterministic``: temperature 0 or a seed (both surfaces default to 1.0 when
    temperature is absent, so absent means sampled); ``all``: everything."""
    if mode == "off":
        return False
    if mode == "all":
        return True
    temperature = body.get("temperature")
    zero = (isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
            and temperature == 0)
    return zero or body.get("seed") is not None


@dataclass(slots=True)
class CachedResponse:
    body: dict[str, Any]          # a complete chat.completion or Anthropic message
    provider: str
    upstream_model: str
    surface: str = "openai"       # "openai" | "anthropic": which shape ``body`` has
    created: float = field(default_factory=time.time)
    dropped: list[str] = field(default_factory=list)  # drop_params fields, for the header

    def encode(self, level: int = 6) -> bytes:
        raw = orjson.dumps({"body": self.body, "provider": self.provider,
                            "upstream_model": self.upstream_model,
                            "surface": self.surface, "created": self.created,
                            "dropped": self.dropped})
        return _FORMAT + zlib.compress(raw, level)

    @classmethod
    def decode(cls, data: bytes) -> CachedResponse:
        if data[:1] != _FORMAT:
            raise ValueError("unknown cache entry format")
        d = orjson.loads(zlib.decompress(data[1:]))
        return cls(body=d["body"], provider=d["provider"], upstream_model=d["upstream_model"],
                   surface=d.get("surface", "openai"),
                   created=d.get("created", 0.0), dropped=d.get("dropped") or [])


class ResponseCache:
    """Cache over any ``Store``. A store failure is a miss (or a skipped write): the
    cache must never be the reason a request fails."""

    def __init__(self, store: Store, *, ttl_s: float = 3600.0, max_entry_bytes: int = 1 << 20,
                 namespace: str = "rc", compress_level: int = 6) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.max_entry_bytes = max_entry_bytes  # compressed size, i.e. what is stored
        self.namespace = namespace
        self.compress_level = compress_level
        self.stats = {"hits": 0, "misses": 0, "errors": 0, "too_large": 0}

    def _name(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    async def get(self, key: str) -> CachedResponse | None:
        try:
            data = await self.store.cache_get(self._name(key))
        except (StoreError, StoreUnavailable) as exc:
            self.stats["errors"] += 1
            log.debug("cache get failed: %s", exc)
            return None
        if data is None:
            self.stats["misses"] += 1
            return None
        try:
            entry = CachedResponse.decode(data)
        except (ValueError, zlib.error, KeyError, TypeError) as exc:
            self.stats["errors"] += 1
            log.warning("dropping unreadable cache entry %s: %s", key, exc)
            return None
        self.stats["hits"] += 1
        return entry

    async def put(self, key: str, response: CachedResponse, ttl_s: float | None = None) -> bool:
        """Store ``response``; False when too large or the store failed."""
        data = response.encode(self.compress_level)
        if len(data) > self.max_entry_bytes:
            self.stats["too_large"] += 1
            return False
        try:
            await self.store.cache_set(self._name(key), data,
                                       self.ttl_s if ttl_s is None else ttl_s)
        except (StoreError, StoreUnavailable) as exc:
            self.stats["errors"] += 1
            log.debug("cache put failed: %s", exc)
            return False
        return True
