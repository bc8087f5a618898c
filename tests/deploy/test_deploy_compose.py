"""deploy/compose.yaml, deploy/nginx/nginx.conf and deploy/.env.example: every file the
stack mounts exists, env names are the contract's, secrets stay in the env file, and
nginx is set up for long SSE streams."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_config
from gateway.drain import SHUTDOWN_MARGIN_S

from .promql import DEPLOY, REPO
from .support import load_yaml

CONTRACT_ENV = {
    "KIMI_API_KEY", "KIMI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
    "REDIS_URL", "GATEWAY_CONFIG",
}
# Beyond the contract: gateway client keys the config references, logging settings.
EXTRA_ENV = re.compile(r"^(GATEWAY_KEY_[A-Z0-9_]+|GATEWAY_LOG_[A-Z_]+|PROMETHEUS_[A-Z_]+)$")
SECRET_NAME = re.compile(r"KEY|PASSWORD|SECRET|TOKEN")
GATEWAYS = ("gateway-1", "gateway-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(DEPLOY / "compose.yaml")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]  # type: ignore[no-any-return]


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str, str]]:
    """(host path, container path, mode) of every bind mount (short syntax)."""
    out = []
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        if parts[0].startswith("."):
            mode = parts[2] if len(parts) > 2 else "rw"
            out.append(((DEPLOY / parts[0]).resolve(), parts[1], mode))
    return out


def env_example() -> dict[str, str]:
    """Variables of .env.example, commented-out optional ones included."""
    out = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def config_vars(path: Path) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", path.read_text()))


def test_services(services: dict[str, Any]) -> None:
    assert set(services) == {*GATEWAYS, "nginx", "redis", "prometheus", "grafana"}


def test_every_bind_mount_and_build_file_exists(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for host, _, _ in bind_mounts(service):
            assert host.exists(), f"{name}: {host} does not exist"
            assert REPO in host.parents, f"{name}: {host} is outside the repository"
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context == REPO
            assert (context / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", GATEWAYS)
def test_gateway_replica(services: dict[str, Any], name: str) -> None:
    gw = services[name]
    env = gw["environment"]
    # The config directory, read-only, where GATEWAY_CONFIG points, holding a real file.
    mounts = {container: (host, mode) for host, container, mode in bind_mounts(gw)}
    config_dir = str(Path(env["GATEWAY_CONFIG"]).parent)
    assert env["GATEWAY_CONFIG"] == "/app/config/gateway.yaml"
    host, mode = mounts[config_dir]
    assert mode == "ro"
    assert host == REPO / "config" and (host / "gateway.yaml").is_file()
    # One Redis for both replicas.
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert "redis" in gw["depends_on"]
    assert gw["expose"] == ["8080"]
    assert gw["env_file"] == [".env"]


def test_environment_names_are_the_contracts(services: dict[str, Any]) -> None:
    for name in GATEWAYS:
        for var in services[name]["environment"]:
            assert var in CONTRACT_ENV or EXTRA_ENV.match(var), f"{name}: {var}"
    for var in env_example():
        assert var in CONTRACT_ENV or EXTRA_ENV.match(var) or var == "GRAFANA_ADMIN_PASSWORD", var


def test_secrets_only_come_from_the_env_file(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for var, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(var):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", str(value)), f"{name}: {var}"
            assert "@" not in str(value), f"{name}: {var} carries credentials"
    example = env_example()
    for var, value in example.items():
        if SECRET_NAME.search(var):
            assert value == "", f".env.example must not hold a value for {var}"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_env_file_supplies_what_the_config_needs(services: dict[str, Any]) -> None:
    # Every variable config/gateway.yaml expands comes from .env or the compose env.
    provided = set(env_example()) | set(services["gateway-1"]["environment"])
    assert config_vars(REPO / "config" / "gateway.yaml") <= provided
    assert {"KIMI_API_KEY", "ANTHROPIC_API_KEY"} <= provided


def test_stop_grace_covers_the_drain_grace(services: dict[str, Any]) -> None:
    drain = load_config(REPO / "config" / "gateway.yaml", {}).server.graceful_shutdown_s
    for name in GATEWAYS:
        grace = services[name]["stop_grace_period"]
        assert grace.endswith("s") and float(grace[:-1]) > drain + SHUTDOWN_MARGIN_S + 10


def test_monitoring_mounts(services: dict[str, Any]) -> None:
    prom = services["prometheus"]
    mounts = {c: h for h, c, _ in bind_mounts(prom)}
    assert mounts["/etc/prometheus"] == DEPLOY / "prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    grafana = {c: h for h, c, _ in bind_mounts(services["grafana"])}
    assert grafana["/etc/grafana/provisioning"] == DEPLOY / "grafana" / "provisioning"


# --- nginx -------------------------------------------------------------------------

NGINX = (DEPLOY / "nginx" / "nginx.conf").read_text()


def _directive(name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", NGINX, re.MULTILINE)


def test_nginx_is_mounted_and_published(services: dict[str, Any]) -> None:
    nginx = services["nginx"]
    mounts = {c: h for h, c, _ in bind_mounts(nginx)}
    assert mounts["/etc/nginx/nginx.conf"] == DEPLOY / "nginx" / "nginx.conf"
    listen = _directive("listen")
    assert listen == ["8080"]
    assert nginx["ports"] == ["8080:8080"]
    for name in GATEWAYS:
        assert nginx["depends_on"][name]["condition"] == "service_healthy"


def test_nginx_upstream_is_the_gateway_replicas() -> None:
    block = re.search(r"upstream gateway\s*\{([^}]*)\}", NGINX)
    assert block is not None
    servers = re.findall(r"^\s*server\s+(\S+)", block.group(1), re.MULTILINE)
    assert sorted(servers) == [f"{name}:8080" for name in GATEWAYS]
    assert _directive("proxy_pass") == ["http://gateway"]


def test_nginx_streams_sse_unbuffered_with_long_timeouts() -> None:
    assert _directive("proxy_buffering") == ["off"]
    assert _directive("proxy_http_version") == ["1.1"]
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        (value,) = _directive(name)
        assert value.endswith("s") and int(value[:-1]) >= 600, name


def test_nginx_admits_bodies_up_to_the_gateway_limit() -> None:
    limit = load_config(REPO / "config" / "gateway.yaml", {}).server.max_body_bytes
    (value,) = _directive("client_max_body_size")
    assert value.endswith("m") and int(value[:-1]) * 1024 * 1024 > limit


def test_nginx_keeps_metrics_private() -> None:
    assert re.search(r"location\s*=\s*/metrics\s*\{\s*return 404;", NGINX)
