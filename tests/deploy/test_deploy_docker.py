"""deploy/Dockerfile and its build-context filter, and that every YAML/JSON file under
deploy/ parses."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from .promql import DEPLOY, REPO
from .support import load_yaml_all

DOCKERFILE = DEPLOY / "Dockerfile"
IGNORE = DEPLOY / "Dockerfile.dockerignore"


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuations joined and comment lines dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            out.append((keyword.upper(), args.strip()))
    assert not pending, "dangling line continuation"
    return out


INSTRUCTIONS = instructions(DOCKERFILE.read_text())


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for keyword, args in INSTRUCTIONS:
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, args))
    return out


def args_of(keyword: str, stage: list[tuple[str, str]] | None = None) -> list[str]:
    return [a for k, a in (stage if stage is not None else INSTRUCTIONS) if k == keyword]


def test_multi_stage_from_python_311_slim() -> None:
    arg_defaults = dict(a.split("=", 1) for a in args_of("ARG") if "=" in a)
    images = []
    for line in args_of("FROM"):
        image = line.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: arg_defaults[m.group(1)], image)
        images.append(image)
    assert len(images) >= 2
    assert all(i.startswith("python:3.11") and "slim" in i for i in images)
    build, runtime = stages()[0], stages()[-1]
    assert any("pip wheel" in a for a in args_of("RUN", build))
    assert any("--no-index" in a and "pip install" in a for a in args_of("RUN", runtime))


def test_runs_as_non_root() -> None:
    (user,) = args_of("USER", stages()[-1])
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: runAsNonRoot can check it


def test_exposes_8080_and_checks_healthz_with_python() -> None:
    assert args_of("EXPOSE") == ["8080"]
    (health,) = args_of("HEALTHCHECK")
    command = json.loads(health[health.index("CMD") + 3:].strip())
    assert command[0] == "python"
    assert "http://127.0.0.1:8080/healthz" in command[-1]
    assert "curl" not in health


def test_cmd_is_the_console_script() -> None:
    (cmd,) = args_of("CMD")
    assert json.loads(cmd) == ["gateway", "serve", "--host", "0.0.0.0", "--port", "8080"]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["gateway"] == "gateway.cli:main"


def test_config_location_via_gateway_config() -> None:
    env = " ".join(args_of("ENV", stages()[-1]))
    values = dict(pair.split("=", 1) for pair in shlex.split(env))
    assert values["GATEWAY_CONFIG"] == "/app/config/gateway.yaml"
    assert args_of("WORKDIR", stages()[-1]) == ["/app"]
    assert "config/ /app/config/" in args_of("COPY", stages()[-1])


def test_copy_sources_exist_in_the_build_context() -> None:
    for line in args_of("COPY"):
        parts = [p for p in line.split() if not p.startswith("--")]
        for source in parts[:-1]:
            assert (REPO / source).exists(), source


# --- the build context filter ----------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def sent_to_builder(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    parents = [str(p) for p in reversed(Path(path).parents) if str(p) != "."] + [path]
    excluded = False
    for raw in IGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _pattern_regex(line.lstrip("!").strip("/"))
        if any(regex.match(p) for p in parents):
            excluded = not negate
    return not excluded


@pytest.mark.parametrize(("path", "sent"), [
    ("pyproject.toml", True),
    ("README.md", True),
    ("gateway/metrics.py", True),
    ("gateway/stores/rate.lua", True),
    ("config/gateway.yaml", True),
    (".venv/bin/python", False),
    (".git/HEAD", False),
    ("deploy/.env", False),
    (".env", False),
    ("tests/test_metrics.py", False),
    ("gateway/__pycache__/metrics.cpython-311.pyc", False),
    ("gateway.egg-info/PKG-INFO", False),
])
def test_build_context_is_an_allow_list(path: str, sent: bool) -> None:
    assert sent_to_builder(path) is sent


# --- every deploy file parses ------------------------------------------------------


YAML_FILES = sorted(p for ext in ("*.yml", "*.yaml") for p in DEPLOY.rglob(ext))
JSON_FILES = sorted(DEPLOY.rglob("*.json"))


@pytest.mark.parametrize("path", YAML_FILES, ids=[str(p.relative_to(DEPLOY)) for p in YAML_FILES])
def test_yaml_parses(path: Path) -> None:
    docs = load_yaml_all(path)
    assert docs and all(isinstance(d, dict) for d in docs)


@pytest.mark.parametrize("path", JSON_FILES, ids=[str(p.relative_to(DEPLOY)) for p in JSON_FILES])
def test_json_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


def test_the_deploy_tree_has_the_expected_files() -> None:
    assert len(YAML_FILES) >= 14 and JSON_FILES
    for name in ("Dockerfile", "Dockerfile.dockerignore", "compose.yaml", ".env.example",
                 "nginx/nginx.conf", "kubernetes/README.md"):
        assert (DEPLOY / name).is_file(), name
