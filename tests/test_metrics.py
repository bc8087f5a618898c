"""gateway.metrics: names, types, labels, buckets, exposition, and multiprocess mode.

The multiprocess tests run real OS processes that write to one directory, the way
uvicorn workers do, and render from the parent like whichever worker serves a scrape.
"""

from __future__ import annotations

import os
import subprocess
import threading
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics as gm
from gateway.metrics import Metrics, render

EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "gateway_requests": (
        "counter", ("surface", "provider", "model", "route", "status_class", "stream")),
    "gateway_request_duration_seconds": ("histogram", ("surface", "provider", "model")),
    "gateway_upstream_duration_seconds": ("histogram", ("provider", "model")),
    "gateway_time_to_first_token_seconds": ("histogram", ("provider", "model")),
    "gateway_overhead_seconds": ("histogram", ("surface",)),
    "gateway_tokens": ("counter", ("provider", "model", "kind")),
    "gateway_cost_usd": ("counter", ("provider", "model", "key")),
    "gateway_key_tokens": ("counter", ("key", "kind")),
    "gateway_routing_decisions": ("counter", ("rule", "model")),
    "gateway_fallbacks": ("counter", ("from_model", "to_model", "reason")),
    "gateway_circuit_state": ("gauge", ("model",)),
    "gateway_cache_lookups": ("counter", ("result",)),
    "gateway_ratelimit_rejections": ("counter", ("limit", "key")),
    "gateway_upstream_errors": ("counter", ("provider", "kind")),
    "gateway_inflight_requests": ("gauge", ("surface",)),
    "gateway_redis_command_duration_seconds": ("histogram", ("command",)),
    "gateway_redis_errors": ("counter", ("command",)),
    "gateway_store_degraded": ("gauge", ()),
    "gateway_config_reloads": ("counter", ("result",)),
    "gateway_config_info": ("gauge", ("hash",)),
    "gateway_build_info": ("gauge", ("version",)),
}

# (attribute, first bucket, last finite bucket)
BUCKETS = {
    "request_duration": (0.01, 600.0),
    "upstream_duration": (0.01, 600.0),
    "ttft": (0.01, 60.0),
    "overhead": (0.00002, 0.05),
    "redis_duration": (0.0001, 1.0),
}


def families(text: str) -> dict[str, prometheus_client.Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample_value(text: str, name: str, **labels: str) -> float:
    """The one sample called ``name`` whose labels include ``labels``."""
    found = [
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def populate(m: Metrics) -> None:
    """One event on every metric, with realistic label values."""
    m.requests.labels("chat_completions", "kimi", "kimi-k2", "chinese", "2xx", "true").inc()
    m.request_duration.labels("chat_completions", "kimi", "kimi-k2").observe(1.5)
    m.upstream_duration.labels("kimi", "kimi-k2").observe(1.4)
    m.ttft.labels("kimi", "kimi-k2").observe(0.4)
    m.overhead.labels("chat_completions").observe(0.0003)
    m.tokens.labels("kimi", "kimi-k2", "input").inc(1200)
    m.cost.labels("kimi", "kimi-k2", "team-a").inc(0.0042)
    m.routing_decisions.labels("chinese", "kimi-k2").inc()
    m.fallbacks.labels("claude-opus", "kimi-k2", "529").inc()
    m.circuit_state.labels("claude-opus").set(gm.CIRCUIT_OPEN)
    m.cache_lookups.labels("miss").inc()
    m.ratelimit_rejections.labels("rpm", "team-a").inc()
    m.upstream_errors.labels("claude", "529").inc()
    m.inflight.labels("messages").inc()
    m.redis_duration.labels("evalsha").observe(0.0007)
    m.redis_errors.labels("evalsha").inc()
    m.store_degraded.set(1)
    m.config_reloads.labels("success").inc()
    m.set_config_hash("0123abcd")


@pytest.fixture
def single(monkeypatch: pytest.MonkeyPatch) -> Metrics:
    monkeypatch.delenv(gm.MULTIPROC_ENV, raising=False)
    return Metrics(CollectorRegistry(), version="1.2.3")


# --- single process --------------------------------------------------------------


def test_names_types_and_labels_are_exactly_the_contract(single: Metrics) -> None:
    got = {
        f.name: f.type
        for f in single.registry.collect()
        if f.name.startswith("gateway_")
    }
    assert got == {name: typ for name, (typ, _) in EXPECTED.items()}
    # Label names in declaration order, read from the objects the app will call.
    by_name = {
        getattr(single, attr)._name: getattr(single, attr)._labelnames
        for attr in vars(single)
        if isinstance(getattr(single, attr), prometheus_client.metrics.MetricWrapperBase)
    }
    assert by_name == {name: labels for name, (_, labels) in EXPECTED.items()}


@pytest.mark.parametrize("attr", sorted(BUCKETS))
def test_histogram_buckets_span_the_specified_range(single: Metrics, attr: str) -> None:
    first, last = BUCKETS[attr]
    histogram = getattr(single, attr)
    labels = ["x"] * len(histogram._labelnames)
    histogram.labels(*labels).observe(first / 2)
    text = render(single.registry)[0].decode()
    bounds = [
        float(s.labels["le"])
        for s in families(text)[histogram._name].samples
        if s.name.endswith("_bucket")
    ]
    assert bounds[0] == pytest.approx(first)
    assert bounds[-2] == pytest.approx(last)
    assert bounds[-1] == float("inf")
    assert bounds == sorted(bounds) and len(bounds) >= 10


def test_exposition_parses_with_every_metric_populated(single: Metrics) -> None:
    populate(single)
    body, content_type = render(single.registry)
    assert content_type.startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert sample_value(text, "gateway_requests_total", stream="true", route="chinese") == 1
    assert sample_value(text, "gateway_cost_usd_total", key="team-a") == pytest.approx(0.0042)
    assert sample_value(text, "gateway_tokens_total", kind="input") == 1200
    assert sample_value(text, "gateway_circuit_state", model="claude-opus") == 2
    assert sample_value(text, "gateway_store_degraded") == 1
    assert sample_value(text, "gateway_config_info", hash="0123abcd") == 1
    assert sample_value(text, "gateway_build_info", version="1.2.3") == 1
    assert sample_value(
        text, "gateway_request_duration_seconds_bucket", model="kimi-k2", le="2.5") == 1
    assert sample_value(
        text, "gateway_request_duration_seconds_bucket", model="kimi-k2", le="1.0") == 0
    assert sample_value(text, "gateway_overhead_seconds_sum") == pytest.approx(0.0003)
    parsed = {f.name for f in text_string_to_metric_families(text)}
    assert {name for name in EXPECTED} <= parsed


def test_render_method_is_the_app_endpoint_body(single: Metrics) -> None:
    populate(single)
    body, content_type = single.render()
    assert content_type == render(single.registry)[1]
    assert sample_value(body.decode(), "gateway_fallbacks_total", reason="529") == 1


def test_openmetrics_is_served_when_asked(single: Metrics) -> None:
    populate(single)
    body, content_type = render(single.registry, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    names = {f.name for f in openmetrics_families(body.decode())}
    assert "gateway_requests" in names and "gateway_request_duration_seconds" in names


def test_label_free_and_small_vocabulary_series_start_at_zero(single: Metrics) -> None:
    text = render(single.registry)[0].decode()
    assert sample_value(text, "gateway_store_degraded") == 0
    assert sample_value(text, "gateway_build_info", version="1.2.3") == 1
    for surface in ("chat_completions", "messages", "responses"):
        assert sample_value(text, "gateway_inflight_requests", surface=surface) == 0
    for result in ("hit", "miss", "bypass"):
        assert sample_value(text, "gateway_cache_lookups_total", result=result) == 0
    for result in ("success", "failure"):
        assert sample_value(text, "gateway_config_reloads_total", result=result) == 0


def test_prime_creates_config_series_at_zero(single: Metrics) -> None:
    single.prime(providers=["kimi", "claude"], models=["kimi-k2", "claude-opus"])
    text = render(single.registry)[0].decode()
    for provider in ("kimi", "claude"):
        for kind in gm.UPSTREAM_ERROR_KINDS:
            assert sample_value(
                text, "gateway_upstream_errors_total", provider=provider, kind=kind) == 0
    assert sample_value(text, "gateway_circuit_state", model="claude-opus") == 0


def test_config_hash_replaces_the_previous_one(single: Metrics) -> None:
    single.set_config_hash("aaa")
    single.set_config_hash("bbb")
    samples = families(render(single.registry)[0].decode())["gateway_config_info"].samples
    assert [(s.labels["hash"], s.value) for s in samples] == [("bbb", 1.0)]


def test_process_metrics_are_in_the_per_app_registry(single: Metrics) -> None:
    names = set(families(render(single.registry)[0].decode()))
    assert "python_info" in names
    if sys.platform == "linux":  # ProcessCollector reads /proc
        assert {"process_cpu_seconds", "process_resident_memory_bytes"} <= names


def test_apps_have_independent_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gm.MULTIPROC_ENV, raising=False)
    a, b = Metrics(), Metrics()
    a.tokens.labels("kimi", "kimi-k2", "output").inc(5)
    labels = {"provider": "kimi", "model": "kimi-k2", "kind": "output"}
    assert a.registry.get_sample_value("gateway_tokens_total", labels) == 5
    assert b.registry.get_sample_value("gateway_tokens_total", labels) is None
    assert not any(
        name.startswith("gateway_") for name in prometheus_client.REGISTRY._names_to_collectors
    )


def test_import_registers_nothing_globally() -> None:
    code = (
        "import prometheus_client, gateway.metrics\n"
        "print(sorted(n for n in prometheus_client.REGISTRY._names_to_collectors"
        " if n.startswith('gateway')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=_env_without_multiproc())
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("status", "expected"), [
    (200, "2xx"), (204, "2xx"), (400, "4xx"), (404, "4xx"), (429, "4xx"),
    (499, "4xx"), (500, "5xx"), (502, "5xx"), (529, "5xx"),
])
def test_status_class(status: int, expected: str) -> None:
    assert gm.status_class(status) == expected


def test_render_none_needs_multiprocess_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gm.MULTIPROC_ENV, raising=False)
    with pytest.raises(ValueError, match="multiprocess"):
        render(None)


def test_metrics_refuse_multiprocess_env_set_after_import(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This test process imported prometheus_client without the variable, so its values
    # live in memory; a silent success would make every scraped metric read zero.
    monkeypatch.setenv(gm.MULTIPROC_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match="before"):
        Metrics()


# --- multiprocess --------------------------------------------------------------------

WORKER = textwrap.dedent("""
    import sys
    from prometheus_client import CollectorRegistry
    from gateway.metrics import Metrics, CIRCUIT_HALF_OPEN, CIRCUIT_OPEN

    n = int(sys.argv[1])
    m = Metrics(CollectorRegistry(), version="9.9.9")
    for _ in range(n):
        m.requests.labels("chat_completions", "claude", "claude-opus", "default", "2xx", "false").inc()
        m.request_duration.labels("chat_completions", "claude", "claude-opus").observe(0.3)
        m.tokens.labels("claude", "claude-opus", "output").inc(10)
    m.cost.labels("claude", "claude-opus", "team-a").inc(0.5 * n)
    m.inflight.labels("chat_completions").inc()
    m.circuit_state.labels("claude-opus").set(CIRCUIT_OPEN if n == 3 else CIRCUIT_HALF_OPEN)
    print("ready", flush=True)
    sys.stdin.readline()  # hold the live gauges until the parent lets this worker go
""")


def _env_without_multiproc() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != gm.MULTIPROC_ENV}


class Worker:
    def __init__(self, directory: str, increments: int) -> None:
        env = _env_without_multiproc() | {gm.MULTIPROC_ENV: directory}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(increments)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", self.proc.stderr.read() if self.proc.stderr else ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.communicate("\n", timeout=30)
        assert self.proc.returncode == 0


@pytest.fixture
def mpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = gm.setup_multiprocess_dir(str(tmp_path))
    monkeypatch.setenv(gm.MULTIPROC_ENV, path)
    yield path


def counter_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every monotonic sample: counter totals and histogram buckets, sums and counts."""
    out = {}
    for family in text_string_to_metric_families(text):
        if family.type in ("counter", "histogram"):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def assert_monotonic(before: str, after: str) -> None:
    old, new = counter_samples(before), counter_samples(after)
    assert set(old) <= set(new), f"series disappeared: {set(old) - set(new)}"
    went_back = {k: (old[k], new[k]) for k in old if new[k] < old[k]}
    assert not went_back, f"counters went backwards: {went_back}"


def test_multiprocess_render_sums_all_workers(mpdir: str) -> None:
    workers = [Worker(mpdir, n) for n in (1, 2, 3)]
    try:
        body, _ = render(None)
        text = body.decode()
        labels = {"model": "claude-opus", "provider": "claude"}
        assert sample_value(text, "gateway_requests_total", **labels) == 6
        assert sample_value(text, "gateway_tokens_total", **labels) == 60
        assert sample_value(text, "gateway_cost_usd_total", **labels) == pytest.approx(3.0)
        assert sample_value(text, "gateway_request_duration_seconds_count", **labels) == 6
        assert sample_value(
            text, "gateway_request_duration_seconds_bucket", le="0.5", **labels) == 6
        assert sample_value(
            text, "gateway_request_duration_seconds_bucket", le="0.25", **labels) == 0
        assert sample_value(text, "gateway_inflight_requests", surface="chat_completions") == 3
        # livemax: the worst breaker state any worker sees, with no per-pid series.
        assert sample_value(text, "gateway_circuit_state", model="claude-opus") == 2
        assert sample_value(text, "gateway_build_info", version="9.9.9") == 1
        assert sample_value(text, "gateway_store_degraded") == 0
        assert "pid=" not in text
        # Per-worker process metrics would alternate between workers: left out.
        assert "process_cpu_seconds" not in text and "python_info" not in text
    finally:
        for w in workers:
            w.stop()


def test_multiprocess_counters_survive_worker_restarts(mpdir: str) -> None:
    first, second = Worker(mpdir, 2), Worker(mpdir, 3)
    before = render(None)[0].decode()
    assert sample_value(before, "gateway_inflight_requests", surface="chat_completions") == 2

    first.stop()
    gm.mark_process_dead(first.pid)  # what a supervisor hook does on worker exit
    after_exit = render(None)[0].decode()
    assert_monotonic(before, after_exit)
    assert sample_value(after_exit, "gateway_requests_total", model="claude-opus") == 5
    assert sample_value(after_exit, "gateway_inflight_requests", surface="chat_completions") == 1
    # Only the surviving worker (n == 3) holds the breaker open now.
    assert sample_value(after_exit, "gateway_circuit_state", model="claude-opus") == 2

    replacement = Worker(mpdir, 1)
    after_restart = render(None)[0].decode()
    assert_monotonic(after_exit, after_restart)
    assert sample_value(after_restart, "gateway_requests_total", model="claude-opus") == 6
    assert sample_value(after_restart, "gateway_inflight_requests", surface="chat_completions") == 2

    # No mark_process_dead this time: the scrape itself reaps the dead worker's gauges.
    second.stop()
    after_crash = render(None)[0].decode()
    assert_monotonic(after_restart, after_crash)
    assert sample_value(after_crash, "gateway_inflight_requests", surface="chat_completions") == 1
    assert sample_value(after_crash, "gateway_circuit_state", model="claude-opus") == 1
    replacement.stop()
    final = render(None)[0].decode()
    assert_monotonic(after_crash, final)
    assert sample_value(final, "gateway_requests_total", model="claude-opus") == 6
    assert sample_value(final, "gateway_tokens_total", kind="output") == 60


def test_setup_multiprocess_dir_is_private_and_clean(tmp_path: Path) -> None:
    base = tmp_path / "metrics"
    ours = base / f"gateway-metrics-{os.getpid()}"
    ours.mkdir(parents=True)
    (ours / "counter_123.db").write_bytes(b"left over from an earlier run")

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = base / f"gateway-metrics-{int(gone.stdout)}"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"x")
    alive = base / f"gateway-metrics-{os.getppid()}"  # another server still running
    alive.mkdir()
    unrelated = base / "something-else"
    unrelated.mkdir()

    path = gm.setup_multiprocess_dir(str(base))

    assert Path(path) == ours
    assert list(ours.iterdir()) == []
    assert (ours.stat().st_mode & 0o777) == 0o700
    assert not stale.exists()
    assert alive.exists() and unrelated.exists()


def test_setup_multiprocess_dir_defaults_to_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # tempfile caches gettempdir()
    path = gm.setup_multiprocess_dir(None)
    assert Path(path).parent == tmp_path and Path(path).is_dir()


# --- config-derived series ---------------------------------------------------------


def test_sync_config_primes_providers_sets_breakers_and_the_config_hash(single: Metrics) -> None:
    single.sync_config(["kimi"], {"kimi-k2": gm.CIRCUIT_CLOSED}, "aaaa")
    single.sync_config(["kimi", "claude"], {"kimi-k2": gm.CIRCUIT_OPEN,
                                            "claude-opus": gm.CIRCUIT_HALF_OPEN}, "bbbb")
    text = render(single.registry)[0].decode()
    for kind in gm.UPSTREAM_ERROR_KINDS:
        assert sample_value(text, "gateway_upstream_errors_total", provider="claude",
                            kind=kind) == 0
    # The breaker's state now, not reset to closed by the re-sync.
    assert sample_value(text, "gateway_circuit_state", model="kimi-k2") == 2
    assert sample_value(text, "gateway_circuit_state", model="claude-opus") == 1
    samples = families(text)["gateway_config_info"].samples
    assert [(s.labels["hash"], s.value) for s in samples] == [("bbbb", 1.0)]


def test_config_fingerprint_is_stable_and_short() -> None:
    a = gm.config_fingerprint({"models": {"x": 1}, "routing": [1, 2]})
    b = gm.config_fingerprint({"routing": [1, 2], "models": {"x": 1}})
    assert a == b and len(a) == 12 and int(a, 16) >= 0
    assert gm.config_fingerprint({"models": {"x": 2}, "routing": [1, 2]}) != a


def test_remove_multiprocess_dir_removes_only_server_directories(tmp_path: Path) -> None:
    ours = Path(gm.setup_multiprocess_dir(str(tmp_path)))
    (ours / "counter_1.db").write_bytes(b"x")
    other = tmp_path / "not-ours"
    other.mkdir()
    gm.remove_multiprocess_dir(str(ours))
    gm.remove_multiprocess_dir(str(other))
    assert not ours.exists() and other.exists()


# --- the finish step's series, looked up once per label set ------------------------

# (surface, provider, model, route, status, stream, key, seconds, overhead, ttft, usage)
FINISHED = [
    ("chat_completions", "claude", "claude-opus-4-5", "default", 200, False, "anonymous",
     0.012, 0.0004, None, (12, 7, 0, 0.000235)),
    ("messages", "none", "none", "none", 401, False, "-", 0.001, 0.001, None, None),
    ("chat_completions", "kimi", "kimi-k2", "chinese", 200, True, "team-a", 0.9, 0.002, 0.2,
     (1500, 0, 300, 0.0)),
    ("chat_completions", "claude", "claude-opus-4-5", "default", 200, False, "anonymous",
     0.02, 0.0003, None, (40, 9, 0, 0.000425)),
    ("responses", "claude", "claude-opus-4-5", "default", 529, True, "team-a", 0.3, 0.0009,
     0.1, (0, 0, 0, 0.0)),
    ("chat_completions", "kimi", "kimi-k2", "chinese", 200, True, "team-a", 0.5, 0.001, 0.05,
     (20, 30, 0, 0.0001)),
]


def record_per_series(m: Metrics, surface: str, provider: str, model: str, route: str,
                      status: int, stream: bool, key: str, seconds: float, overhead: float,
                      ttft: float | None, usage: tuple[int, int, int, float] | None) -> None:
    """An answered request counted with ``labels()`` on every series, every time."""
    m.requests.labels(surface, provider, model, route, gm.status_class(status),
                      "true" if stream else "false").inc()
    m.request_duration.labels(surface, provider, model).observe(seconds)
    m.overhead.labels(surface).observe(overhead)
    if usage is not None:
        if ttft is not None:
            m.ttft.labels(provider, model).observe(ttft)
        tokens_in, tokens_out, cached, cost = usage
        m.tokens.labels(provider, model, "input").inc(tokens_in)
        m.tokens.labels(provider, model, "output").inc(tokens_out)
        m.tokens.labels(provider, model, "cached").inc(cached)
        m.cost.labels(provider, model, key).inc(cost)
        m.key_tokens.labels(key, "input").inc(tokens_in)
        m.key_tokens.labels(key, "output").inc(tokens_out)


def record_by_request_series(m: Metrics, surface: str, provider: str, model: str, route: str,
                             status: int, stream: bool, key: str, seconds: float,
                             overhead: float, ttft: float | None,
                             usage: tuple[int, int, int, float] | None) -> None:
    """The same, as ``Services`` records it."""
    s = m.request_series(surface, provider, model, route, status, stream, key)
    s.requests.inc()
    s.duration.observe(seconds)
    s.overhead.observe(overhead)
    if usage is not None:
        if ttft is not None:
            s.observe_ttft(ttft)
        s.count_usage(*usage)


def gateway_series(m: Metrics) -> list[str]:
    """The exposition's ``gateway_*`` lines, creation times aside."""
    return [line for line in m.render()[0].decode().splitlines()
            if "gateway_" in line and "_created" not in line]


def test_request_series_move_what_labels_per_series_would(single: Metrics) -> None:
    plain = Metrics(CollectorRegistry(), version="1.2.3")
    for i in range(len(FINISHED)):
        # Every prefix: a series appears with its first event, in the same order.
        for request in FINISHED[:i + 1]:
            record_per_series(plain, *request)
            record_by_request_series(single, *request)
        assert gateway_series(single) == gateway_series(plain)
    assert "gateway_time_to_first_token_seconds_count" in "".join(gateway_series(single))


def test_scrapes_racing_to_reap_a_crashed_workers_gauges_all_succeed(mpdir: str) -> None:
    # After a crash, every worker's next scrape finds the dead worker's live-gauge files
    # and removes them: two scrapes at once must both answer (one finds the file the
    # other just removed), as the supervisor's workers do after a SIGKILL.
    survivor = Worker(mpdir, 1)
    try:
        for _ in range(15):
            crashed = Worker(mpdir, 2)
            crashed.stop()
            start = threading.Barrier(6)
            errors: list[BaseException] = []

            def scrape() -> None:
                start.wait()
                try:
                    render(None)
                except BaseException as e:  # noqa: BLE001 - collected, asserted below
                    errors.append(e)

            threads = [threading.Thread(target=scrape) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert errors == []
            text = render(None)[0].decode()
            assert sample_value(text, "gateway_inflight_requests",
                                surface="chat_completions") == 1
    finally:
        survivor.stop()
