"""deploy/prometheus: promtool checks, rule unit tests, metric and label references, and
a real Prometheus scraping a gateway registry and evaluating every shipped query."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.metrics import Metrics

from .prometheus_server import PrometheusServer
from .promql import (
    DEPLOY,
    TARGET_LABELS,
    all_queries,
    dashboard_targets,
    grouping_labels,
    metric_catalog,
    metric_names,
    rule_exprs,
    selectors,
)
from .support import load_yaml, require_binary

PROM = DEPLOY / "prometheus"
CATALOG = metric_catalog()


def promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_promtool_check_config() -> None:
    out = promtool("check", "config", "prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_check_rules() -> None:
    out = promtool("check", "rules", "alerts.rules.yml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    out = promtool("test", "rules", "alerts.test.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rule_unit_tests_cover_error_ratio_and_circuit_open() -> None:
    # Each of these alerts must be expected to fire somewhere, not only to stay quiet.
    fired = {
        case["alertname"]
        for test in load_yaml(PROM / "alerts.test.yml")["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {"GatewayHighErrorRatio", "GatewayCircuitOpen", "GatewayDown"} <= fired


def test_promtool_fails_on_a_broken_rule(tmp_path: Path) -> None:
    # Guard against a promtool that accepts anything (the checks above would be vacuous).
    (tmp_path / "bad.rules.yml").write_text(
        "groups:\n- name: x\n  rules:\n  - alert: X\n"
        "    expr: sum(rate(gateway_requests_total[5m])\n")  # unbalanced parenthesis
    out = promtool("check", "rules", "bad.rules.yml", cwd=tmp_path)
    assert out.returncode != 0


def test_scrape_config_targets_every_gateway_replica_and_loads_the_rules() -> None:
    config = load_yaml(PROM / "prometheus.yml")
    assert config["rule_files"] == ["alerts.rules.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    gateway = jobs["llm-gateway"]
    assert gateway.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for sc in gateway["static_configs"] for t in sc["targets"]]
    compose = load_yaml(DEPLOY / "compose.yaml")["services"]
    replicas = sorted(name for name in compose if name.startswith("gateway-"))
    assert sorted(targets) == [f"{name}:8080" for name in replicas]
    assert "kubernetes_sd_configs" in (PROM / "prometheus.yml").read_text()  # documented example


REQUIRED_ALERTS = {
    "GatewayHighErrorRatio", "GatewayCircuitOpen", "GatewayUpstreamDown",
    "GatewayHighLatencyP95", "GatewayHighTTFTP95", "GatewayRateLimitRejectionsSurging",
    "GatewayRedisErrors", "GatewayStoreDegraded", "GatewayCostOverBudget", "GatewayDown",
}


def alert_rules() -> list[dict[str, object]]:
    return [
        rule
        for group in load_yaml(PROM / "alerts.rules.yml")["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_required_alerts_exist_with_for_severity_and_annotations() -> None:
    rules = alert_rules()
    assert REQUIRED_ALERTS <= {r["alert"] for r in rules}
    for rule in rules:
        assert rule.get("for"), f"{rule['alert']}: no `for`"
        labels = rule.get("labels") or {}
        assert isinstance(labels, dict)
        assert labels.get("severity") in {"critical", "warning", "info"}, rule["alert"]
        annotations = rule.get("annotations") or {}
        assert isinstance(annotations, dict)
        assert annotations.get("summary") and annotations.get("description"), rule["alert"]


def test_gateway_down_uses_up_of_the_gateway_job() -> None:
    down = next(r for r in alert_rules() if r["alert"] == "GatewayDown")
    assert str(down["expr"]).strip() == 'up{job="llm-gateway"} == 0'


QUERIES = rule_exprs() + dashboard_targets()


@pytest.mark.parametrize(("source", "expr"), QUERIES, ids=[s for s, _ in QUERIES])
def test_every_metric_and_label_in_queries_exists(source: str, expr: str) -> None:
    names = metric_names(expr)
    unknown = {n for n in names if n not in CATALOG}
    # A suffix-stripped hint makes the usual mistakes obvious (gateway_requests without
    # _total, a histogram name without _bucket in histogram_quantile).
    assert not unknown, f"{source}: not exported by gateway/metrics.py: {unknown}"
    for metric, labels in selectors(expr):
        if metric in CATALOG:
            extra = labels - CATALOG[metric] - TARGET_LABELS
            assert not extra, f"{source}: {metric} has no label(s) {extra}"
    if names:
        known = set().union(*(CATALOG[n] for n in names)) | TARGET_LABELS | {"le"}
        extra = grouping_labels(expr) - known
        assert not extra, f"{source}: grouping by unknown label(s) {extra}"


def test_histogram_quantile_reads_buckets_only() -> None:
    for source, expr in QUERIES:
        if "histogram_quantile" in expr:
            assert all(n.endswith("_bucket") for n in metric_names(expr)), source
            assert "le" in grouping_labels(expr), source


# --- a real Prometheus -------------------------------------------------------------


def _populate(m: Metrics, step: int) -> None:
    """Traffic on every metric, so each dashboard query has something to show."""
    for surface, provider, model, route in (
        ("openai", "kimi", "kimi-k2-0905-preview", "chinese"),
        ("anthropic", "claude", "claude-opus-4-5", "default"),
    ):
        for status, n in (("2xx", 20), ("4xx", 2), ("5xx", 1)):
            m.requests.labels(surface, provider, model, route, status, "true").inc(n)
        for i in range(10):
            m.request_duration.labels(surface, provider, model).observe(0.2 + i)
            m.upstream_duration.labels(provider, model).observe(0.1 + i)
            m.ttft.labels(provider, model).observe(0.05 * (i + 1))
            m.overhead.labels(surface).observe(0.0001 * (i + 1))
        m.tokens.labels(provider, model, "input").inc(1000)
        m.tokens.labels(provider, model, "output").inc(300)
        m.tokens.labels(provider, model, "cached").inc(200)
        m.cost.labels(provider, model, "team-a").inc(0.01)
        m.key_tokens.labels("team-a", "input").inc(1000)
        m.key_tokens.labels("team-a", "output").inc(300)
        m.upstream_errors.labels(provider, "timeout").inc()
    m.routing_decisions.labels("default", "claude-opus").inc(5)
    m.fallbacks.labels("claude-opus", "kimi-k2", "529").inc()
    m.circuit_state.labels("claude-opus").set(step % 3)
    m.cache_lookups.labels("hit").inc(3)
    m.cache_lookups.labels("miss").inc(7)
    m.ratelimit_rejections.labels("rpm", "team-a").inc()
    m.inflight.labels("openai").set(4)
    for _ in range(5):
        m.redis_duration.labels("evalsha").observe(0.0008)
    m.redis_errors.labels("evalsha").inc()
    m.config_reloads.labels("success").inc()
    m.set_config_hash("cafe0123")


class _Exporter:
    """A loopback HTTP server exposing one gateway registry, fed as time passes."""

    def __init__(self) -> None:
        self.metrics = Metrics(CollectorRegistry(), version="0.0.0-test")
        self._lock = threading.Lock()
        self._step = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with exporter._lock:
                    exporter._step += 1
                    _populate(exporter.metrics, exporter._step)
                    body, ctype = exporter.metrics.render(self.headers.get("Accept"))
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Exporter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with _Exporter() as exporter, PrometheusServer(
            [f"127.0.0.1:{exporter.port}"], [PROM / "alerts.rules.yml"]) as prom:
        # Four scrapes: every rate() has samples and the circuit gauge has moved.
        prom.wait_scraped_after(time.time(), times=4, timeout=60)
        yield prom


def test_prometheus_scrapes_the_gateway_exposition(prometheus: PrometheusServer) -> None:
    data = prometheus.query('up{job="llm-gateway"}')
    assert [r["value"][1] for r in data["data"]["result"]] == ["1"]
    targets = prometheus.get("/api/v1/targets")
    health = [t["lastError"] for t in targets["data"]["activeTargets"]]
    assert health == [""]


ALL = all_queries()


@pytest.mark.parametrize(("source", "expr"), ALL, ids=[s for s, _ in ALL])
def test_query_evaluates_in_prometheus(prometheus: PrometheusServer, source: str,
                                       expr: str) -> None:
    data = prometheus.query(expr)
    assert data.get("status") == "success", f"{source}: {data.get('error')}\n{expr}"
    if source.startswith("gateway.json"):
        # With traffic on every metric, every panel must show something.
        result = data["data"]["result"]
        assert result, f"{source}: no data\n{expr}"
        values = [float(r["value"][1]) for r in result]
        assert any(v == v for v in values), f"{source}: only NaN\n{expr}"


def test_rules_load_in_prometheus_without_errors(prometheus: PrometheusServer) -> None:
    data = prometheus.get("/api/v1/rules")
    rules = [r for g in data["data"]["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} >= REQUIRED_ALERTS
    broken = {r["name"]: r.get("lastError") for r in rules if r.get("health") == "err"}
    assert not broken
