"""Every Prometheus metric of the gateway, defined once.

``Metrics(registry)`` creates the whole set in the ``CollectorRegistry`` it is given
(one per app, so tests can build several apps side by side); nothing is registered in
prometheus-client's global default registry, and importing this module has no side
effects.

Two modes, chosen by the environment before any worker imports prometheus-client:

========================  ==============================================================
single process            ``PROMETHEUS_MULTIPROC_DIR`` unset. Values live in memory;
                          ``render(registry)`` exposes that registry, plus the standard
                          ``process_*`` / ``python_*`` collectors.
multiprocess (workers>1)  The CLI calls ``setup_multiprocess_dir()`` and exports
                          ``PROMETHEUS_MULTIPROC_DIR`` before uvicorn spawns workers.
                          Each worker writes its values to mmap files in that directory;
                          ``render()`` merges every worker's files, so whichever worker
                          answers a scrape reports the same totals and counters never
                          jump between scrapes.
========================  ==============================================================

In multiprocess mode the ``process_*`` and ``python_*`` series are omitted: they
describe the one worker that happens to serve the scrape, so successive scrapes would
alternate between workers (CPU counters going backwards, memory jumping). Use the
container's metrics (cAdvisor / kubelet ``container_cpu_usage_seconds_total``,
``container_memory_working_set_bytes``) instead, or run one worker per container and
scale with replicas, which keeps them exact.

Label values are bounded by the config (provider and model names, rule names, key
names) or by the fixed vocabularies below; never request ids, client-supplied model
strings or prompt text. A request that never chose a model (bad key, unknown model,
invalid body) is recorded with ``provider="none"`` and ``model="none"``.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

__all__ = [
    "CACHE_RESULTS",
    "CIRCUIT_CLOSED",
    "CIRCUIT_HALF_OPEN",
    "CIRCUIT_OPEN",
    "CONFIG_RELOAD_RESULTS",
    "MULTIPROC_ENV",
    "NONE",
    "OVERHEAD_BUCKETS",
    "RATELIMIT_LIMITS",
    "REDIS_BUCKETS",
    "REQUEST_BUCKETS",
    "SURFACES",
    "TOKEN_KINDS",
    "TTFT_BUCKETS",
    "UPSTREAM_ERROR_KINDS",
    "Metrics",
    "RequestSeries",
    "config_fingerprint",
    "mark_process_dead",
    "multiprocess_dir",
    "remove_multiprocess_dir",
    "render",
    "setup_multiprocess_dir",
    "status_class",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Label vocabularies. Dashboards and alerts match on these exact strings.
SURFACES = ("chat_completions", "messages", "responses")
TOKEN_KINDS = ("input", "output", "cached")
CACHE_RESULTS = ("hit", "miss", "bypass")
RATELIMIT_LIMITS = ("rpm", "tpm", "concurrency", "budget_usd", "provider_rpm", "provider_tpm")
UPSTREAM_ERROR_KINDS = ("timeout", "connect", "429", "5xx", "529", "4xx", "bad_response")
CONFIG_RELOAD_RESULTS = ("success", "failure")
NONE = "none"  # provider/model of a request that never reached routing
ANONYMOUS = "anonymous"  # key label when the config lists no keys

CIRCUIT_CLOSED = 0
CIRCUIT_HALF_OPEN = 1
CIRCUIT_OPEN = 2

# End-to-end and upstream time: LLM calls range from a cached 10 ms answer to a
# 10-minute long-context generation, so the buckets span both ends.
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
                   60.0, 120.0, 300.0, 600.0)
# Time to first token: what a streaming user waits for; dense around 0.2-5 s.
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
                7.5, 10.0, 15.0, 20.0, 30.0, 60.0)
# The gateway's own time (parsing, features, routing, store, translation): tens of
# microseconds when healthy, so sub-millisecond resolution matters.
OVERHEAD_BUCKETS = (0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005,
                    0.01, 0.02, 0.05)
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                 0.25, 0.5, 1.0)


def status_class(status: int) -> str:
    """``2xx`` / ``4xx`` / ``5xx`` for an HTTP status (1xx and 3xx do not occur here)."""
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    return "2xx"


def _package_version() -> str:
    try:
        return metadata.version("gateway")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


def _values_are_mmapped() -> bool:
    # prometheus-client picks its value class once, when it is first imported.
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class Metrics:
    """The gateway's metric objects, registered in one registry.

    Attributes (all prometheus-client objects; call ``.labels(...)`` in label order):

    ===================  =====================================================
    requests             surface, provider, model, route, status_class, stream
    request_duration     surface, provider, model
    upstream_duration    provider, model   (every attempt, failed ones included)
    ttft                 provider, model
    overhead             surface
    tokens               provider, model, kind
    cost                 provider, model, key
    key_tokens           key, kind
    routing_decisions    rule, model
    fallbacks            from_model, to_model, reason
    circuit_state        model             (0 closed, 1 half-open, 2 open)
    cache_lookups        result
    ratelimit_rejections limit, key
    upstream_errors      provider, kind
    inflight             surface
    redis_duration       command
    redis_errors         command
    store_degraded       (no labels)
    config_reloads       result
    config_info          hash
    build_info           version
    ===================  =====================================================
    """

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 version: str | None = None) -> None:
        if multiprocess_dir() is not None and not _values_are_mmapped():
            # Values would stay in this process's memory while render() reads only the
            # files: every metric would silently read zero.
            raise RuntimeError(
                f"{MULTIPROC_ENV} is set but prometheus_client was imported before it "
                "was; export it before the worker process imports prometheus_client "
                "(uvicorn spawns fresh workers, so set it in the CLI before starting them)"
            )
        self.registry = registry if registry is not None else CollectorRegistry()
        self.multiprocess = multiprocess_dir() is not None
        r = self.registry

        self.requests = Counter(
            "gateway_requests", "Client requests answered, by outcome.",
            ["surface", "provider", "model", "route", "status_class", "stream"], registry=r)
        self.request_duration = Histogram(
            "gateway_request_duration_seconds",
            "End-to-end time from request received to last byte sent.",
            ["surface", "provider", "model"], buckets=REQUEST_BUCKETS, registry=r)
        self.upstream_duration = Histogram(
            "gateway_upstream_duration_seconds",
            "Time of one upstream attempt, from send to its last byte or failure.",
            ["provider", "model"], buckets=REQUEST_BUCKETS, registry=r)
        self.ttft = Histogram(
            "gateway_time_to_first_token_seconds",
            "Time from request received to the first content token sent to the client.",
            ["provider", "model"], buckets=TTFT_BUCKETS, registry=r)
        self.overhead = Histogram(
            "gateway_overhead_seconds",
            "Time spent in the gateway itself, upstream time excluded.",
            ["surface"], buckets=OVERHEAD_BUCKETS, registry=r)
        self.tokens = Counter(
            "gateway_tokens", "Tokens billed by the upstream (kind: input, output, cached).",
            ["provider", "model", "kind"], registry=r)
        self.cost = Counter(
            "gateway_cost_usd", "Estimated spend in US dollars from the config's prices.",
            ["provider", "model", "key"], registry=r)
        self.key_tokens = Counter(
            "gateway_key_tokens", "Tokens billed by the upstream per gateway key (input, output).",
            ["key", "kind"], registry=r)
        self.routing_decisions = Counter(
            "gateway_routing_decisions", "Routing decisions, by winning rule and model.",
            ["rule", "model"], registry=r)
        self.fallbacks = Counter(
            "gateway_fallbacks", "Fallbacks from one candidate model to the next.",
            ["from_model", "to_model", "reason"], registry=r)
        # livemax: the worst state any live worker sees; a dead worker's stale "open"
        # must not pin the series.
        self.circuit_state = Gauge(
            "gateway_circuit_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["model"], multiprocess_mode="livemax", registry=r)
        self.cache_lookups = Counter(
            "gateway_cache_lookups", "Response cache lookups (result: hit, miss, bypass).",
            ["result"], registry=r)
        self.ratelimit_rejections = Counter(
            "gateway_ratelimit_rejections", "Requests rejected by a rate limit or budget.",
            ["limit", "key"], registry=r)
        self.upstream_errors = Counter(
            "gateway_upstream_errors", "Failed upstream attempts, by kind of failure.",
            ["provider", "kind"], registry=r)
        # livesum: requests in flight now across live workers; a crashed worker's
        # requests are gone, so its file must stop counting.
        self.inflight = Gauge(
            "gateway_inflight_requests", "Requests being served now, streams included.",
            ["surface"], multiprocess_mode="livesum", registry=r)
        self.redis_duration = Histogram(
            "gateway_redis_command_duration_seconds",
            "Redis command or script latency as seen by the gateway.",
            ["command"], buckets=REDIS_BUCKETS, registry=r)
        self.redis_errors = Counter(
            "gateway_redis_errors", "Redis commands that failed (connection, timeout, error).",
            ["command"], registry=r)
        self.store_degraded = Gauge(
            "gateway_store_degraded",
            "1 while Redis is unreachable and fail_open serves limits and cache from memory.",
            multiprocess_mode="livemax", registry=r)
        self.config_reloads = Counter(
            "gateway_config_reloads", "Config reload attempts (result: success, failure).",
            ["result"], registry=r)
        self.config_info = Gauge(
            "gateway_config_info", "1 for the hash of the config in use.",
            ["hash"], multiprocess_mode="livemax", registry=r)
        self.build_info = Gauge(
            "gateway_build_info", "Always 1; the version label identifies the build.",
            ["version"], multiprocess_mode="livemax", registry=r)

        self._config_hash: str | None = None
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._requests: dict[tuple[str, str, str, str, int, bool, str], RequestSeries] = {}
        # The config the info series describe (``api/ops.sync_metrics``).
        self.config_version: int | None = None
        self.config_hash = ""
        self.build_info.labels(version or _package_version()).set(1)
        # Series with a known, small label set start at zero so rate() and ratios work
        # from the first scrape instead of appearing with the first event.
        self.store_degraded.set(0)
        for surface in SURFACES:
            self.inflight.labels(surface)
        for result in CACHE_RESULTS:
            self.cache_lookups.labels(result)
        for result in CONFIG_RELOAD_RESULTS:
            self.config_reloads.labels(result)

        if not self.multiprocess:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)`` (label values in declaration order), memoized: the
        request path records ~8 series per request, and prometheus_client's ``labels``
        validates and locks on every call. The memo holds what prometheus_client holds
        anyway (one child per label set), so it grows no further than the registry."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def request_series(self, surface: str, provider: str, model: str, route: str,
                       status: int, stream: bool, key: str) -> RequestSeries:
        """The series an answered request with these labels moves (``key``: the
        ``key`` label of its usage series), memoized like ``child``: one lookup per
        request instead of one per series."""
        labels = (surface, provider, model, route, status, stream, key)
        found = self._requests.get(labels)
        if found is None:
            found = self._requests[labels] = RequestSeries(self, *labels)
        return found

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """``render(self.registry, accept)``: the body and content type of ``/metrics``."""
        return render(self.registry, accept)

    def prime(self, providers: Iterable[str], models: Iterable[str]) -> None:
        """Create the per-provider and per-model series of a config at zero.

        Call at start and after a reload: alerts written with ``increase()`` or
        comparisons only see a counter's first event if the series existed before it.
        """
        for provider in providers:
            for kind in UPSTREAM_ERROR_KINDS:
                self.upstream_errors.labels(provider, kind)
        for model in models:
            self.circuit_state.labels(model).set(CIRCUIT_CLOSED)

    def sync_config(self, providers: Iterable[str], circuits: Mapping[str, int],
                    config_hash: str) -> None:
        """Bring the config-derived series in line with the process's state.

        Called at start and on every scrape (cheap: no I/O), so a reload's new
        providers and models appear without a hook in the reload path, and each
        breaker's gauge shows its state now (an open breaker turns half-open lazily, on
        the next request). ``circuits`` is model -> ``CIRCUIT_*``.
        """
        self.prime(providers, ())
        for model, state in circuits.items():
            self.circuit_state.labels(model).set(state)
        if config_hash != self._config_hash:
            self.set_config_hash(config_hash)

    def set_config_hash(self, config_hash: str) -> None:
        """Point ``gateway_config_info`` at the config now in use."""
        previous, self._config_hash = self._config_hash, config_hash
        if previous is not None and previous != config_hash:
            if self.multiprocess:
                # remove() is not implemented for mmap-backed values; 0 hides it from
                # ``gateway_config_info == 1`` queries.
                self.config_info.labels(previous).set(0)
            else:
                self.config_info.remove(previous)
        self.config_info.labels(config_hash).set(1)


class RequestSeries:
    """The children of the series one answered request moves (``Metrics.request_series``).

    ``requests``, ``duration`` and ``overhead`` are there from the start; the usage
    series (TTFT; tokens and cost) are created on first use, as a request that no
    upstream served creates none of them: a series appears in ``/metrics`` with its
    first event, as it would with ``labels()`` called per request.
    """

    __slots__ = ("_m", "_ttft", "_usage", "duration", "key", "model", "overhead", "provider",
                 "requests")

    def __init__(self, m: Metrics, surface: str, provider: str, model: str, route: str,
                 status: int, stream: bool, key: str) -> None:
        self._m, self.provider, self.model, self.key = m, provider, model, key
        self.requests = m.child(m.requests, surface, provider, model, route,
                                status_class(status), "true" if stream else "false")
        self.duration = m.child(m.request_duration, surface, provider, model)
        self.overhead = m.child(m.overhead, surface)
        self._ttft: Any = None
        self._usage: tuple[Any, ...] | None = None

    def observe_ttft(self, seconds: float) -> None:
        if self._ttft is None:
            self._ttft = self._m.child(self._m.ttft, self.provider, self.model)
        self._ttft.observe(seconds)

    def count_usage(self, tokens_in: int, tokens_out: int, tokens_cached: int,
                    cost_usd: float) -> None:
        """The tokens billed (per model and per key) and the cost."""
        if self._usage is None:
            m, p, model, key = self._m, self.provider, self.model, self.key
            self._usage = (m.child(m.tokens, p, model, "input"),
                           m.child(m.tokens, p, model, "output"),
                           m.child(m.tokens, p, model, "cached"),
                           m.child(m.cost, p, model, key),
                           m.child(m.key_tokens, key, "input"),
                           m.child(m.key_tokens, key, "output"))
        t_in, t_out, t_cached, cost, key_in, key_out = self._usage
        # Adding zero changes no value: skipped (a request's cached tokens mostly are).
        if tokens_in:
            t_in.inc(tokens_in)
            key_in.inc(tokens_in)
        if tokens_out:
            t_out.inc(tokens_out)
            key_out.inc(tokens_out)
        if tokens_cached:
            t_cached.inc(tokens_cached)
        if cost_usd:
            cost.inc(cost_usd)


def config_fingerprint(config: Mapping[str, Any]) -> str:
    """12 hex digits identifying a config, for ``gateway_config_info{hash}``.

    ``config`` is the config as plain data *without its secrets* (the caller drops
    provider keys, gateway keys and the Redis URL): a label must not be derived from a
    secret, and rotating a key is not a config change worth a dashboard annotation.
    """
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess mode, or None when it is off."""
    return os.environ.get(MULTIPROC_ENV) or None


def render(registry: CollectorRegistry | None,
           accept: str | None = None) -> tuple[bytes, str]:
    """The exposition for ``GET /metrics`` and its content type.

    In multiprocess mode ``registry`` is ignored and every worker's files are merged;
    the merge reads files, so an async handler should call this in a thread. ``accept``
    is the scrape's Accept header (OpenMetrics is served when Prometheus asks for it).
    """
    encoder, content_type = choose_encoder(accept or "")
    path = multiprocess_dir()
    if path is not None:
        _reap_dead_workers(path)
        merged = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(merged, path=path)
        return encoder(merged), content_type
    if registry is None:
        raise ValueError(f"render(None) needs multiprocess mode ({MULTIPROC_ENV} set)")
    return encoder(registry), content_type


_SERVER_DIR_PREFIX = "gateway-metrics-"
_LIVE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def setup_multiprocess_dir(base: str | None = None) -> str:
    """Create this server's private, empty multiprocess directory and return its path.

    Call it in the supervising process before workers start, then export the result as
    ``PROMETHEUS_MULTIPROC_DIR``. The directory is ``<base>/gateway-metrics-<pid>``
    (``base`` defaults to the system temp dir): private, so two servers on one host
    never add up each other's counters, and emptied here because files left by an
    earlier run would otherwise be counted again. Directories of earlier servers whose
    process is gone are removed too. Never clean it while workers run: counter files
    of exited workers are what keeps the totals monotonic.
    """
    root = Path(base) if base is not None else Path(tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{_SERVER_DIR_PREFIX}{os.getpid()}"
    for stale in root.glob(f"{_SERVER_DIR_PREFIX}*"):
        suffix = stale.name.removeprefix(_SERVER_DIR_PREFIX)
        if stale == path or (suffix.isdigit() and not _pid_alive(int(suffix))):
            shutil.rmtree(stale, ignore_errors=True)
    path.mkdir(mode=0o700)
    return str(path)


def remove_multiprocess_dir(path: str) -> None:
    """Delete a server's directory once its workers have exited (the supervisor's exit)."""
    if Path(path).name.startswith(_SERVER_DIR_PREFIX):
        shutil.rmtree(path, ignore_errors=True)


def mark_process_dead(pid: int, path: str | None = None) -> None:
    """Forget a dead worker's live gauges (in-flight, breaker state); keep its counters."""
    prom_multiprocess.mark_process_dead(pid, path or multiprocess_dir())


def _reap_dead_workers(path: str) -> None:
    # uvicorn's supervisor restarts crashed workers without a hook for us, so the scrape
    # itself drops live-gauge files of processes that no longer exist; otherwise a
    # crashed worker's in-flight count would stay in the sum forever. Two workers'
    # scrapes may reap the same file at once (prometheus_client's mark_process_dead
    # would then fail the later one's scrape): a file already gone is reaped.
    alive: dict[int, bool] = {}
    for file in glob.glob(os.path.join(path, "gauge_live*.db")):
        match = _LIVE_FILE.match(os.path.basename(file))
        if match is None:
            continue
        pid = int(match.group(1))
        if pid not in alive:
            alive[pid] = _pid_alive(pid)
        if not alive[pid]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(file)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
