"""Helpers of the Responses tests: an SDK client, and every emitted object checked
against the openai SDK's own pydantic types (``openai.types.responses``)."""

from __future__ import annotations

from typing import Any

import openai
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

MODELS = ["kimi-k2", "claude-opus", "auto"]
_EVENT = TypeAdapter(ResponseStreamEvent)


def client(gw: Any, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=kw.pop("api_key", "any"),
                         max_retries=0, **kw)


def strict_response(data: dict[str, Any]) -> Response:
    """Validated as the SDK's type (every required field, every literal)."""
    return Response.model_validate(data)


def strict_event(data: dict[str, Any]) -> Any:
    ev = _EVENT.validate_python(data)
    assert ev.type == data["type"]
    return ev
