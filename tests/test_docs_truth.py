"""What the README says about the project's own commands and metrics is true."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from gateway.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_readme_names_every_debian_package_test_sh_installs() -> None:
    line = next(ln for ln in (ROOT / "scripts" / "test.sh").read_text().splitlines()
                if "apt-need.sh" in ln)
    packages = {pair.split(":", 1)[1] for pair in re.findall(r"\S+:\S+", line)}
    said = README.split("`test.sh` installs", 1)[1].split("when they are missing", 1)[0]
    assert packages and all(f"`{p}`" in said for p in packages), (packages, said)


def test_the_readme_describes_the_token_and_cost_metrics_by_their_labels() -> None:
    m = Metrics()
    assert "key" not in m.tokens._labelnames
    assert "tokens by provider, model and kind" in README
    assert "key" in m.cost._labelnames and "estimated cost per key" in README


def test_the_licence_is_an_spdx_string_that_the_build_backend_takes() -> None:
    """The TOML-table form makes setuptools warn three times per install."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in meta["build-system"]["requires"]  # SPDX strings from 77 on
