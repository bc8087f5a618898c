"""The routing decision: rules + policies + context windows -> ordered candidates.

Pure: a function of the config, the request's features and a few request facts
(requested model, key, policy header, headers, metadata). No I/O, so every rule,
condition and constraint is table-tested, and the explain view (``POST
/v1/gateway/route``) returns exactly what the proxy then does. What depends on the
config alone (each rule's conditions and targets, the effective policies) is derived
once per config object (``_routes``), not per request.

Semantics (README, "Routing"):
- ``model: auto`` is routed by the rules, first rule whose ``when`` holds *and* that
  keeps a candidate wins.
- A pinned alias goes to that model, unless a rule lists the alias in ``when.model``
  and holds (an explicit redirect); either way the policy applies, and a pinned model
  the policy forbids is a 403, never a silent reroute.
- A requested name that is not an alias goes through ``model_map`` first (the trace
  shows the entry that matched); the mapped alias or ``auto`` is then routed as if asked.
- Candidates of a rule: its ``to`` list less models whose provider the policy forbids,
  less (when PII was found) providers outside ``pii_providers``, less models whose
  context window cannot hold prompt + requested output.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any, Protocol

from .config import GatewayConfig, ModelConfig, RuleConfig, RuleWhen
from .errors import BadRequest, GatewayError, ModelNotFound, NoRoute, PolicyForbidden

PINNED = "pinned"


class FeatureLike(Protocol):
    @property
    def tokens(self) -> int: ...
    @property
    def requested_output(self) -> int | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def pii(self) -> frozenset[str]: ...
    @property
    def has_images(self) -> bool: ...
    @property
    def has_tools(self) -> bool: ...
    @property
    def stream(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """The request facts routing may look at, besides its features."""

    model: str
    key_name: str | None = None
    key_policy: str | None = None
    header_policy: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    names: tuple[str, ...]
    providers: frozenset[str] | None  # None: no constraint
    pii_providers: frozenset[str] | None

    def describe(self) -> str:
        return " + ".join(repr(n) for n in self.names)


@dataclass(slots=True)
class Decision:
    rule: str
    candidates: list[str]
    policy: EffectivePolicy
    trace: list[dict[str, Any]]

    @property
    def model(self) -> str:
        return self.candidates[0]


def effective_policy(cfg: GatewayConfig, req: RouteRequest) -> EffectivePolicy:
    names = [req.key_policy or cfg.routing.default_policy]
    if req.header_policy:
        if req.header_policy not in cfg.policies:
            raise BadRequest(
                f"unknown policy {req.header_policy!r} in x-gateway-policy; "
                f"known: {sorted(cfg.policies)}",
                param="x-gateway-policy",
            )
        if req.header_policy not in names:
            names.append(req.header_policy)
    providers: frozenset[str] | None = None
    pii: frozenset[str] | None = None
    # Constraints only intersect: a second policy can narrow, never widen.
    for n in names:
        p = cfg.policies[n]
        if p.providers is not None:
            s = frozenset(p.providers)
            providers = s if providers is None else providers & s
        if p.pii_providers is not None:
            s = frozenset(p.pii_providers)
            pii = s if pii is None else pii & s
    return EffectivePolicy(tuple(names), providers, pii)


def requested_output(f: FeatureLike, m: ModelConfig) -> int:
    """The output the model will be asked for: the request's, capped at the model's
    ``max_output_tokens`` as the surfaces cap it, else the model's default."""
    out = f.requested_output if f.requested_output is not None else m.default_max_tokens
    return min(out, m.max_output_tokens) if m.max_output_tokens is not None else out


def _why_removed(
    alias: str, m: ModelConfig, f: FeatureLike, pol: EffectivePolicy
) -> tuple[str, str] | None:
    """Why a model cannot serve this request: (kind, reason), or None if it can."""
    if pol.providers is not None and m.provider not in pol.providers:
        return "policy", (
            f"policy {pol.describe()} allows only providers {sorted(pol.providers)}, "
            f"not {m.provider!r}"
        )
    if f.pii and pol.pii_providers is not None and m.provider not in pol.pii_providers:
        return "pii", (
            f"the prompt contains PII ({_pii_where(f)}) and policy "
            f"{pol.describe()} sends PII only to {sorted(pol.pii_providers)}, not {m.provider!r}"
        )
    out = requested_output(f, m)
    if f.tokens + out > m.context_window:
        return "context", (
            f"its {m.context_window}-token window cannot hold a {f.tokens}-token prompt "
            f"plus {out} output tokens"
        )
    return None


def _pii_where(f: FeatureLike) -> str:
    """"email in messages[1].content, phone in stop[0]": the field of each kind (features
    that do not know their fields give the kinds alone)."""
    fields = dict(getattr(f, "pii_fields", ()))
    unverified: frozenset[str] = getattr(f, "pii_unverified", frozenset())
    parts = []
    for kind in sorted(f.pii):
        part = f"{kind} in {fields[kind]}" if kind in fields else kind
        if kind in unverified:
            part += " (unverified: more candidates than the scan checks, so counted)"
        parts.append(part)
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class _Condition:
    """One part of a rule's ``when``: whether it holds, and what it says (the trace's
    reason), both of the request's features and facts."""

    test: Callable[[FeatureLike, RouteRequest], bool]
    why: Callable[[FeatureLike, RouteRequest], str]


def _conditions(w: RuleWhen) -> tuple[_Condition, ...]:
    """A rule's condition as its parts, in the order the trace gives them (built once
    per config: what does not depend on the request is formatted here)."""
    out: list[_Condition] = []
    if w.min_tokens is not None:
        out.append(_tokens_at_least(w.min_tokens))
    if w.max_tokens is not None:
        out.append(_tokens_at_most(w.max_tokens))
    if isinstance(w.language, list):
        out.append(_language_in(w.language))
    elif w.language is not None:
        out.append(_language_not_in(w.language.not_))
    if isinstance(w.pii, bool):
        out.append(_pii_is(w.pii))
    elif w.pii is not None:
        out.append(_pii_any_of(w.pii))
    for name in ("has_images", "has_tools", "stream"):
        want = getattr(w, name)
        if want is not None:
            out.append(_flag_is(name, want))
    if w.model is not None:
        out.append(_model_in(w.model))
    if w.key is not None:
        out.append(_key_in(w.key))
    for h, v in (w.header or {}).items():
        out.append(_header_is(h, v))
    for k, v in (w.metadata or {}).items():
        out.append(_metadata_is(k, v))
    return tuple(out)


def _tokens_at_least(lo: int) -> _Condition:
    return _Condition(lambda f, r: f.tokens >= lo, lambda f, r: f"tokens {f.tokens} >= {lo}")


def _tokens_at_most(hi: int) -> _Condition:
    return _Condition(lambda f, r: f.tokens <= hi, lambda f, r: f"tokens {f.tokens} <= {hi}")


def _language_in(langs: list[str]) -> _Condition:
    said = f" in {langs}"
    return _Condition(lambda f, r: f.language in langs,
                      lambda f, r: f"language {f.language}{said}")


def _language_not_in(langs: list[str]) -> _Condition:
    said = f" not in {langs}"
    return _Condition(lambda f, r: f.language not in langs,
                      lambda f, r: f"language {f.language}{said}")


def _pii_is(want: bool) -> _Condition:
    said = f" is {want}"
    return _Condition(lambda f, r: bool(f.pii) == want, lambda f, r: f"pii {sorted(f.pii)}{said}")


def _pii_any_of(kinds: list[str]) -> _Condition:
    said, wanted = f" any of {kinds}", frozenset(kinds)
    return _Condition(lambda f, r: bool(f.pii & wanted),
                      lambda f, r: f"pii {sorted(f.pii)}{said}")


def _flag_is(name: str, want: bool) -> _Condition:
    return _Condition(lambda f, r: getattr(f, name) == want, _constant(f"{name} is {want}"))


def _model_in(models: list[str]) -> _Condition:
    said = f" in {models}"
    return _Condition(lambda f, r: r.model in models, lambda f, r: f"model {r.model}{said}")


def _key_in(keys: list[str]) -> _Condition:
    said = f" in {keys}"
    return _Condition(lambda f, r: r.key_name in keys, lambda f, r: f"key {r.key_name}{said}")


def _header_is(name: str, value: str) -> _Condition:
    return _Condition(lambda f, r: r.headers.get(name) == value,
                      _constant(f"header {name} == {value!r}"))


def _metadata_is(key: str, value: str) -> _Condition:
    return _Condition(lambda f, r: str(r.metadata.get(key)) == value,
                      _constant(f"metadata.{key} == {value!r}"))


def _constant(text: str) -> Callable[[FeatureLike, RouteRequest], str]:
    return lambda f, r: text


def _holds(conds: tuple[_Condition, ...], f: FeatureLike, req: RouteRequest
           ) -> tuple[bool, str]:
    """Whether a rule's condition holds, and a short reason either way."""
    for c in conds:
        if not c.test(f, req):
            return False, "not " + c.why(f, req)
    if not conds:
        return True, "always"
    return True, "; ".join([c.why(f, req) for c in conds])


@dataclass(frozen=True, slots=True)
class _Rule:
    """A routing rule as ``_decide`` walks it."""

    rule: RuleConfig
    conditions: tuple[_Condition, ...]
    # The aliases a pinned request must name for the rule to apply (``when.model``).
    pinned_by: frozenset[str]
    to: tuple[tuple[str, ModelConfig], ...]


class _Routes:
    """What routing derives from one config, once (a snapshot's config never changes):
    the rules' conditions and targets, and the effective policies met so far."""

    __slots__ = ("__weakref__", "policies", "rules")

    def __init__(self, cfg: GatewayConfig) -> None:
        self.rules = tuple(
            _Rule(r, _conditions(r.when), frozenset(r.when.model or ()),
                  tuple((a, cfg.models[a]) for a in r.to))
            for r in cfg.routing.rules)
        self.policies: dict[tuple[str | None, str | None], EffectivePolicy] = {}

    def policy(self, cfg: GatewayConfig, req: RouteRequest) -> EffectivePolicy:
        key = (req.key_policy, req.header_policy)
        pol = self.policies.get(key)
        if pol is None:
            pol = effective_policy(cfg, req)  # raises on an unknown policy: not kept
            if len(self.policies) < _MAX_POLICIES:
                self.policies[key] = pol
        return pol


# Effective policies kept per config: the key and header pairs the config allows
# (a header naming an unknown policy is refused before it is kept).
_MAX_POLICIES = 256
_ROUTES: dict[int, _Routes] = {}  # by id() of a live config; dropped when it is


def _routes(cfg: GatewayConfig) -> _Routes:
    routes = _ROUTES.get(id(cfg))
    if routes is None:
        routes = _ROUTES[id(cfg)] = _Routes(cfg)
        weakref.finalize(cfg, _ROUTES.pop, id(cfg), None)
    return routes


def _order(rule: RuleConfig, kept: list[str], rnd: Callable[[], float]) -> list[str]:
    """A weighted rule picks its first candidate by weight; the rest stay as fallbacks."""
    if rule.weights is None or len(kept) < 2:
        return kept
    w = dict(zip(rule.to, rule.weights))
    total = sum(w[a] for a in kept)
    if total <= 0:
        return kept
    x = rnd() * total
    for a in kept:
        x -= w[a]
        if x < 0:
            return [a] + [b for b in kept if b != a]
    return kept


def map_model(cfg: GatewayConfig, name: str) -> tuple[str, str | None]:
    """``(model, map entry)``: a name that is neither ``auto`` nor an alias goes through
    ``model_map`` (an exact entry first, then the glob patterns in config order)."""
    if name == "auto" or name in cfg.models or not cfg.model_map:
        return name, None
    target = cfg.model_map.get(name)
    if target is not None:
        return target, name
    for pattern, target in cfg.model_map.items():
        if fnmatchcase(name, pattern):
            return target, pattern
    return name, None


def decide(
    cfg: GatewayConfig,
    f: FeatureLike,
    req: RouteRequest,
    *,
    rnd: Callable[[], float] = random.random,
) -> Decision:
    """Route a request; a refusal is raised with its ``trace`` attached for the explain view."""
    trace: list[dict[str, Any]] = []
    try:
        return _decide(cfg, f, req, rnd, trace)
    except GatewayError as exc:
        exc.trace = trace
        raise


def _decide(
    cfg: GatewayConfig,
    f: FeatureLike,
    req: RouteRequest,
    rnd: Callable[[], float],
    trace: list[dict[str, Any]],
) -> Decision:
    routes = _routes(cfg)
    pol = routes.policy(cfg, req)
    trace.append({"policy": list(pol.names)})
    mapped, map_entry = map_model(cfg, req.model)
    if map_entry is not None:
        trace.append({"model_map": {"requested": req.model, "entry": map_entry,
                                    "model": mapped}})
        req = replace(req, model=mapped)
    pinned = req.model != "auto"
    if pinned and req.model not in cfg.models:
        raise ModelNotFound(
            f"The model {req.model!r} does not exist on this gateway; "
            f"available: {['auto', *cfg.models]}",
            param="model",
        )

    removals: list[tuple[str, str, str]] = []  # (model, kind, reason) over held rules
    for r in routes.rules:
        if pinned and req.model not in r.pinned_by:
            continue
        holds, why = _holds(r.conditions, f, req)
        entry: dict[str, Any] = {"rule": r.rule.name, "matched": holds, "reason": why}
        trace.append(entry)
        if not holds:
            continue
        kept, removed = [], []
        for alias, model in r.to:
            out = _why_removed(alias, model, f, pol)
            if out is None:
                kept.append(alias)
            else:
                removed.append({"model": alias, "reason": out[1]})
                removals.append((alias, out[0], out[1]))
        entry["removed"] = removed
        entry["candidates"] = kept
        if kept:
            return Decision(r.rule.name, _order(r.rule, kept, rnd), pol, trace)

    if pinned:
        m = cfg.models[req.model]
        refused = _why_removed(req.model, m, f, pol)
        entry = {"rule": PINNED, "matched": True, "reason": f"model {req.model} requested"}
        trace.append(entry)
        if refused is None:
            entry["candidates"] = [req.model]
            return Decision(PINNED, [req.model], pol, trace)
        entry["removed"] = [{"model": req.model, "reason": refused[1]}]
        msg = f"model {req.model!r} cannot serve this request: {refused[1]}"
        if refused[0] in ("policy", "pii"):
            raise PolicyForbidden(msg, param="model")
        raise BadRequest(msg, param="messages", code="context_length_exceeded")

    if not removals:
        raise NoRoute("no routing rule matched this request (add a catch-all rule without `when`)")
    seen: dict[str, str] = {}
    for alias, _, reason in removals:
        seen.setdefault(alias, reason)
    detail = "; ".join(f"{a}: {r}" for a, r in seen.items())
    msg = f"no model can serve this request: {detail}"
    if all(kind in ("policy", "pii") for _, kind, _ in removals):
        raise PolicyForbidden(msg)
    raise NoRoute(msg, code="context_length_exceeded" if any(
        k == "context" for _, k, _ in removals) else "no_route")
