"""The surface table: every surface is routed, walked, validated and measured from it."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import httpx
import pytest

from gateway import metrics
from gateway.app import GatewayApp, create_app
from gateway.features import extract_features
from gateway.http import ANTHROPIC_ERRORS, OPENAI_ERRORS
from gateway.runtime import Runtime
from gateway.surfaces import CHAT_COMPLETIONS, MESSAGES, RESPONSES, SURFACES, dialect_for
from tests.support.gateway_server import test_config as make_config

BODIES = {
    "chat_completions": {"model": "auto", "messages": [
        {"role": "system", "content": "Reply to ann@example.com"},
        {"role": "user", "content": "What is the capital of France?"}]},
    "messages": {"model": "auto", "max_tokens": 64, "system": "Reply to ann@example.com",
                 "messages": [{"role": "user", "content": "What is the capital of France?"}]},
    "responses": {"model": "auto", "instructions": "Reply to ann@example.com",
                  "input": "What is the capital of France?"},
}


def test_the_table_names_each_surface_once_with_its_own_path() -> None:
    names = [s.name for s in SURFACES]
    assert names == ["chat_completions", "messages", "responses"]
    assert len({s.path for s in SURFACES}) == len(SURFACES)


def test_the_metrics_know_every_surface_of_the_table() -> None:
    # In-flight series start at zero for each surface: a new one must be added there.
    assert set(metrics.SURFACES) == {s.name for s in SURFACES}


def test_the_app_routes_every_surface_and_its_counter_from_the_table() -> None:
    app = create_app(Runtime(make_config("http://127.0.0.1:9/v1", "http://127.0.0.1:9")),
                     watch_config=False)
    paths = {(r.path, m) for r in app.routes for m in getattr(r, "methods", None) or ()}
    for s in SURFACES:
        assert (s.path, "POST") in paths
        if s.count is not None:
            assert (s.count.path, "POST") in paths
    assert ("/v1/responses/{resp_id}", "GET") in paths


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_each_walker_finds_the_system_pii_and_the_users_language(surface) -> None:
    f = extract_features(surface.validate(BODIES[surface.name]), surface=surface.walker)
    assert f.pii == {"email"} and f.language == "en"


def test_a_walker_name_nobody_registered_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="unknown surface 'openai'"):
        extract_features(BODIES["chat_completions"], surface="openai")


def test_errors_take_the_dialect_of_the_surface_owning_the_path() -> None:
    assert dialect_for("/v1/messages", {}) is ANTHROPIC_ERRORS
    assert dialect_for("/v1/messages/count_tokens", {}) is ANTHROPIC_ERRORS
    assert dialect_for("/v1/messagesX", {}) is OPENAI_ERRORS
    assert dialect_for("/v1/responses/resp_1", {}) is OPENAI_ERRORS
    assert dialect_for("/v1/models", {"anthropic-version": "2023-06-01"}) is ANTHROPIC_ERRORS
    assert dialect_for("/v1/models", {}) is OPENAI_ERRORS
    assert MESSAGES.dialect is ANTHROPIC_ERRORS and RESPONSES.dialect is OPENAI_ERRORS


def test_messages_forwards_only_its_anthropic_headers() -> None:
    sent = {"anthropic-version": "2023-06-01", "anthropic-beta": "b1",
            "anthropic-dangerous-direct-browser-access": "true", "x-other": "1"}
    assert MESSAGES.forwarded(sent) == {"anthropic-version": "2023-06-01",
                                        "anthropic-beta": "b1"}
    assert RESPONSES.forwarded(sent) == {}


def test_explain_takes_a_messages_body_by_header_or_parameter(gateway) -> None:
    body = BODIES["messages"]
    by_header = httpx.post(gateway.url + "/v1/gateway/route", json=body,
                           headers={"anthropic-version": "2023-06-01"}, timeout=30).json()
    by_param = httpx.post(gateway.url + "/v1/gateway/route?surface=messages", json=body,
                          timeout=30).json()
    as_chat = httpx.post(gateway.url + "/v1/gateway/route", json=BODIES["chat_completions"],
                         timeout=30).json()
    assert by_header["surface"] == by_param["surface"] == "messages"
    assert by_header["features"] == by_param["features"]
    assert by_header["features"]["pii_fields"] == {"email": "system"}
    assert by_header["model"] == as_chat["model"]
    bad = httpx.post(gateway.url + "/v1/gateway/route?surface=openai", json=body, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "surface"


def test_the_proxy_and_explain_agree_on_a_messages_body(make_gateway, tmp_path, caplog) -> None:
    gw = make_gateway()
    body = BODIES["messages"]
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        r = httpx.post(gw.url + "/v1/messages", json=body,
                       headers={"anthropic-version": "2023-06-01"}, timeout=30)
        assert r.status_code == 200, r.text
        # The record is published off the response's path (gateway/idle.py), within
        # milliseconds of it.
        deadline = time.monotonic() + 5
        while True:
            recs = [rec.access for rec in caplog.records if hasattr(rec, "access")]
            proxied = next((a for a in recs if a.get("surface") == "messages"), None)
            if proxied is not None or time.monotonic() > deadline:
                break
            time.sleep(0.005)
    assert proxied is not None, "no access record for the proxied request"
    explained = httpx.post(gw.url + "/v1/gateway/route?surface=messages", json=body,
                           timeout=30).json()
    assert proxied["routing"]["features"] == explained["features"]
    assert proxied["routing"]["model"] == explained["model"]


async def test_a_bug_on_the_proxy_path_is_logged_and_answered_in_the_surfaces_dialect(
        caplog) -> None:
    # GatewayApp hands a surface's POST to the handler without Starlette's stack; an
    # unexpected exception must still end as Starlette's would: logged with its
    # traceback, a 500 in the surface's shape with the request id and no detail, and
    # re-raised for the server to log.
    app = create_app(Runtime(make_config("http://127.0.0.1:9/v1", "http://127.0.0.1:9")),
                     watch_config=False)

    def broken(body: object) -> dict:
        raise RuntimeError("secret detail")

    for surface in (CHAT_COMPLETIONS, MESSAGES):
        buggy = GatewayApp(app.starlette, app.state.svc, (replace(surface, validate=broken),))
        transport = httpx.ASGITransport(app=buggy, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            with caplog.at_level(logging.ERROR, logger="gateway"):
                r = await client.post(surface.path, json=BODIES[surface.name],
                                      headers={"x-request-id": "bug-1"})
        assert r.status_code == 500 and r.headers["x-request-id"] == "bug-1"
        assert "secret detail" not in r.text and "bug-1" in r.text
        if surface is MESSAGES:
            assert r.json()["type"] == "error" and r.json()["request_id"] == "bug-1"
        else:
            assert r.json()["error"]["type"] == "server_error"
        logged = [rec for rec in caplog.records if "unhandled error" in rec.getMessage()]
        assert logged and logged[-1].exc_info is not None
        caplog.clear()
