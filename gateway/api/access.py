"""Who may call an endpoint: roles, checked before the endpoint runs.

Every endpoint is declared with its role (``@requires(Role.X)``), so no endpoint checks
a key by hand and none can forget to:

``PUBLIC``   health, readiness, the OpenAPI document: open, unless its path is not in
             ``server.public_paths``, in which case it needs a client key.
``METRICS``  ``/metrics``: ``server.metrics_key`` if one is set (its own credential,
             docs/hardening.md), else as ``PUBLIC``.
``CLIENT``   a gateway key of ``keys:`` (any key when none is configured), presented
             as the endpoint's surface presents it. The caller is ``request.state.caller``.
``ADMIN``    the console's APIs: a key of ``console.admin_keys`` (client keys do not
             open the console); with no keys at all, loopback clients only unless
             ``console.allow_remote``.

Keys are compared in constant time (``auth.KeyRing``).
"""

from __future__ import annotations

import enum
import functools
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from starlette.requests import Request

from ..auth import Caller, KeyRing, bearer, openai_key
from ..config import GatewayConfig
from ..errors import AuthError, PolicyForbidden
from ..runtime import Runtime


class Role(enum.Enum):
    PUBLIC = "public"
    METRICS = "metrics"
    CLIENT = "client"
    ADMIN = "admin"


class _AdminRings:
    """The admin KeyRing of the current config, built once per config."""

    def __init__(self) -> None:
        self._cfg: GatewayConfig | None = None
        self._ring = KeyRing([])

    def of(self, cfg: GatewayConfig) -> KeyRing:
        if cfg is not self._cfg:
            self._cfg = cfg
            self._ring = KeyRing([k for k in cfg.console.admin_keys if k.digest is not None])
        return self._ring


_ADMINS = _AdminRings()


def _loopback(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def authorize(request: Request, rt: Runtime, role: Role,
              key: Callable[[Mapping[str, str]], str | None] = openai_key) -> Caller | None:
    """Check ``role`` for ``request`` (raises ``AuthError`` / ``PolicyForbidden``);
    the client for ``CLIENT``, else None."""
    snap = rt.snapshot
    cfg = snap.cfg
    if role is Role.CLIENT:
        return snap.keyring.identify(key(request.headers))
    if role is Role.METRICS and cfg.server.metrics_key:
        presented = (openai_key(request.headers) or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(presented, cfg.server.metrics_key.encode()):
            raise AuthError("/metrics needs `Authorization: Bearer <server.metrics_key>`.")
        return None
    if role is Role.ADMIN:
        admins = _ADMINS.of(cfg)
        if not admins.open:
            try:
                admins.identify(bearer(request.headers.get("authorization")))
            except AuthError:
                raise AuthError("The console needs an admin key (console.admin_keys) as "
                                "`Authorization: Bearer <key>`.") from None
            return None
        if not snap.keyring.open:
            raise PolicyForbidden("This gateway has client keys but no console.admin_keys: "
                                  "add an admin key to use the console.")
        host = request.client.host if request.client else ""
        if not _loopback(host) and not cfg.console.allow_remote:
            raise PolicyForbidden("Without keys the console answers loopback clients only; "
                                  "configure console.admin_keys (or console.allow_remote).")
        return None
    # PUBLIC (and METRICS without its own key)
    if request.url.path not in cfg.server.public_paths:
        snap.keyring.identify(openai_key(request.headers))
    return None


R = TypeVar("R")


def requires(role: Role) -> Callable[[Callable[[Request], Awaitable[R]]],
                                     Callable[[Request], Awaitable[R]]]:
    """Declare an endpoint's role; the check runs before the endpoint."""
    def wrap(endpoint: Callable[[Request], Awaitable[R]]) -> Callable[[Request], Awaitable[R]]:
        @functools.wraps(endpoint)
        async def checked(request: Request) -> R:
            request.state.caller = authorize(request, request.app.state.rt, role)
            return await endpoint(request)
        return checked
    return wrap
