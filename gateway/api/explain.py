"""The explain view: the routing decision for a chat-completions, Messages or Responses
body, no upstream call (which surface's rules apply: ``choose_surface``).

It runs exactly the code the proxy runs (validate -> features -> decide), so what it
says is what the proxy then does; a request the proxy would refuse gets the same
error here, with the trace that led to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .. import validate
from ..auth import Caller
from ..bounds import parse_request
from ..config import GatewayConfig
from ..errors import BadRequest, GatewayError
from ..features import extract_features
from ..http import error_response, json_response, read_body, request_id
from ..routing import RouteRequest, decide
from ..runtime import Runtime
from .responses import responses_request


# Each surface by its API's name: the proxy's validator and feature walker for its bodies.
# (Responses: previous_response_id is not expanded here; the body's own input counts.)
SURFACES: dict[str, tuple[Callable[[Any], dict[str, Any]], str]] = {
    "chat_completions": (validate.chat_request, "openai"),
    "messages": (validate.messages_request, "anthropic"),
    "responses": (responses_request, "responses"),
}
# Top-level fields only a Messages body has (OpenAI refuses a chat body with them; not
# top_k or thinking, which OpenAI-compatible servers such as vLLM or GLM take on chat).
_MESSAGES_ONLY = frozenset({"system", "stop_sequences"})


def choose_surface(body: Any, named: str | None = None,
                   headers: Mapping[str, str] | None = None) -> str:
    """The surface whose rules ``body`` is explained by, one of ``SURFACES``: the one
    ``named`` (the ``surface`` query parameter, the CLI's ``--surface``); else
    ``messages`` when the request has an ``anthropic-version`` header (every Anthropic
    client sends one); else by the body's shape: ``input`` and no ``messages`` is
    ``responses``, a field only Messages has (``system``, ``stop_sequences``) is
    ``messages``, anything else ``chat_completions``. A Messages body with neither is
    also a valid chat body: name the surface to be sure."""
    if named is not None:
        if named not in SURFACES:
            raise BadRequest(f"surface: {named!r} is not one of {', '.join(SURFACES)}",
                             param="surface")
        return named
    if headers is not None and "anthropic-version" in headers:
        return "messages"
    if isinstance(body, dict):
        if "input" in body and "messages" not in body:
            return "responses"
        if not _MESSAGES_ONLY.isdisjoint(body):
            return "messages"
    return "chat_completions"


def explain_body(cfg: GatewayConfig, body: Any, *, key_name: str | None = None,
                 key_policy: str | None = None, header_policy: str | None = None,
                 headers: dict[str, str] | None = None,
                 surface: str | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON) of the decision for ``body``; shared by the HTTP view and the CLI.
    ``surface``: as ``choose_surface``'s ``named``."""
    trace: list[dict[str, Any]] = []
    features: dict[str, Any] | None = None
    try:
        surface = choose_surface(body, surface, headers)
        check, walker = SURFACES[surface]
        body = check(body)
        f = extract_features(body, surface=walker, image_tokens=cfg.server.image_tokens)
        features = f.to_json()
        d = decide(cfg, f, RouteRequest(model=body["model"], key_name=key_name,
                                        key_policy=key_policy, header_policy=header_policy,
                                        headers=headers or {},
                                        metadata=body.get("metadata") or {}))
    except GatewayError as e:
        trace = e.trace if e.trace is not None else trace
        out = {**e.openai_body(), "status": e.status, "features": features, "trace": trace}
        return e.status, out
    m = cfg.models[d.model]
    return 200, {
        "surface": surface, "model": d.model, "provider": m.provider,
        "upstream_model": m.upstream,
        "rule": d.rule, "candidates": d.candidates, "policy": list(d.policy.names),
        "features": features, "trace": d.trace,
    }


async def explain(request: Request, rt: Runtime,
                  presented_key: Callable[[Request], str | None],
                  limits: Callable[[Caller], AbstractAsyncContextManager[None]]) -> Response:
    """``limits``: the key's rpm and concurrency (``Services.request_limits``)."""
    snap = rt.snapshot
    rid = {"x-request-id": request_id(request.headers)}
    try:
        caller = snap.keyring.identify(presented_key(request))
        async with limits(caller):
            raw = await read_body(request, snap.cfg.server.max_body_bytes,
                                  snap.cfg.server.body_timeout_s)
            body = parse_request(raw, snap.cfg.server)
            status, out = explain_body(
                snap.cfg, body, key_name=caller.name, key_policy=caller.policy,
                header_policy=request.headers.get("x-gateway-policy"),
                headers=dict(request.headers), surface=request.query_params.get("surface"))
    except GatewayError as e:
        return error_response(e, "openai", rid)
    # A request the proxy would refuse gets that refusal's status, with the trace.
    return json_response(out, status, rid)
