"""The gateway's own web console at ``/console`` (README, "Console").

Static files shipped in the package (``static/``: one page, plain JavaScript, charts
drawn as inline SVG) and JSON APIs under ``/console/api/``:

=========================  ==========================================================
GET  /console/api/meta     key names, policies, models, config version (no secrets)
GET  /console/api/live     cumulative figures from the metrics (live.py)
GET  /console/api/decisions  the recent-decision ring, newest first (ring.py)
POST /console/api/explain  the explain view for a prompt or a body, as a chosen key
POST /console/api/whatif   a draft config: check-config's error, or the replay of the
                           recent decisions through it (replay.py)
=========================  ==========================================================

Access (``authorize``): with admin keys configured, every API needs one
(``Authorization: Bearer``; client keys do not open the console). With client keys but
no admin keys the APIs are refused (403). With no keys at all they answer loopback
clients only, unless ``console.allow_remote``. The page itself holds no data.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..pipeline.exchange import Exchange
from ..pipeline.services import Services
from .. import idle
from ..api import access
from ..api.access import Role
from ..api.explain import explain_body
from ..breaker import STATE_VALUE
from ..config import ConfigError, GatewayConfig, parse_config
from ..errors import BadRequest, NotFound
from ..http import json_response, read_body
from ..jsonutil import parse_body
from ..logs import Redactor
from ..replay import replay
from ..runtime import Runtime, Snapshot
from .live import families, summarize
from .ring import DecisionRing

__all__ = ["console_routes"]

MAX_DRAFT_BYTES = 1024 * 1024
_TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
          "css": "text/css; charset=utf-8", "svg": "image/svg+xml"}
# Nothing is loaded from anywhere but the gateway itself.
_PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-content-type-options": "nosniff", "cache-control": "no-cache",
    "referrer-policy": "no-referrer",
}
_API_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


def _static() -> dict[str, bytes]:
    root = resources.files(__package__).joinpath("static")
    return {f.name: f.read_bytes() for f in root.iterdir() if f.is_file()}


def console_routes(rt: Runtime, svc: Services) -> list[Route]:
    files = _static()
    ring = DecisionRing(rt.store, rt.snapshot.cfg.console.recent_decisions)

    def sink(ex: Exchange, rec: dict[str, Any]) -> None:
        if rt.snapshot.cfg.console.enabled:
            ring.add(rec)

    svc.sinks.append(sink)

    def enabled(snap: Snapshot) -> GatewayConfig:
        cfg = snap.cfg
        if not cfg.console.enabled:
            raise NotFound("The console is disabled (console.enabled: false).")
        ring.resize(cfg.console.recent_decisions)
        return cfg

    def authorize(request: Request) -> GatewayConfig:
        cfg = enabled(rt.snapshot)
        access.authorize(request, rt, Role.ADMIN)
        return cfg

    async def page(request: Request) -> Response:
        enabled(rt.snapshot)
        name = request.path_params.get("name", "index.html")
        body = files.get(name)
        if body is None:
            raise NotFound(f"Unknown path {request.url.path}.")
        return Response(body, media_type=_TYPES.get(name.rsplit(".", 1)[-1], "text/plain"),
                        headers=_PAGE_HEADERS)

    async def slash(request: Request) -> Response:
        return RedirectResponse("/console", status_code=308)

    async def meta(request: Request) -> Response:
        cfg = authorize(request)
        return json_response({
            "config_version": rt.snapshot.version, "demo": rt.demo,
            "keys": [k.name for k in cfg.active_keys()], "policies": list(cfg.policies),
            "default_policy": cfg.routing.default_policy, "models": list(cfg.models),
            "rules": [r.name for r in cfg.routing.rules], "prompt_logging": svc.log_prompts,
            "recent_decisions": cfg.console.recent_decisions,
        }, headers=_API_HEADERS)

    async def live(request: Request) -> Response:
        authorize(request)
        idle.flush()
        m = rt.metrics
        out: dict[str, Any] = {"metrics": None}
        if m is not None:
            for alias, b in rt.breakers.items():  # this worker's view, merged as livemax
                m.child(m.circuit_state, alias).set(STATE_VALUE[b.state])
            if m.multiprocess:
                out["metrics"] = await asyncio.to_thread(lambda: summarize(families(m)))
            else:
                out["metrics"] = summarize(families(m))
        out.update(time=time.time(), store=rt.store_status(), config_version=rt.snapshot.version,
                   pid=os.getpid())
        return json_response(out, headers=_API_HEADERS)

    async def decisions(request: Request) -> Response:
        authorize(request)
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            raise BadRequest("limit must be an integer", param="limit") from None
        idle.flush()
        source, records = await ring.recent(max(1, limit))
        return json_response({"source": source, "size": ring.size, "records": records},
                             headers=_API_HEADERS)

    async def _json(request: Request, max_bytes: int) -> dict[str, Any]:
        raw = await read_body(request, max_bytes, rt.snapshot.cfg.server.body_timeout_s)
        body = parse_body(raw)
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    async def explain(request: Request) -> Response:
        cfg = authorize(request)
        q = await _json(request, cfg.server.max_body_bytes)
        body = q.get("body")
        if body is None:
            prompt = q.get("prompt")
            if not isinstance(prompt, str) or not prompt:
                raise BadRequest("give `prompt` (text) or `body` (a chat completions body)",
                                 param="prompt")
            body = {"model": q.get("model") or "auto",
                    "messages": [{"role": "user", "content": prompt}]}
        key_name = q.get("key") or None
        key = next((k for k in cfg.active_keys() if k.name == key_name), None)
        if key_name is not None and key is None:
            raise BadRequest(f"unknown key {key_name!r}", param="key")
        status, out = explain_body(cfg, body, key_name=key_name,
                                   key_policy=key.policy if key else None,
                                   header_policy=q.get("policy") or None)
        return json_response({"status": status, "body": body, **out}, headers=_API_HEADERS)

    async def whatif(request: Request) -> Response:
        cfg = authorize(request)
        q = await _json(request, MAX_DRAFT_BYTES)
        text = q.get("yaml")
        if not isinstance(text, str):
            raise BadRequest("give the draft config as `yaml` (text)", param="yaml")
        try:
            draft = parse_config(text, rt.env, source="draft")
        except ConfigError as exc:
            from ..entry import secrets_of  # the app imports this module
            # The current config's secrets and whatever the draft's ${VAR}s expand to.
            used = [rt.env.get(v, "") for v in re.findall(r"\$\{([A-Za-z_]\w*)", text)]
            scrub = Redactor(secrets_of(cfg) + used)
            return json_response({"ok": False, "error": f"error: {scrub.scrub(str(exc))}"},
                                 headers=_API_HEADERS)
        idle.flush()
        source, records = await ring.recent()
        return json_response({"ok": True, "source": source,
                              "summary": replay(records, draft)}, headers=_API_HEADERS)

    return [
        Route("/console", page, methods=["GET"]),
        Route("/console/", slash, methods=["GET"]),
        Route("/console/static/{name}", page, methods=["GET"]),
        Route("/console/api/meta", meta, methods=["GET"]),
        Route("/console/api/live", live, methods=["GET"]),
        Route("/console/api/decisions", decisions, methods=["GET"]),
        Route("/console/api/explain", explain, methods=["POST"]),
        Route("/console/api/whatif", whatif, methods=["POST"]),
    ]
