"""deploy/grafana: the dashboard's structure, its metric coverage, and the provisioning
that loads it in the compose stack."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .promql import (
    DEPLOY,
    _walk_panels,
    dashboard_files,
    dashboard_targets,
    metric_catalog,
    metric_names,
    variables_in,
)
from .support import load_yaml

GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "gateway.json"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in _walk_panels(dashboard["panels"]) if p["type"] != "row"]


def test_every_dashboard_file_parses_and_has_a_uid() -> None:
    files = dashboard_files()
    assert DASHBOARD in files
    uids = [json.loads(f.read_text())["uid"] for f in files]
    assert all(uids) and len(set(uids)) == len(uids)


def test_panel_ids_unique_and_grid_does_not_overlap(dashboard: dict[str, Any]) -> None:
    all_panels = list(_walk_panels(dashboard["panels"]))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids))
    occupied: dict[tuple[int, int], str] = {}
    for p in all_panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in occupied, f"{p['title']} overlaps {occupied[(x, y)]}"
                occupied[(x, y)] = p["title"]


def test_panels_query_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for p in panels(dashboard):
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], f"{p['title']}: no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"]
            assert t["expr"].strip()


def test_template_variables_are_defined_and_used_as_regex(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    for source, expr in dashboard_targets():
        used = {v for v in variables_in(expr) if not v.startswith("__")}
        assert used <= defined, f"{source}: undefined {used - defined}"
        for var in used:
            # A multi-value variable expands to a regex alternation: only =~ matches it.
            assert f'=~"${var}"' in expr or f'=~"${{{var}}}"' in expr, f"{source}: ${var}"
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            assert v["allValue"] == ".*" and v["includeAll"]
            names = metric_names(v["query"]["query"])
            assert names and names <= set(metric_catalog()), v["name"]


def test_dashboard_uses_every_gateway_metric() -> None:
    # A metric nobody can see is a metric nobody will notice breaking.
    used = {n for _, expr in dashboard_targets() for n in metric_names(expr)}
    families = {
        name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count")
        .removesuffix("_sum")
        for name in used
    }
    exported = {
        name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count")
        .removesuffix("_sum")
        for name in metric_catalog()
    }
    assert exported - families == set()


@pytest.mark.parametrize(("topic", "needle"), [
    ("traffic by provider", "sum by (provider) (rate(gateway_requests_total"),
    ("traffic by rule", "sum by (route) (rate(gateway_requests_total"),
    ("error ratio", 'status_class="5xx"'),
    ("latency p95", "histogram_quantile(0.95, sum by (le, provider) "
                    "(rate(gateway_request_duration_seconds_bucket"),
    ("ttft p95", "histogram_quantile(0.95, sum by (le, model) "
                 "(rate(gateway_time_to_first_token_seconds_bucket"),
    ("overhead p99", "histogram_quantile(0.99, sum by (le, surface) "
                     "(rate(gateway_overhead_seconds_bucket"),
    ("tokens", "rate(gateway_tokens_total"),
    ("cost", "rate(gateway_cost_usd_total"),
    ("cache hit ratio", 'gateway_cache_lookups_total{result="hit"}'),
    ("rate-limit rejections", "rate(gateway_ratelimit_rejections_total"),
    ("fallbacks", "rate(gateway_fallbacks_total"),
    ("breaker state", "gateway_circuit_state"),
    ("upstream errors by kind", "sum by (provider, kind) (rate(gateway_upstream_errors_total"),
    ("in-flight", "gateway_inflight_requests"),
    ("redis latency", "gateway_redis_command_duration_seconds_bucket"),
    ("redis errors", "rate(gateway_redis_errors_total"),
])
def test_dashboard_covers(topic: str, needle: str) -> None:
    assert any(needle in expr for _, expr in dashboard_targets()), topic


def test_circuit_panel_maps_states_to_names(dashboard: dict[str, Any]) -> None:
    panel = next(p for p in panels(dashboard) if "gateway_circuit_state" in p["targets"][0]["expr"])
    mapping = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {k: v["text"] for k, v in mapping.items()} == {
        "0": "closed", "1": "half-open", "2": "open"}


def test_datasource_provisioning_points_at_compose_prometheus() -> None:
    files = sorted((GRAFANA / "provisioning" / "datasources").glob("*.yaml"))
    assert files
    sources = [ds for f in files for ds in load_yaml(f)["datasources"]]
    prom = [ds for ds in sources if ds["type"] == "prometheus"]
    assert len(prom) == 1 and prom[0]["isDefault"] is True
    compose = load_yaml(DEPLOY / "compose.yaml")["services"]
    assert prom[0]["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose["prometheus"]["ports"]
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["global"]["scrape_interval"]
    assert prom[0]["jsonData"]["timeInterval"] == scrape


def test_dashboard_provisioning_path_is_where_compose_mounts_the_json() -> None:
    files = sorted((GRAFANA / "provisioning" / "dashboards").glob("*.yaml"))
    providers = [p for f in files for p in load_yaml(f)["providers"]]
    assert len(providers) == 1 and providers[0]["type"] == "file"
    path = providers[0]["options"]["path"]
    grafana = load_yaml(DEPLOY / "compose.yaml")["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"]
                  if v.startswith("./"))
    assert mounts["./grafana/dashboards"] == path
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{path}/{DASHBOARD.name}"
