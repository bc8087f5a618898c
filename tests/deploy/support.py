"""Small helpers for the deploy tests: YAML loading and the Prometheus binaries."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def require_binary(name: str) -> str:
    """The path of a required tool; a clear failure (not a skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH. Install Debian's prometheus package "
            "(apt-get install -y prometheus), which provides both promtool and prometheus.",
            pytrace=False,
        )
    return path
