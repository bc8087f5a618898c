"""The explain view: the routing decision for a body of any surface, no upstream call.

It runs exactly the code the proxy runs (``pipeline.intake``: the surface's validator
and walker, then ``decide``), so what it says is what the proxy then does; a request
the proxy would refuse gets the same error here, with the trace that led to it.

Which surface's body it is: the ``surface`` query parameter (``chat_completions``,
``messages``, ``responses``) if given; else a Messages body when the request carries
``anthropic-version`` (as Anthropic's SDKs send it); else by the body's shape: ``input``
and no ``messages`` is Responses, a field only Messages has (``system``,
``stop_sequences``) is Messages, anything else chat completions. A Messages body with
neither is also a valid chat body: name the surface to be sure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..config import GatewayConfig
from ..errors import BadRequest, GatewayError
from ..http import OPENAI_ERRORS, ClientGone, error_response, json_response, request_id
from ..pipeline.intake import accept, examine
from ..routing import RouteRequest, decide
from ..surfaces import CHAT_COMPLETIONS, MESSAGES, RESPONSES, SURFACES
from ..surfaces.surface import Surface

_BY_NAME = {s.name: s for s in SURFACES}
# Top-level fields only a Messages body has (OpenAI refuses a chat body with them; not
# top_k or thinking, which OpenAI-compatible servers such as vLLM or GLM take on chat).
_MESSAGES_ONLY = frozenset({"system", "stop_sequences"})


def pick_surface(body: Any, name: str | None = None,
                 headers: Mapping[str, str] | None = None) -> Surface:
    """The surface whose body ``body`` is (see the module's docstring)."""
    if name is not None:
        found = _BY_NAME.get(name)
        if found is None:
            raise BadRequest(f"surface: {name!r} is not one of {', '.join(_BY_NAME)}",
                             param="surface")
        return found
    if headers is not None and "anthropic-version" in headers:
        return MESSAGES
    if isinstance(body, dict):
        if "input" in body and "messages" not in body:
            # previous_response_id is not expanded here: the body's own input is what counts.
            return RESPONSES
        if not _MESSAGES_ONLY.isdisjoint(body):
            return MESSAGES
    return CHAT_COMPLETIONS


def explain_body(cfg: GatewayConfig, body: Any, *, key_name: str | None = None,
                 key_policy: str | None = None, header_policy: str | None = None,
                 headers: Mapping[str, str] | None = None,
                 surface: Surface | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON) of the decision for ``body``; shared by the HTTP view, the console
    and the CLI. ``surface`` None: chosen by ``pick_surface``."""
    trace: list[dict[str, Any]] = []
    features: dict[str, Any] | None = None
    try:
        surface = surface or pick_surface(body, headers=headers)
        body, f = examine(body, surface, cfg)
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
        "surface": surface.name, "features": features, "trace": d.trace,
    }


async def explain(request: Request) -> Response:
    """``POST /v1/gateway/route``: the key's rpm and concurrency apply; no tokens."""
    svc = request.app.state.svc
    rid = {"x-request-id": request_id(request.headers)}
    try:
        name = request.query_params.get("surface")
        # Known before the body is read (the parameter, or anthropic-version): its key
        # is taken as that surface presents it (x-api-key for a Messages body).
        keyed = pick_surface(None, name, request.headers)
        caller, parsed, admission = await accept(request, svc, keyed, upstream=False)
        try:
            status, out = explain_body(
                svc.rt.snapshot.cfg, parsed, key_name=caller.name, key_policy=caller.policy,
                header_policy=request.headers.get("x-gateway-policy"),
                headers=dict(request.headers), surface=keyed if name else None)
        finally:
            if admission is not None:
                await admission.release()
    except ClientGone:
        return Response(status_code=400)
    except GatewayError as e:
        return error_response(e, OPENAI_ERRORS, rid)
    # A request the proxy would refuse gets that refusal's status, with the trace.
    return json_response(out, status, rid)
