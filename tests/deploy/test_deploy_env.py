"""Every environment variable the deploy files set is one the gateway reads.

A misspelt name (``GATEWAY_LOG_FROMAT``) is silently ignored by the process, so the
names in the Dockerfile, compose, .env.example and the Kubernetes Deployment are
checked against what the code consumes: ``gateway.settings.Settings`` fields, the
``${VAR}`` references of the shipped config, and prometheus-client's own switches.
"""

from __future__ import annotations

import re

import pytest

from gateway.settings import Settings

from .promql import DEPLOY, REPO
from .support import load_yaml, load_yaml_all

# Read by prometheus-client itself (PROMETHEUS_MULTIPROC_DIR is set by the CLI).
PROMETHEUS_CLIENT_ENV = {"PROMETHEUS_DISABLE_CREATED_SERIES"}
# Read by Python or the image's base layers, not by the gateway.
RUNTIME_ENV = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_DISABLE_PIP_VERSION_CHECK",
               "PIP_NO_CACHE_DIR"}
# Read by compose for its own interpolation (Grafana's admin password).
COMPOSE_ONLY_ENV = {"GRAFANA_ADMIN_PASSWORD"}


def settings_env() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def config_env() -> set[str]:
    texts = [(REPO / "config" / "gateway.yaml").read_text()]
    texts += [doc["data"]["gateway.yaml"] for doc in load_yaml_all(
        DEPLOY / "kubernetes" / "configmap.yaml")]
    return {name for text in texts for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text)}


def dockerfile_env() -> set[str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("ENV "):
            names |= set(re.findall(r"([A-Z][A-Z0-9_]*)=", line))
    return names


def env_example() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (DEPLOY / ".env.example").read_text(),
                          re.MULTILINE))


def compose_env() -> set[str]:
    services = load_yaml(DEPLOY / "compose.yaml")["services"]
    return {var for name, svc in services.items() if name.startswith("gateway")
            for var in (svc.get("environment") or {})}


def kubernetes_env() -> set[str]:
    (deployment,) = [d for d in load_yaml_all(DEPLOY / "kubernetes" / "deployment.yaml")
                     if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {var["name"] for var in container["env"]}


def read_by_the_gateway() -> set[str]:
    return settings_env() | config_env() | PROMETHEUS_CLIENT_ENV


@pytest.mark.parametrize(("source", "names"), [
    ("Dockerfile", dockerfile_env() - RUNTIME_ENV),
    (".env.example", env_example() - COMPOSE_ONLY_ENV),
    ("compose.yaml", compose_env()),
    ("kubernetes/deployment.yaml", kubernetes_env()),
])
def test_every_variable_is_read_by_the_gateway(source: str, names: set[str]) -> None:
    assert names, source
    unknown = names - read_by_the_gateway()
    assert not unknown, f"{source} sets variables the gateway never reads: {unknown}"


def test_logging_settings_are_offered_where_operators_configure() -> None:
    logging_env = {"GATEWAY_LOG_LEVEL", "GATEWAY_LOG_FORMAT", "GATEWAY_LOG_PROMPTS"}
    assert logging_env <= settings_env()
    assert logging_env <= env_example()


def test_readme_environment_table_names_real_settings() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("| environment variable |"):]
    table = table[:table.index("\n\n")]
    names = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", table, re.MULTILINE))
    assert {"GATEWAY_LOG_FORMAT", "GATEWAY_LOG_PROMPTS", "REDIS_URL"} <= names
    assert names <= read_by_the_gateway(), names - read_by_the_gateway()

