"""The one intake of every endpoint that reads a surface's body.

    key -> admission (rpm, concurrency) -> body -> parse -> validate -> [expand] -> features

The proxy (``handler.py``), the token counters (``/v1/messages/count_tokens``,
``/v1/responses/input_tokens``) and the explain view (``/v1/gateway/route``) all take a
request in here, so a body is read under the same bounds, checked by the same validator
and walked by the same walker wherever it is sent: what explain says the features are
is what the proxy routes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ..auth import Caller
from ..bounds import parse_request
from ..config import GatewayConfig
from ..features import Features, extract_features
from ..http import read_body
from ..limits.limiter import Admission
from ..surfaces.surface import Surface, Turn
from .services import Services


@dataclass(slots=True)
class Intake:
    caller: Caller
    body: dict[str, Any]
    features: Features
    # rpm and concurrency taken before the body was read, or None; whoever holds the
    # intake settles or releases it (``handler.py``, or ``release`` below).
    admission: Admission | None

    async def release(self) -> None:
        """Free the concurrency slot of a request that calls no upstream."""
        if self.admission is not None:
            adm, self.admission = self.admission, None
            await adm.release()


async def take_in(request: Request, svc: Services, surface: Surface, *,
                  upstream: bool = True,
                  validate: Callable[[Any], dict[str, Any]] | None = None,
                  turn: Turn | None = None, detect: bool = True) -> Intake:
    """Authenticate, admit, read, validate and walk one request of ``surface``.

    ``upstream``: the request will call a provider, so its token limits are admitted
    later on its estimate (``Services.admit``) and a small body is read before any
    admission (``Services.admit_early``). Otherwise (a count, an explain) the key's rpm
    and concurrency are taken now and held until ``Intake.release``.
    ``validate`` replaces the surface's validator (the count endpoints' bodies);
    ``detect`` False skips PII and language (a count needs only tokens).
    Raises ``GatewayError`` (rendered in the surface's dialect by the caller), with
    any admission it took released.
    """
    caller, parsed, admission = await accept(request, svc, surface, upstream=upstream)
    cfg = svc.rt.snapshot.cfg
    try:
        body = (validate or surface.validate)(parsed)
        if turn is not None:
            body = await turn.expand(body, caller)  # before features: they see it all
        feats = walk(body, surface, cfg, detect=detect)
    except BaseException:
        if admission is not None:
            await admission.release()
        raise
    return Intake(caller, body, feats, admission)


async def accept(request: Request, svc: Services, surface: Surface, *, upstream: bool = True
                 ) -> tuple[Caller, Any, Admission | None]:
    """The caller (by the surface's key), its admission and the parsed body (bounded:
    size, time, depth, nodes; ``bounds.parse_request``)."""
    snap = svc.rt.snapshot
    server = snap.cfg.server
    caller = snap.keyring.identify(surface.key(request.headers))
    admission = (await svc.admit_early(caller, request.headers) if upstream
                 else await svc.admit_requests(caller))
    try:
        raw = await read_body(request, server.max_body_bytes, server.body_timeout_s)
        return caller, parse_request(raw, server), admission
    except BaseException:
        if admission is not None:
            await admission.release()
        raise


def examine(parsed: Any, surface: Surface, cfg: GatewayConfig, *,
            validate: Callable[[Any], dict[str, Any]] | None = None,
            detect: bool = True) -> tuple[dict[str, Any], Features]:
    """A parsed body checked by the surface's validator and walked by its walker: what
    the proxy, the counters and explain (also from the CLI and the console) route on."""
    body = (validate or surface.validate)(parsed)
    return body, walk(body, surface, cfg, detect=detect)


def walk(body: dict[str, Any], surface: Surface, cfg: GatewayConfig, *,
         detect: bool = True) -> Features:
    return extract_features(body, surface=surface.walker, image_tokens=cfg.server.image_tokens,
                            detect_pii=detect, detect_language=detect)
