"""The agent CLIs and SDKs of ``tests/agents/package.json`` (``npm ci`` in
scripts/test.sh installs them; a missing install fails the tests, it does not skip them)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
CLAUDE = NODE_MODULES / ".bin" / "claude"


def need(path: Path) -> Path:
    if not path.exists():
        raise AssertionError(f"{path} is missing: run `npm ci` in {HERE} (scripts/test.sh does)")
    return path


def claude_env(base_url: str, model: str, home: str) -> dict[str, str]:
    """Claude Code offline against the gateway (README.md, "Claude Code and other
    agents"): its own variables cleared, the gateway as ANTHROPIC_BASE_URL, every model
    tier pinned to ``model``, no telemetry or other traffic of its own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CLAUDE_", "OPENAI_"))}
    env.update({
        "HOME": home,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-gateway-test",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
    })
    return env


def run_claude(base_url: str, model: str, prompt: str, *args: str,
               env: dict[str, str | None] | None = None,
               timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``claude -p PROMPT --model MODEL ARGS`` in a scratch HOME and working folder;
    ``env`` adds variables, or removes them with None."""
    with tempfile.TemporaryDirectory(prefix="claude-home-") as home:
        full: dict[str, str | None] = {**claude_env(base_url, model, home), **(env or {})}
        return subprocess.run(
            [str(need(CLAUDE)), "-p", prompt, "--model", model, *args],
            env={k: v for k, v in full.items() if v is not None}, cwd=home,
            capture_output=True, text=True, timeout=timeout, check=False)


def run_node(script: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run an ES-module script with this folder's node_modules."""
    need(NODE_MODULES)
    return subprocess.run(["node", "--input-type=module", "-e", script], env={**os.environ, **env},
                          cwd=HERE, capture_output=True, text=True, timeout=timeout, check=False)
