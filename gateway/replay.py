"""What-if: route recorded requests again through a draft config and compare.

A recorded request is an access-log record (or the console's recent-decision ring,
which holds the same records) with its ``routing`` field: the requested model, the
decision's first choice, the policies in force and the features. Routing is pure
(``routing.decide``), so a draft config decides exactly what it would decide live for
the same features; nothing is sent anywhere.

Conventions (README, "What-if and gateway replay"):
- "before" is the recorded decision's first choice; "after" is the draft's. A request
  the draft would refuse counts as changed, with the error code as its model.
- The key's policy is looked up by the recorded key name in the draft (a key the draft
  no longer has gets the draft's default policy); a second recorded policy (the
  ``x-gateway-policy`` header) is applied again.
- ``header`` and ``metadata`` conditions see no headers and no metadata: the access
  log does not record them.
- A weighted rule draws with a number derived from the request id, so a replay is
  reproducible.
- Spend: only requests that were answered by a provider (status 200, not a cache hit)
  count. "before" is their recorded ``cost_usd``; "after" prices the same recorded usage
  (input, cached input, output tokens) at the draft's prices for the draft's model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .config import GatewayConfig
from .errors import GatewayError
from .routing import RouteRequest, decide


@dataclass(frozen=True, slots=True)
class RecordedFeatures:
    """``routing.FeatureLike`` rebuilt from a record's ``routing.features``."""

    tokens: int
    requested_output: int | None
    language: str | None
    pii: frozenset[str]
    has_images: bool
    has_tools: bool
    stream: bool

    @classmethod
    def from_json(cls, f: Any) -> RecordedFeatures | None:
        if not isinstance(f, dict) or not isinstance(f.get("tokens"), int):
            return None
        out = f.get("requested_output")
        return cls(tokens=f["tokens"], requested_output=out if isinstance(out, int) else None,
                   language=f.get("language") if isinstance(f.get("language"), str) else None,
                   pii=frozenset(p for p in f.get("pii") or () if isinstance(p, str)),
                   has_images=f.get("has_images") is True, has_tools=f.get("has_tools") is True,
                   stream=f.get("stream") is True)


def _draw(request_id: Any) -> float:
    """A number in [0, 1) fixed by the request id (weighted rules)."""
    digest = hashlib.sha256(str(request_id).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _cost(cfg: GatewayConfig, alias: str, rec: dict[str, Any]) -> float:
    p = cfg.models[alias].price_per_mtok
    cached = int(rec.get("tokens_cached") or 0)
    tin = int(rec.get("tokens_in") or 0)
    tout = int(rec.get("tokens_out") or 0)
    cached_price = p.cached_input if p.cached_input is not None else p.input
    return ((tin - cached) * p.input + cached * cached_price + tout * p.output) / 1e6


def route_again(cfg: GatewayConfig, rec: dict[str, Any]) -> dict[str, Any] | None:
    """The draft's decision for one record: {rule, model, provider} or {error}; None
    when the record has no routing features (refused before routing)."""
    r = rec.get("routing")
    if not isinstance(r, dict):
        return None
    feats = RecordedFeatures.from_json(r.get("features"))
    if feats is None:
        return None
    key_name = rec.get("key")
    key = next((k for k in cfg.keys if k.name == key_name), None)
    policies = r.get("policy") or []
    header_policy = policies[1] if len(policies) > 1 else None
    try:
        d = decide(cfg, feats, RouteRequest(
            model=str(r.get("requested") or "auto"), key_name=key_name,
            key_policy=key.policy if key is not None else None, header_policy=header_policy),
            rnd=lambda: _draw(rec.get("request_id")))
    except GatewayError as e:
        return {"rule": None, "model": f"refused ({e.code or e.status})", "provider": None}
    return {"rule": d.rule, "model": d.model, "provider": cfg.models[d.model].provider}


def _spends(rec: dict[str, Any]) -> bool:
    return rec.get("status") == 200 and rec.get("cache") != "hit"


def replay(records: Iterable[dict[str, Any]], cfg: GatewayConfig) -> dict[str, Any]:
    """Compare each record's decision with the draft's; the summary the console and
    ``gateway replay`` show."""
    replayed = skipped = changed_model = changed_provider = 0
    before_usd = after_usd = 0.0
    by_rule: dict[str, dict[str, Any]] = {}
    moves: dict[tuple[str, str, str, str], int] = {}
    for rec in records:
        new = route_again(cfg, rec)
        if new is None:
            skipped += 1
            continue
        replayed += 1
        old = rec["routing"]
        model_moved = new["model"] != old.get("model")
        provider_moved = new["provider"] != old.get("provider")
        changed_model += model_moved
        changed_provider += provider_moved
        spend_before = spend_after = 0.0
        if _spends(rec):
            spend_before = float(rec.get("cost_usd") or 0.0)
            if new["rule"] is not None:
                spend_after = _cost(cfg, new["model"], rec)
        before_usd += spend_before
        after_usd += spend_after
        row = by_rule.setdefault(new["rule"] or "(refused)", {
            "rule": new["rule"] or "(refused)", "requests": 0, "changed_model": 0,
            "changed_provider": 0, "spend_before_usd": 0.0, "spend_after_usd": 0.0})
        row["requests"] += 1
        row["changed_model"] += model_moved
        row["changed_provider"] += provider_moved
        row["spend_before_usd"] += spend_before
        row["spend_after_usd"] += spend_after
        if model_moved:
            k = (str(rec.get("route")), str(old.get("model")), new["rule"] or "(refused)",
                 new["model"])
            moves[k] = moves.get(k, 0) + 1
    rules = sorted(by_rule.values(), key=lambda r: -r["requests"])
    for r in rules:
        r["spend_before_usd"] = round(r["spend_before_usd"], 8)
        r["spend_after_usd"] = round(r["spend_after_usd"], 8)
    return {
        "replayed": replayed, "skipped": skipped, "changed_model": changed_model,
        "changed_provider": changed_provider, "spend_before_usd": round(before_usd, 8),
        "spend_after_usd": round(after_usd, 8), "spend_delta_usd": round(after_usd - before_usd, 8),
        "by_rule": rules,
        "moves": [{"from_rule": a, "from_model": b, "to_rule": c, "to_model": d, "requests": n}
                  for (a, b, c, d), n in sorted(moves.items(), key=lambda kv: -kv[1])],
    }


def read_access_log(lines: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    """The access records among JSON log lines (other lines and loggers are skipped).

    Raises ``ValueError`` naming the line when a line that looks like JSON is not."""
    for n, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text[:1] not in ("{", b"{"):
            continue
        try:
            rec = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"line {n} is not valid JSON: {exc}") from None
        if isinstance(rec, dict) and rec.get("logger") == "gateway.access":
            yield rec


def format_summary(s: dict[str, Any]) -> str:
    """The replay summary as the plain-text table ``gateway replay`` prints."""
    lines = [f"replayed {s['replayed']} requests ({s['skipped']} without routing features "
             "skipped)",
             f"would change model: {s['changed_model']}   would change provider: "
             f"{s['changed_provider']}",
             f"estimated spend: ${s['spend_before_usd']:.6f} -> ${s['spend_after_usd']:.6f} "
             f"({s['spend_delta_usd']:+.6f})", "",
             f"{'rule (draft)':<20} {'requests':>8} {'model changed':>13} "
             f"{'provider changed':>16} {'spend before':>13} {'spend after':>12}"]
    for r in s["by_rule"]:
        lines.append(f"{r['rule']:<20} {r['requests']:>8} {r['changed_model']:>13} "
                     f"{r['changed_provider']:>16} {r['spend_before_usd']:>13.6f} "
                     f"{r['spend_after_usd']:>12.6f}")
    if s["moves"]:
        lines += ["", "moves (recorded rule/model -> draft rule/model):"]
        for m in s["moves"]:
            lines.append(f"  {m['requests']:>6}  {m['from_rule']}/{m['from_model']} -> "
                         f"{m['to_rule']}/{m['to_model']}")
    return "\n".join(lines)
