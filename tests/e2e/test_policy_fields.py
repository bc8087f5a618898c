"""A policy cannot be walked around (issue 17): under policy ``standard`` (PII only to
Claude) a Chinese prompt goes to Kimi, unless PII is planted in any field of the request:
then Kimi must never receive it, whichever field it is in, on both surfaces."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai

from tests.support import planted


def _kimi_saw_pii(kimi: Any) -> bool:
    return any(planted.PII in json.dumps(r.json, ensure_ascii=False) or "4111" in json.dumps(r.json)
               for r in kimi.control.requests)


def _send(call: Any) -> int:
    try:
        call()
    except (openai.APIStatusError, anthropic.APIStatusError) as e:
        return e.status_code
    return 200


def _check_all(kimi: Any, post: Any, base: dict[str, Any], cases: Any) -> None:
    post(base)
    assert len(kimi.control.requests) == 1  # without PII, Kimi serves this prompt
    leaked, failed = [], []
    for field, body in cases:
        kimi.control.clear()
        status = _send(lambda b=body: post(b))
        if _kimi_saw_pii(kimi):
            leaked.append(field)
        if status >= 500:
            failed.append((field, status))
    assert leaked == [] and failed == []


def test_openai_fields_never_reach_a_restricted_provider(gateway: Any, kimi: Any) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="any", max_retries=0)
    _check_all(kimi, lambda b: client.post("/chat/completions", body=b, cast_to=object),
               planted.openai_base(), [*planted.openai_planted(), *planted.openai_obfuscated()])


def test_anthropic_fields_never_reach_a_restricted_provider(gateway: Any, kimi: Any) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="any", max_retries=0)
    _check_all(kimi, lambda b: client.post("/v1/messages", body=b, cast_to=object),
               planted.anthropic_base(), planted.anthropic_planted())


def test_explain_names_the_field(gateway: Any) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="any", max_retries=0)
    body = planted.openai_base()
    body["stop"] = [planted.PII]
    out = client.post("/gateway/route", body=body, cast_to=object)
    assert out["features"]["pii_fields"] == {"email": "stop[0]"}
    reasons = [r["reason"] for e in out["trace"] for r in e.get("removed", [])]
    assert any("email in stop[0]" in r for r in reasons), out["trace"]
