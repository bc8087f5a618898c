"""Table tests of the routing decision: every condition, constraint and refusal."""

from __future__ import annotations

import pytest

from gateway.config import parse_config
from gateway.errors import BadRequest, ModelNotFound, NoRoute, PolicyForbidden
from gateway.features import Features
from gateway.routing import RouteRequest, decide

BASE = """
providers:
  kimi: {type: openai, base_url: "http://127.0.0.1:1/v1", api_key: k}
  claude: {type: anthropic, base_url: "http://127.0.0.1:2", api_key: k}
models:
  kimi-k2: {provider: kimi, upstream: kimi-k2-0905-preview, context_window: 262144}
  claude-opus: {provider: claude, upstream: claude-opus-4-5, context_window: 200000}
  claude-small: {provider: claude, upstream: claude-haiku-4-5, context_window: 8000, default_max_tokens: 1000}
policies:
  standard: {pii_providers: [claude]}
  strict: {providers: [claude], pii_providers: [claude]}
  open: {}
routing:
  default_policy: standard
  rules:
"""

SHIPPED_RULES = """
    - name: long-context
      when: {min_tokens: 150000}
      to: [kimi-k2]
    - name: chinese
      when: {language: [zh]}
      to: [kimi-k2, claude-opus]
    - name: default
      to: [claude-opus, kimi-k2]
"""


def cfg(rules: str = SHIPPED_RULES):
    return parse_config(BASE + rules, {})


def feats(tokens=100, lang="en", pii=(), out=None, images=False, tools=False, stream=False):
    return Features(tokens=tokens, requested_output=out, language=lang, pii=frozenset(pii),
                    has_images=images, has_tools=tools, stream=stream)


def req(model="auto", **kw):
    return RouteRequest(model=model, **kw)


@pytest.mark.parametrize(
    "f, r, rule, cands",
    [
        (feats(lang="en"), req(), "default", ["claude-opus", "kimi-k2"]),
        (feats(lang="zh"), req(), "chinese", ["kimi-k2", "claude-opus"]),
        # PII under the standard policy: Kimi is removed from the chinese rule.
        (feats(lang="zh", pii=["email"]), req(), "chinese", ["claude-opus"]),
        (feats(tokens=160_000), req(), "long-context", ["kimi-k2"]),
        # Beyond Claude's window, default keeps only Kimi.
        (feats(tokens=199_000), req(), "long-context", ["kimi-k2"]),
        # Open policy lets PII go to Kimi.
        (feats(lang="zh", pii=["phone"]), req(key_policy="open"), "chinese", ["kimi-k2", "claude-opus"]),
        # Strict keeps everything on Claude.
        (feats(lang="zh"), req(key_policy="strict"), "chinese", ["claude-opus"]),
        (feats(), req(model="kimi-k2"), "pinned", ["kimi-k2"]),
    ],
)
def test_shipped_rules(f, r, rule, cands):
    d = decide(cfg(), f, r)
    assert (d.rule, d.candidates) == (rule, cands)


def test_long_prompt_with_pii_falls_through_to_default_on_claude():
    # 160k tokens: long-context keeps only kimi, which PII removes; default: claude's
    # window holds 160k + 4096, so the default rule serves it on Claude.
    d = decide(cfg(), feats(tokens=160_000, pii=["email"]), req())
    assert d.rule == "default" and d.candidates == ["claude-opus"]


def test_strict_refuses_what_cannot_fit_and_says_why():
    with pytest.raises(NoRoute) as e:
        decide(cfg(), feats(tokens=310_000), req(key_policy="strict"))
    msg = e.value.message
    assert "claude-opus" in msg and "200000-token window" in msg and "310000-token prompt" in msg
    assert "kimi-k2" in msg and "strict" in msg
    assert e.value.status == 400


def test_only_policy_removals_is_403():
    c = cfg("""
    - name: only-kimi
      to: [kimi-k2]
""")
    with pytest.raises(PolicyForbidden) as e:
        decide(c, feats(), req(key_policy="strict"))
    assert e.value.status == 403 and "strict" in e.value.message


def test_pinned_model_forbidden_by_policy_is_403_not_reroute():
    with pytest.raises(PolicyForbidden) as e:
        decide(cfg(), feats(), req(model="kimi-k2", key_policy="strict"))
    assert "kimi" in e.value.message
    with pytest.raises(PolicyForbidden):
        decide(cfg(), feats(pii=["credit_card"]), req(model="kimi-k2"))


def test_pinned_model_too_small_is_400():
    with pytest.raises(BadRequest) as e:
        decide(cfg(), feats(tokens=7500), req(model="claude-small"))
    assert e.value.status == 400 and "8000-token window" in e.value.message


def test_requested_output_counts_in_fit():
    # 6000 prompt + default 1000 fits in 8000; + 3000 requested does not.
    assert decide(cfg(), feats(tokens=6000), req(model="claude-small")).model == "claude-small"
    with pytest.raises(BadRequest):
        decide(cfg(), feats(tokens=6000, out=3000), req(model="claude-small"))


def test_unknown_model_404():
    with pytest.raises(ModelNotFound) as e:
        decide(cfg(), feats(), req(model="gpt-4o"))
    assert e.value.status == 404 and e.value.code == "model_not_found"


def test_header_policy_only_narrows():
    # The key's policy is open; the header adds strict: both must hold.
    d = decide(cfg(), feats(lang="zh"), req(key_policy="open", header_policy="strict"))
    assert d.candidates == ["claude-opus"]
    # A header cannot loosen: key strict + header open is still strict.
    d = decide(cfg(), feats(lang="zh"), req(key_policy="strict", header_policy="open"))
    assert d.candidates == ["claude-opus"]
    with pytest.raises(BadRequest) as e:
        decide(cfg(), feats(), req(header_policy="nope"))
    assert "unknown policy" in e.value.message


CONDITIONS = """
    - name: small
      when: {max_tokens: 50}
      to: [claude-small]
    - name: not-en
      when: {language: {not: [en, zh]}}
      to: [kimi-k2]
    - name: pii-card
      when: {pii: [credit_card]}
      to: [claude-opus]
    - name: any-pii
      when: {pii: true}
      to: [claude-small]
    - name: images
      when: {has_images: true}
      to: [claude-opus]
    - name: tools
      when: {has_tools: true}
      to: [kimi-k2]
    - name: streams
      when: {stream: true}
      to: [claude-small]
    - name: team
      when: {key: [team-b]}
      to: [kimi-k2]
    - name: hdr
      when: {header: {X-Tier: gold}}
      to: [claude-opus]
    - name: meta
      when: {metadata: {app: batch}}
      to: [kimi-k2]
    - name: redirect
      when: {model: [claude-small]}
      to: [claude-opus]
    - name: default
      to: [claude-opus]
"""


@pytest.mark.parametrize(
    "f, r, rule",
    [
        (feats(tokens=40), req(), "small"),
        (feats(lang="fr"), req(), "not-en"),
        (feats(lang="en"), req(), "default"),
        (feats(pii=["credit_card"]), req(), "pii-card"),
        (feats(pii=["email"]), req(), "any-pii"),
        (feats(images=True), req(), "images"),
        (feats(tools=True), req(), "tools"),
        (feats(stream=True), req(), "streams"),
        (feats(), req(key_name="team-b"), "team"),
        (feats(), req(key_name="team-a"), "default"),
        (feats(), req(headers={"x-tier": "gold"}), "hdr"),
        (feats(), req(headers={"x-tier": "silver"}), "default"),
        (feats(), req(metadata={"app": "batch"}), "meta"),
        (feats(), req(model="claude-small"), "redirect"),
        (feats(), req(model="kimi-k2"), "pinned"),
    ],
)
def test_every_condition(f, r, rule):
    assert decide(cfg(CONDITIONS), f, r).rule == rule


def test_weights_split_and_fallback_order():
    c = cfg("""
    - name: ab
      to: [claude-opus, kimi-k2]
      weights: [1, 3]
""")
    assert decide(c, feats(), req(), rnd=lambda: 0.1).candidates == ["claude-opus", "kimi-k2"]
    assert decide(c, feats(), req(), rnd=lambda: 0.5).candidates == ["kimi-k2", "claude-opus"]
    # PII removes kimi: the split collapses to what is left.
    assert decide(c, feats(pii=["email"]), req(), rnd=lambda: 0.9).candidates == ["claude-opus"]


def test_trace_says_why_each_rule_held_or_not():
    d = decide(cfg(), feats(lang="zh", pii=["email"]), req())
    rules = [t for t in d.trace if "rule" in t]
    assert rules[0]["rule"] == "long-context" and rules[0]["matched"] is False
    assert rules[1]["rule"] == "chinese" and rules[1]["matched"] is True
    assert rules[1]["removed"][0]["model"] == "kimi-k2"
    assert "PII" in rules[1]["removed"][0]["reason"]


def test_refusal_carries_trace():
    with pytest.raises(NoRoute) as e:
        decide(cfg(), feats(tokens=300_000), req(key_policy="strict"))
    assert any(t.get("rule") == "default" for t in e.value.trace)
