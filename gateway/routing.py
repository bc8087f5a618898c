"""The routing decision: rules + policies + context windows -> ordered candidates.

Pure: a function of the config, the request's features and a few request facts
(requested model, key, policy header, headers, metadata). No I/O, so every rule,
condition and constraint is table-tested, and the explain view (``POST
/v1/gateway/route``) returns exactly what the proxy then does.

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


def _when_holds(w: RuleWhen, f: FeatureLike, req: RouteRequest) -> tuple[bool, str]:
    """Whether a rule's condition holds, and a short reason either way."""
    checks: list[tuple[bool, str]] = []
    if w.min_tokens is not None:
        checks.append((f.tokens >= w.min_tokens, f"tokens {f.tokens} >= {w.min_tokens}"))
    if w.max_tokens is not None:
        checks.append((f.tokens <= w.max_tokens, f"tokens {f.tokens} <= {w.max_tokens}"))
    if w.language is not None:
        if isinstance(w.language, list):
            checks.append((f.language in w.language, f"language {f.language} in {w.language}"))
        else:
            checks.append(
                (f.language not in w.language.not_, f"language {f.language} not in {w.language.not_}")
            )
    if w.pii is not None:
        if isinstance(w.pii, bool):
            checks.append((bool(f.pii) == w.pii, f"pii {sorted(f.pii)} is {w.pii}"))
        else:
            checks.append((bool(f.pii & set(w.pii)), f"pii {sorted(f.pii)} any of {w.pii}"))
    for name in ("has_images", "has_tools", "stream"):
        want = getattr(w, name)
        if want is not None:
            checks.append((getattr(f, name) == want, f"{name} is {want}"))
    if w.model is not None:
        checks.append((req.model in w.model, f"model {req.model} in {w.model}"))
    if w.key is not None:
        checks.append((req.key_name in w.key, f"key {req.key_name} in {w.key}"))
    if w.header is not None:
        for h, v in w.header.items():
            checks.append((req.headers.get(h) == v, f"header {h} == {v!r}"))
    if w.metadata is not None:
        for k, v in w.metadata.items():
            checks.append((str(req.metadata.get(k)) == v, f"metadata.{k} == {v!r}"))
    for ok, why in checks:
        if not ok:
            return False, "not " + why
    return True, "; ".join(why for _, why in checks) or "always"


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
    pol = effective_policy(cfg, req)
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
    for rule in cfg.routing.rules:
        if pinned and (rule.when.model is None or req.model not in rule.when.model):
            continue
        holds, why = _when_holds(rule.when, f, req)
        entry: dict[str, Any] = {"rule": rule.name, "matched": holds, "reason": why}
        trace.append(entry)
        if not holds:
            continue
        kept, removed = [], []
        for alias in rule.to:
            r = _why_removed(alias, cfg.models[alias], f, pol)
            if r is None:
                kept.append(alias)
            else:
                removed.append({"model": alias, "reason": r[1]})
                removals.append((alias, r[0], r[1]))
        entry["removed"] = removed
        entry["candidates"] = kept
        if kept:
            return Decision(rule.name, _order(rule, kept, rnd), pol, trace)

    if pinned:
        m = cfg.models[req.model]
        r = _why_removed(req.model, m, f, pol)
        entry = {"rule": PINNED, "matched": True, "reason": f"model {req.model} requested"}
        trace.append(entry)
        if r is None:
            entry["candidates"] = [req.model]
            return Decision(PINNED, [req.model], pol, trace)
        entry["removed"] = [{"model": req.model, "reason": r[1]}]
        msg = f"model {req.model!r} cannot serve this request: {r[1]}"
        if r[0] in ("policy", "pii"):
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
