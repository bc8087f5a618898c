"""The server layer's floor: a Starlette app answering every chat completion from memory.

Run under uvicorn (httptools, uvloop, as ``gateway serve`` configures it) or granian to
compare what the HTTP server costs per request with no gateway work at all
(``harness.shipped`` variants ``floor-uvicorn`` and ``floor-granian``).
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .mock import OPENAI_RESPONSE

BODY = orjson.dumps(OPENAI_RESPONSE)


async def chat(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                        Route("/readyz", ready)])
