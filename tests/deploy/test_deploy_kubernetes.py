"""deploy/kubernetes: manifests parse and reference each other, probes hit the contract's
endpoints on port 8080, shutdown timing covers the drain grace, the ConfigMap is a valid
gateway config, and secrets are only referenced."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import GatewayConfig, ServerConfig, load_config
from gateway.drain import SHUTDOWN_MARGIN_S

from .promql import DEPLOY, REPO
from .support import load_yaml, load_yaml_all

K8S = DEPLOY / "kubernetes"
CONTRACT_ENV = {
    "KIMI_API_KEY", "KIMI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
    "REDIS_URL", "GATEWAY_CONFIG",
}
EXTRA_ENV = re.compile(r"^(GATEWAY_KEY_[A-Z0-9_]+|GATEWAY_LOG_[A-Z_]+|PROMETHEUS_[A-Z_]+)$")
CONTRACT_SECTIONS = {"redis", "providers", "models", "policies", "routing", "keys", "cache"}
SECRET = "llm-gateway-secrets"


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> manifest, for every file in deploy/kubernetes (one object per kind)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_yaml_all(path):
            assert doc["kind"] not in out, f"two {doc['kind']} manifests"
            out[doc["kind"]] = doc
    return out


M = manifests()
DEPLOYMENT = M["Deployment"]
POD = DEPLOYMENT["spec"]["template"]["spec"]
(CONTAINER,) = POD["containers"]
CONFIGMAP_TEXT = M["ConfigMap"]["data"]["gateway.yaml"]


def container_port(port: int | str) -> int:
    """Resolve a named or numbered port against the container's ports."""
    if isinstance(port, int):
        return port
    (match,) = [p["containerPort"] for p in CONTAINER["ports"] if p["name"] == port]
    return int(match)


def configmap_config(tmp_path: Path) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIGMAP_TEXT)
    return load_config(path, {})


def test_every_manifest_parses_with_api_version_and_name() -> None:
    for kind, doc in M.items():
        assert doc.get("apiVersion"), kind
        if kind != "Kustomization":
            assert doc["metadata"]["name"], kind


def test_kustomization_lists_existing_files_and_not_the_example_secret() -> None:
    resources = M["Kustomization"]["resources"]
    for name in resources:
        assert (K8S / name).is_file(), name
    assert "secret.example.yaml" not in resources
    expected = {"configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"}
    assert expected <= set(resources)


def test_deployment_replicas_and_selector() -> None:
    spec = DEPLOYMENT["spec"]
    assert spec["replicas"] >= 2
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_container_runs_the_console_script_on_8080() -> None:
    assert container_port("http") == 8080
    args = CONTAINER.get("command", []) + CONTAINER.get("args", [])
    assert args[:2] == ["gateway", "serve"]
    assert args[args.index("--port") + 1] == "8080"
    assert args[args.index("--host") + 1] == "0.0.0.0"


@pytest.mark.parametrize(("probe", "path"), [
    ("livenessProbe", "/healthz"),
    ("readinessProbe", "/readyz"),
    ("startupProbe", "/healthz"),
])
def test_probes(probe: str, path: str) -> None:
    get = CONTAINER[probe]["httpGet"]
    assert get["path"] == path
    assert container_port(get["port"]) == 8080


def test_grace_period_exceeds_prestop_plus_drain_grace(tmp_path: Path) -> None:
    drain = configmap_config(tmp_path).server.graceful_shutdown_s
    # The ConfigMap raises the drain grace above the default for long streams.
    assert drain > ServerConfig().graceful_shutdown_s
    command = CONTAINER["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    assert pre_stop >= 5
    # uvicorn's own backstop runs SHUTDOWN_MARGIN_S after the drain's end.
    assert POD["terminationGracePeriodSeconds"] > pre_stop + drain + SHUTDOWN_MARGIN_S


def test_pod_runs_non_root_and_read_only() -> None:
    pod_sc, sc = POD["securityContext"], CONTAINER["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    # The UID matches the image's USER, so runAsNonRoot and file ownership agree.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(rf"^USER {pod_sc['runAsUser']}(:\d+)?$", dockerfile, re.MULTILINE)
    # Writable scratch for prometheus multiprocess files and temp data.
    mounts = {m["mountPath"]: m["name"] for m in CONTAINER["volumeMounts"]}
    volumes = {v["name"]: v for v in POD["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_resources_are_set() -> None:
    resources = CONTAINER["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["memory"]


def test_scrape_annotations() -> None:
    annotations = DEPLOYMENT["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_env_names_and_secret_references() -> None:
    example = M["Secret"]
    assert example["metadata"]["name"] == SECRET
    example_keys = set(example["stringData"])
    for var in CONTAINER["env"]:
        name = var["name"]
        assert name in CONTRACT_ENV or EXTRA_ENV.match(name), name
        if "valueFrom" in var:
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET and ref["key"] in example_keys, name
        elif re.search("KEY|PASSWORD|SECRET|TOKEN", name) or name == "REDIS_URL":
            pytest.fail(f"{name} must come from the Secret, not a literal value")
    names = {v["name"] for v in CONTAINER["env"]}
    assert {"KIMI_API_KEY", "ANTHROPIC_API_KEY", "REDIS_URL", "GATEWAY_CONFIG"} <= names


def test_example_secret_holds_placeholders_only() -> None:
    for key, value in M["Secret"]["stringData"].items():
        assert "REPLACE_ME" in value, key


def test_config_mount_matches_gateway_config() -> None:
    env = {v["name"]: v.get("value") for v in CONTAINER["env"]}
    config_path = Path(env["GATEWAY_CONFIG"])
    assert config_path == Path("/app/config/gateway.yaml")
    (mount,) = [m for m in CONTAINER["volumeMounts"] if m["mountPath"] == str(config_path.parent)]
    assert mount["readOnly"] is True and "subPath" not in mount  # subPath never updates
    (volume,) = [v for v in POD["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == M["ConfigMap"]["metadata"]["name"]
    assert config_path.name in M["ConfigMap"]["data"]


def test_configmap_is_a_valid_gateway_config(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIGMAP_TEXT)
    assert CONTRACT_SECTIONS <= set(raw)
    cfg = configmap_config(tmp_path)
    assert set(cfg.models) == {"kimi-k2", "claude-opus"}
    # Secrets are expanded from the environment, never written in.
    assert "${KIMI_API_KEY" in CONFIGMAP_TEXT and "${ANTHROPIC_API_KEY" in CONFIGMAP_TEXT
    assert "${REDIS_URL" in CONFIGMAP_TEXT


def test_configmap_ships_the_repository_config() -> None:
    # Same routing, models, policies and keys as config/gateway.yaml; only `server`
    # (the longer drain grace) may differ. Edit both together.
    shipped = load_yaml(REPO / "config" / "gateway.yaml")
    ours = yaml.safe_load(CONFIGMAP_TEXT)
    for section in (set(shipped) | set(ours)) - {"server"}:
        assert ours.get(section) == shipped.get(section), section


def test_service_routes_to_the_container_port() -> None:
    service = M["Service"]["spec"]
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    (port,) = service["ports"]
    assert container_port(port["targetPort"]) == 8080


def test_hpa_scales_the_deployment_on_cpu() -> None:
    hpa = M["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    cpu = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    assert cpu and cpu[0]["resource"]["name"] == "cpu"
    # The in-flight metric it documents is one the gateway exports.
    assert "gateway_inflight_requests" in (K8S / "hpa.yaml").read_text()


def test_pdb_selects_the_pods_and_leaves_capacity() -> None:
    pdb = M["PodDisruptionBudget"]
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"].get("maxUnavailable", 0) < DEPLOYMENT["spec"]["replicas"]


def test_podmonitor_scrapes_the_named_port_as_job_llm_gateway() -> None:
    monitor = M["PodMonitor"]["spec"]
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert container_port(endpoint["port"]) == 8080 and endpoint["path"] == "/metrics"
    assert labels[monitor["jobLabel"]] == "llm-gateway"


def test_readme_covers_redis() -> None:
    text = (K8S / "README.md").read_text()
    for needle in ("rediss://", "Redis Cluster", "limit × replicas", "fail_closed"):
        assert needle in text, needle
