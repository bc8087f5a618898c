"""The trace's reasons, word for word: what explain shows for each kind of condition,
held and not (routing compiles each rule's condition once per config; its reasons must
read as they always have)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import parse_config
from gateway.features import Features
from gateway.routing import RouteRequest, decide

from .test_decide import BASE

# (the rule's `when`, features, request, matched, reason)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool, str]] = [
    ("{min_tokens: 50}", {"tokens": 40}, {}, False, "not tokens 40 >= 50"),
    ("{min_tokens: 50}", {"tokens": 50}, {}, True, "tokens 50 >= 50"),
    ("{max_tokens: 50}", {"tokens": 51}, {}, False, "not tokens 51 <= 50"),
    ("{language: [en, fr]}", {"lang": None}, {}, False, "not language None in ['en', 'fr']"),
    ("{language: [en, fr]}", {"lang": "fr"}, {}, True, "language fr in ['en', 'fr']"),
    ("{language: {not: [en, zh]}}", {"lang": "zh"}, {}, False,
     "not language zh not in ['en', 'zh']"),
    ("{language: {not: [en, zh]}}", {"lang": "de"}, {}, True, "language de not in ['en', 'zh']"),
    ("{pii: true}", {}, {}, False, "not pii [] is True"),
    ("{pii: false}", {"pii": ["phone", "email"]}, {}, False, "not pii ['email', 'phone'] is False"),
    ("{pii: [credit_card, iban]}", {"pii": ["email"]}, {}, False,
     "not pii ['email'] any of ['credit_card', 'iban']"),
    ("{pii: [credit_card, iban]}", {"pii": ["iban", "email"]}, {}, True,
     "pii ['email', 'iban'] any of ['credit_card', 'iban']"),
    ("{has_images: true}", {}, {}, False, "not has_images is True"),
    ("{has_tools: false, stream: true}", {"stream": True}, {}, True,
     "has_tools is False; stream is True"),
    ("{has_tools: false, stream: true}", {"tools": True, "stream": True}, {}, False,
     "not has_tools is False"),
    ("{model: [kimi-k2, claude-small]}", {}, {}, False,
     "not model auto in ['kimi-k2', 'claude-small']"),
    ("{model: [kimi-k2, claude-small]}", {}, {"model": "claude-small"}, True,
     "model claude-small in ['kimi-k2', 'claude-small']"),
    ("{key: [team-a, team-c]}", {}, {}, False, "not key None in ['team-a', 'team-c']"),
    ("{key: [team-a, team-c]}", {}, {"key_name": "team-c"}, True,
     "key team-c in ['team-a', 'team-c']"),
    ("{header: {x-a: '1', x-b: two}}", {}, {"headers": {"x-a": "1"}}, False,
     "not header x-b == 'two'"),
    ("{header: {x-a: '1', x-b: two}}", {}, {"headers": {"x-a": "1", "x-b": "two"}}, True,
     "header x-a == '1'; header x-b == 'two'"),
    ("{metadata: {app: batch, n: '3'}}", {}, {"metadata": {"app": "batch", "n": 4}}, False,
     "not metadata.n == '3'"),
    ("{metadata: {app: batch, n: '3'}}", {}, {"metadata": {"app": "batch", "n": 3}}, True,
     "metadata.app == 'batch'; metadata.n == '3'"),
    (
        "{min_tokens: 10, max_tokens: 500, language: [en], pii: [email], has_images: false, "
        "has_tools: false, stream: false, model: [auto], key: [team-a], header: {x-a: '1'}, "
        "metadata: {app: batch}}",
        {"pii": ["email"]},
        {"key_name": "team-a", "headers": {"x-a": "1"}, "metadata": {"app": "batch"}},
        True,
        "tokens 100 >= 10; tokens 100 <= 500; language en in ['en']; "
        "pii ['email'] any of ['email']; has_images is False; has_tools is False; "
        "stream is False; model auto in ['auto']; key team-a in ['team-a']; header x-a == '1'; "
        "metadata.app == 'batch'"),
]


def feats(tokens: int = 100, lang: str | None = "en", pii: Any = (), images: bool = False,
          tools: bool = False, stream: bool = False) -> Features:
    return Features(tokens=tokens, requested_output=None, language=lang, pii=frozenset(pii),
                    has_images=images, has_tools=tools, stream=stream)


@pytest.mark.parametrize("when, f, r, matched, reason", CASES)
def test_reason(when: str, f: dict[str, Any], r: dict[str, Any], matched: bool,
                reason: str) -> None:
    cfg = parse_config(BASE + f"""    - name: r
      when: {when}
      to: [claude-opus]
    - name: default
      to: [claude-opus]
""", {})
    d = decide(cfg, feats(**f), RouteRequest(**{"model": "auto", **r}))
    entry = next(t for t in d.trace if t.get("rule") == "r")
    assert (entry["matched"], entry["reason"]) == (matched, reason)
    # Decided again on the same config (its compiled rules reused): the same trace.
    assert decide(cfg, feats(**f), RouteRequest(**{"model": "auto", **r})).trace == d.trace
