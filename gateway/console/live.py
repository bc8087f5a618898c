"""The console's Live figures, read from the gateway's own Prometheus metrics.

With ``--workers N`` the metrics are merged from every worker's files (as ``/metrics``
does), so whichever worker answers reports the same totals. Counters and histogram
buckets are returned cumulative; the page turns two successive answers into rates and
windowed percentiles (console.js), so no state is kept here and any worker may answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.metrics_core import Metric

from ..breaker import STATE_VALUE
from ..metrics import Metrics, multiprocess_dir


def families(m: Metrics) -> Iterable[Metric]:
    """Every metric family, merged across workers in multiprocess mode (file I/O: call
    it off the event loop then)."""
    path = multiprocess_dir()
    if m.multiprocess and path is not None:
        merged = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(merged, path=path)
        return merged.collect()
    return m.registry.collect()


def _add(table: dict[str, float], key: str, value: float) -> None:
    table[key] = table.get(key, 0.0) + value


def summarize(fams: Iterable[Metric]) -> dict[str, Any]:
    """Cumulative totals by the labels the Live page shows."""
    out: dict[str, Any] = {
        "requests": 0.0, "by_route": {}, "by_provider": {}, "by_model": {}, "by_status": {},
        "upstream_errors": {}, "rejections": {}, "cache": {}, "cost_by_key": {},
        "tokens_by_key": {}, "inflight": 0.0, "latency": {}, "overhead": {}, "circuits": {},
        "config_hash": None,
    }
    for fam in fams:
        for s in fam.samples:
            name, lab, v = s.name, s.labels, s.value
            if name == "gateway_requests_total":
                out["requests"] += v
                _add(out["by_route"], lab["route"], v)
                _add(out["by_provider"], lab["provider"], v)
                _add(out["by_model"], lab["model"], v)
                _add(out["by_status"], lab["status_class"], v)
            elif name == "gateway_upstream_errors_total" and v:
                _add(out["upstream_errors"], lab["kind"], v)
            elif name == "gateway_ratelimit_rejections_total":
                _add(out["rejections"], lab["limit"], v)
            elif name == "gateway_cache_lookups_total":
                _add(out["cache"], lab["result"], v)
            elif name == "gateway_cost_usd_total":
                _add(out["cost_by_key"], lab["key"], v)
            elif name == "gateway_key_tokens_total":
                row = out["tokens_by_key"].setdefault(lab["key"], {})
                _add(row, lab["kind"], v)
            elif name == "gateway_inflight_requests":
                out["inflight"] += v
            elif name == "gateway_request_duration_seconds_bucket":
                _add(out["latency"], lab["le"], v)
            elif name == "gateway_overhead_seconds_bucket":
                _add(out["overhead"], lab["le"], v)
            elif name == "gateway_circuit_state":
                out["circuits"][lab["model"]] = max(out["circuits"].get(lab["model"], 0), v)
            elif name == "gateway_config_info" and v == 1:
                out["config_hash"] = lab["hash"]
    for key in ("latency", "overhead"):
        pairs = sorted(([float(le), n] for le, n in out[key].items()), key=lambda p: p[0])
        # JSON has no infinity: the +Inf bucket's bound is null.
        out[key] = [[le if le != float("inf") else None, n] for le, n in pairs]
    names = {v: k for k, v in STATE_VALUE.items()}
    out["circuits"] = {m: names.get(int(v), str(v)) for m, v in out["circuits"].items()}
    return out
