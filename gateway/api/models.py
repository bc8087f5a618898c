"""``GET /v1/models`` and ``GET /v1/models/{id}`` in the caller's dialect.

A request with an ``anthropic-version`` or ``x-api-key`` header (Anthropic SDKs,
Claude Code's gateway model discovery) gets Anthropic's shapes: a page
``{data: [{type: "model", id, display_name, created_at}], has_more, first_id,
last_id}`` (``limit``, ``after_id``, ``before_id`` as Anthropic takes them) and the
model object; errors in Anthropic's shape. Any other request gets OpenAI's
``{object: "list", data: [{id, object: "model", created, owned_by}]}``.

The list is ``auto`` then the configured aliases. ``/v1/models/{id}`` also answers
for a name the ``model_map`` maps (for example ``claude-haiku-4-5``): the entry keeps
the requested id, and its ``display_name`` (Anthropic) or ``owned_by`` (OpenAI) names
where it goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import BadRequest, GatewayError, ModelNotFound
from ..auth import anthropic_key, openai_key
from ..http import ANTHROPIC_ERRORS, OPENAI_ERRORS, error_response, json_response, request_id
from ..routing import map_model
from ..runtime import Runtime
from ..surfaces import anthropic_client
from .access import Role, authorize

# One creation time per process: the list does not change between two calls.
_CREATED = int(time.time())
_CREATED_AT = datetime.fromtimestamp(_CREATED, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
MAX_LIMIT = 1000


def _entries(rt: Runtime) -> list[tuple[str, str, str]]:
    """(id, owner, description) of every model a client may ask for."""
    cfg = rt.snapshot.cfg
    out = [("auto", "gateway", "auto (routed by the gateway's rules)")]
    out += [(alias, m.provider, f"{alias} ({m.provider}: {m.upstream})")
            for alias, m in cfg.models.items()]
    return out


def _find(rt: Runtime, model_id: str) -> tuple[str, str, str] | None:
    for entry in _entries(rt):
        if entry[0] == model_id:
            return entry
    target, rule = map_model(rt.snapshot.cfg, model_id)
    if rule is None:
        return None
    owner = "gateway" if target == "auto" else rt.snapshot.cfg.models[target].provider
    return model_id, owner, f"{model_id} -> {target} (model_map {rule!r})"


def _anthropic(entry: tuple[str, str, str]) -> dict[str, Any]:
    return {"type": "model", "id": entry[0], "display_name": entry[2], "created_at": _CREATED_AT}


def _openai(entry: tuple[str, str, str]) -> dict[str, Any]:
    return {"id": entry[0], "object": "model", "created": _CREATED, "owned_by": entry[1]}


def _limit(raw: str | None) -> int:
    if raw is None:
        return 20
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit: Input should be an integer from 1 to {MAX_LIMIT}", param="limit")
    return value


def _page(entries: list[tuple[str, str, str]], params: Mapping[str, str]) -> dict[str, Any]:
    limit = _limit(params.get("limit"))
    ids = [e[0] for e in entries]
    after, before = params.get("after_id"), params.get("before_id")
    if after is not None and before is not None:
        raise BadRequest("after_id and before_id cannot both be given", param="after_id")
    for name, value in (("after_id", after), ("before_id", before)):
        if value is not None and value not in ids:
            raise BadRequest(f"{name}: unknown model id {value!r}", param=name)
    if after is not None:
        window = entries[ids.index(after) + 1:][:limit]
        more = ids.index(after) + 1 + limit < len(entries)
    elif before is not None:
        end = ids.index(before)
        window = entries[max(0, end - limit):end]
        more = end - limit > 0
    else:
        window, more = entries[:limit], limit < len(entries)
    data = [_anthropic(e) for e in window]
    return {"data": data, "has_more": more, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


def _answer(request: Request, build: Callable[[Runtime, bool], dict[str, Any]]) -> Response:
    rt: Runtime = request.app.state.rt
    anthropic = anthropic_client(request.headers)
    rid = {"x-request-id": request_id(request.headers)}
    try:
        authorize(request, rt, Role.CLIENT, anthropic_key if anthropic else openai_key)
        return json_response(build(rt, anthropic), 200, rid)
    except GatewayError as e:
        return error_response(e, ANTHROPIC_ERRORS if anthropic else OPENAI_ERRORS, rid)


async def list_models(request: Request) -> Response:
    def build(rt: Runtime, anthropic: bool) -> dict[str, Any]:
        if anthropic:
            return _page(_entries(rt), request.query_params)
        return {"object": "list", "data": [_openai(e) for e in _entries(rt)]}
    return _answer(request, build)


async def get_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]

    def build(rt: Runtime, anthropic: bool) -> dict[str, Any]:
        entry = _find(rt, model_id)
        if entry is None:
            raise ModelNotFound(f"model: {model_id}" if anthropic else
                                f"The model {model_id!r} does not exist on this gateway",
                                param="model")
        return _anthropic(entry) if anthropic else _openai(entry)
    return _answer(request, build)


ROUTES = [Route("/v1/models", list_models, methods=["GET"]),
          Route("/v1/models/{model_id:path}", get_model, methods=["GET"])]
