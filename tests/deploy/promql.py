"""Every PromQL expression the deploy files ship, ready to evaluate.

``all_queries()`` returns ``(source, expression)`` for every Grafana panel target in
``deploy/grafana/dashboards/*.json`` and every alert or recording rule in
``deploy/prometheus/*.rules.yml``, with Grafana's variables replaced so the expression
runs as is against Prometheus' HTTP API (``/api/v1/query``):

=====================================  =====================================
``$__rate_interval``, ``$__interval``  ``1m``
``$__range``                           ``1h``
``$__range_s``                         ``3600``
``$provider``, ``${model}``, ...       ``.*`` (every dashboard variable is used with ``=~``)
=====================================  =====================================

Run it to print them as JSON: ``python -m tests.deploy.promql``.
It also offers ``metric_catalog()``, the sample names and label names that
``gateway.metrics.Metrics`` exports, and a loose PromQL scanner for the tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from gateway.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
RULES = DEPLOY / "prometheus"

# Label names Prometheus adds at scrape time, usable on any series.
TARGET_LABELS = frozenset({"job", "instance"})

_BUILTIN_VARS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
_VAR = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)")
_METRIC = re.compile(r"\bgateway_[a-z_]+\b")
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def substitute(expr: str) -> str:
    """Replace Grafana variables by values Prometheus accepts."""
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return _BUILTIN_VARS.get(name, ".*")
    return _VAR.sub(repl, expr)


def variables_in(expr: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in _VAR.finditer(expr)}


def _walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk_panels(panel.get("panels", []))  # collapsed rows nest panels


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def rule_files() -> list[Path]:
    return sorted(RULES.glob("*.rules.yml"))


def dashboard_targets() -> list[tuple[str, str]]:
    """(source, raw expression) for every panel target, variables not substituted."""
    out = []
    for path in dashboard_files():
        dashboard = json.loads(path.read_text())
        for panel in _walk_panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if expr:
                    source = f"{path.name}: panel {panel.get('title')!r} {target.get('refId')}"
                    out.append((source, expr))
    return out


def rule_exprs() -> list[tuple[str, str]]:
    """(source, expression) for every alerting and recording rule."""
    out = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                kind = "alert" if "alert" in rule else "record"
                out.append((f"{path.name}: {kind} {name}", rule["expr"].strip()))
    return out


def all_queries() -> list[tuple[str, str]]:
    """Every dashboard target and rule expression, runnable against Prometheus."""
    return [(s, substitute(e)) for s, e in dashboard_targets()] + rule_exprs()


def metric_names(expr: str) -> set[str]:
    """The gateway_* series names an expression reads (loose: a regex, not a parser)."""
    return set(_METRIC.findall(expr))


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched) for every ``metric{...}`` in an expression."""
    return [(m.group(1), set(_MATCHER.findall(m.group(2)))) for m in _SELECTOR.finditer(expr)]


def grouping_labels(expr: str) -> set[str]:
    """Label names in by/without/on/ignoring/group_left/group_right clauses."""
    return {
        label.strip()
        for m in _GROUPING.finditer(expr)
        for label in m.group(1).split(",")
        if label.strip()
    }


def metric_catalog() -> dict[str, frozenset[str]]:
    """Sample name -> label names, for every series ``gateway.metrics.Metrics`` exports.

    Counters appear as ``<name>_total``; histograms as ``_bucket`` (with ``le``),
    ``_sum`` and ``_count``; gauges under their own name.
    """
    metrics = Metrics(CollectorRegistry(), version="catalog")
    out: dict[str, frozenset[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        name, labels = value._name, frozenset(value._labelnames)
        if value._type == "counter":
            out[f"{name}_total"] = labels
        elif value._type == "histogram":
            out[f"{name}_bucket"] = labels | {"le"}
            out[f"{name}_sum"] = labels
            out[f"{name}_count"] = labels
        else:
            out[name] = labels
    return out


if __name__ == "__main__":
    print(json.dumps([{"source": s, "expr": e} for s, e in all_queries()], indent=2))
