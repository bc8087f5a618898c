"""A 200 that is not an answer ({} or no choices/content) is a 502, on both surfaces."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.emulators import EmulatorServer
from tests.support.gateway_server import GatewayServer
from tests.support.gateway_server import test_config as config_for


@pytest.fixture(scope="module")
def hollow():
    """An upstream that answers every POST with 200 and a JSON object that says nothing."""
    async def answer(request: Request) -> JSONResponse:
        return JSONResponse({})

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])
    with EmulatorServer(app) as srv:
        yield srv


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", {"model": "kimi-k2", "messages": [{"role": "user", "content": "x"}]}),
    ("/v1/chat/completions", {"model": "claude-opus",
                              "messages": [{"role": "user", "content": "x"}]}),
    ("/v1/messages", {"model": "kimi-k2", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "x"}]}),
    ("/v1/messages", {"model": "claude-opus", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "x"}]}),
])
def test_an_empty_200_is_a_502(hollow, path, body):
    with GatewayServer(config_for(hollow.url + "/v1", hollow.url)) as gw:
        r = httpx.post(gw.url + path, json=body, timeout=10)
    assert r.status_code == 502, r.text
    assert "without a" in r.text
