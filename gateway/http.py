"""HTTP plumbing shared by the surfaces: bodies, ids, JSON and error responses."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .errors import BadRequest, GatewayError, PayloadTooLarge, RequestTimeout

_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id(headers: Mapping[str, str]) -> str:
    """The client's x-request-id if it is a plain token; else a fresh one.

    A client id with control characters, CR/LF or odd bytes is never echoed into a
    header or a log line: it is replaced, not cleaned up.
    """
    rid = headers.get("x-request-id")
    if rid and _SAFE_ID.fullmatch(rid):
        return rid
    return uuid.uuid4().hex


class ClientGone(Exception):
    """The client disconnected while sending its body."""


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes:
    """Read the whole body within a size and a time limit.

    Refuses on Content-Length before reading anything; otherwise stops reading as
    soon as the limit is passed, so a 100 MB body never sits in memory.
    """
    cl = request.headers.get("content-length")
    if cl is not None:
        if not cl.isdigit():
            raise BadRequest("Invalid Content-Length header.")
        if int(cl) > max_bytes:
            raise PayloadTooLarge(
                f"Request body of {int(cl)} bytes exceeds the limit of {max_bytes} bytes.",
                headers={"connection": "close"})
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"Request body exceeds the limit of {max_bytes} bytes.",
                        headers={"connection": "close"})
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"The request body was not received within {timeout_s:g} s.",
            headers={"connection": "close"}) from None
    except ClientDisconnect:
        raise ClientGone() from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, headers=dict(headers or {}),
                    media_type="application/json")


def error_response(err: GatewayError, surface: str, headers: Mapping[str, str] | None = None
                   ) -> Response:
    h = dict(headers or {})
    h.update(err.headers)
    status = err.status
    if surface == "anthropic" and err.anthropic_status is not None:
        status = err.anthropic_status
    if status in (429, 503, 529) and "retry-after" not in h:
        ra = getattr(err, "retry_after", None)
        if ra is not None:
            h["retry-after"] = str(max(1, int(-(-ra // 1))))
    body = err.anthropic_body() if surface == "anthropic" else err.openai_body()
    if surface == "anthropic" and "x-request-id" in h:
        body["request_id"] = h["x-request-id"]
    return json_response(body, status, h)
