"""The explain view on every surface (issue 14): a Messages body and its chat equivalent
get the same features from ``POST /v1/gateway/route``, and the proxy (``/v1/messages``,
``/v1/chat/completions`` through the emulators) routes on the features explain reports,
as its access log records them (``routing.features``).

The bodies are those of ``tests/features/test_surface_parity.py``: PII planted in one
field (system blocks, a system turn, a tool result, a tool call's input, tool
definitions, thinking, an image turn, all of them at once), text in English or Chinese.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.features.test_surface_parity import CASES, Case
from tests.support.gateway_server import GatewayServer

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["system_blocks", "system_turn_mid_conversation", "system_decides_language",
         "tool_result_error", "tool_use_input", "tool_definitions", "thinking",
         "image_base64", "conversation"]
PARAMS = [pytest.param(n, lang, kind, id=f"{n}-{lang}-{kind}")
          for n in NAMES for lang in ("en", "zh") for kind in ("email", "phone")]


def explain(gw: GatewayServer, body: dict[str, Any], surface: str | None = None,
            **headers: str) -> dict[str, Any]:
    r = httpx.post(gw.url + "/v1/gateway/route", json=body, headers=headers, timeout=30,
                   params={"surface": surface} if surface else None)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def comparable(features: dict[str, Any]) -> dict[str, Any]:
    """Features without ``pii_fields``: the field paths are each schema's own."""
    return {k: v for k, v in features.items() if k not in ("pii_fields", "tokens")}


def assert_same(m: dict[str, Any], c: dict[str, Any], case: Case) -> None:
    assert comparable(m) == comparable(c)
    assert abs(m["tokens"] - c["tokens"]) <= case.slack, case.why


@pytest.fixture
def access() -> Iterator[list[dict[str, Any]]]:
    """The access records the gateway logs (``gateway.access``), as they are logged."""
    records: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            rec = getattr(record, "access", None)
            if isinstance(rec, dict):
                records.append(rec)

    logger = logging.getLogger("gateway.access")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def proxied(gw: GatewayServer, access: list[dict[str, Any]], path: str,
            body: dict[str, Any]) -> dict[str, Any]:
    """The features the proxy routed ``body`` on, from its access record."""
    rid = f"parity-{uuid.uuid4().hex}"
    r = httpx.post(gw.url + path, json=body, timeout=30,
                   headers={"x-request-id": rid, "x-api-key": "any"})
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 5  # a whole answer's record may follow its response
    while time.monotonic() < deadline:
        for rec in list(access):
            if rec.get("request_id") == rid:
                features: dict[str, Any] = rec["routing"]["features"]
                return features
        time.sleep(0.02)
    raise AssertionError(f"no access record for {rid}")


@pytest.mark.parametrize("name, lang, kind", PARAMS)
def test_explain_gives_a_messages_body_the_features_of_its_chat_equivalent(
        gateway, name: str, lang: str, kind: str) -> None:
    case = CASES[name](lang, kind)
    m = explain(gateway, case.messages, "messages")
    c = explain(gateway, case.chat)
    assert (m["surface"], c["surface"]) == ("messages", "chat_completions")
    assert m["features"]["pii"] == [kind] and m["features"]["language"] == lang
    assert_same(m["features"], c["features"], case)
    # Same features, same decision.
    assert (m["rule"], m["candidates"]) == (c["rule"], c["candidates"])
    if case.responses is not None:
        r = explain(gateway, case.responses)
        assert r["surface"] == "responses"
        assert_same(m["features"], r["features"], case)


@pytest.mark.parametrize("name, lang, kind", PARAMS)
def test_the_proxy_routes_on_the_features_explain_reports(
        gateway, access, name: str, lang: str, kind: str) -> None:
    case = CASES[name](lang, kind)
    messages, chat = copy.deepcopy(case.messages), copy.deepcopy(case.chat)
    for body in (messages, chat):
        body.pop("stream", None)  # one whole answer: the record is then complete
    m_proxy = proxied(gateway, access, "/v1/messages", messages)
    c_proxy = proxied(gateway, access, "/v1/chat/completions", chat)
    assert m_proxy == explain(gateway, messages, "messages")["features"]
    assert c_proxy == explain(gateway, chat, "chat_completions")["features"]
    assert_same(m_proxy, c_proxy, case)


def test_the_surface_is_named_or_told_by_the_anthropic_version_header_or_the_shape(gateway):
    case = CASES["system_decides_language"]("zh", "email")
    body = case.messages
    by_header = explain(gateway, body, **{"anthropic-version": "2023-06-01"})
    by_shape = explain(gateway, body)  # a top-level `system`: only Messages has one
    assert by_header["surface"] == by_shape["surface"] == "messages"
    assert by_header["features"] == by_shape["features"] == explain(gateway, body,
                                                                    "messages")["features"]
    assert by_shape["features"]["language"] == "zh" and by_shape["rule"] == "chinese"
    # Without `system`, a Messages body is a valid chat body: the header or the name
    # decides, and the query parameter wins over the header.
    plain = PLAIN
    assert explain(gateway, plain)["surface"] == "chat_completions"
    as_chat = explain(gateway, plain, "chat_completions", **{"anthropic-version": "2023-06-01"})
    as_messages = explain(gateway, plain, **{"anthropic-version": "2023-06-01"})
    assert (as_chat["surface"], as_messages["surface"]) == ("chat_completions", "messages")
    assert as_messages["features"]["has_tools"] and not as_chat["features"]["has_tools"]


def test_a_messages_body_is_validated_as_messages(gateway):
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    assert explain(gateway, body)["surface"] == "chat_completions"  # valid chat
    r = httpx.post(gateway.url + "/v1/gateway/route", json=body, params={"surface": "messages"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "max_tokens: Field required"
    # the proxy's own answer to that body
    proxy = httpx.post(gateway.url + "/v1/messages", json=body, headers={"x-api-key": "any"})
    assert proxy.status_code == 400 and "max_tokens" in proxy.json()["error"]["message"]


def test_an_unknown_surface_is_a_400_naming_the_parameter(gateway):
    r = httpx.post(gateway.url + "/v1/gateway/route", params={"surface": "anthropic"},
                   json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "surface" and "chat_completions, messages, responses" in err["message"]


PLAIN = {"model": "auto", "max_tokens": 64, "messages": [
    {"role": "user", "content": [{"type": "text", "text": "你好"},
                                 {"type": "tool_result", "tool_use_id": "t",
                                  "content": "ann.lee@example.com"}]}]}


def test_the_cli_takes_the_surface_too():
    runs = {s: subprocess.run([sys.executable, "-m", "gateway.cli", "route", "--surface", s],
                              input=json.dumps(PLAIN), capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            for s in ("messages", "chat_completions")}
    assert all(r.returncode == 0 for r in runs.values()), runs
    m, c = (json.loads(runs[s].stdout) for s in ("messages", "chat_completions"))
    assert (m["surface"], c["surface"]) == ("messages", "chat_completions")
    assert m["features"]["pii"] == c["features"]["pii"] == ["email"]
    # As chat, the tool result is a content part of no known type: no tools.
    assert m["features"]["has_tools"] and not c["features"]["has_tools"]
