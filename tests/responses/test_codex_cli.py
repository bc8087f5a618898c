"""Codex CLI (npm @openai/codex, pinned in tests/agents-js) against `gateway serve --demo`
with a custom provider speaking wire_api = "responses", on Kimi and on Claude: a turn
where the model calls exec_command, Codex runs it and sends the output back."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .js_support import demo, js_tool, statuses  # noqa: F401  (demo is a fixture)

CONFIG = """model_provider = "gateway"
[model_providers.gateway]
name = "LLM gateway"
base_url = "{url}/v1"
env_key = "GATEWAY_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"""


@pytest.mark.parametrize("model", ["kimi-k2", "claude-opus"])
def test_codex_exec_runs_a_command_and_sends_its_output_back(demo, model, tmp_path):  # noqa: F811
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text(CONFIG.format(url=demo.url))
    env = {**os.environ, "CODEX_HOME": str(home), "GATEWAY_API_KEY": "any", "NO_COLOR": "1"}
    marker = f"codex-says-{model}"
    run = subprocess.run(
        [str(js_tool("codex")), "exec", "--skip-git-repo-check",
         "--dangerously-bypass-approvals-and-sandbox", "-m", model,
         f"run `echo {marker}` with exec_command"],
        cwd=work, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "exec_command" in run.stderr and f"echo {marker}" in run.stderr
    # The final answer (stdout) is the model's reply to the tool output Codex sent back.
    assert marker in run.stdout and "Process exited with code 0" in run.stdout
    lines = demo.access()
    assert len(lines) >= 2 and set(statuses(lines)) == {200}, lines
    assert all('"surface":"responses"' in ln for ln in lines)
    provider = "kimi" if model == "kimi-k2" else "claude"
    assert all(f'"provider":"{provider}"' in ln for ln in lines)


def test_codex_home_config_in_the_readme_is_the_one_tested():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for line in ('wire_api = "responses"', 'env_key = "GATEWAY_API_KEY"',
                 'base_url = "http://127.0.0.1:8080/v1"'):
        assert line in readme, line


def test_codex_continues_claudes_thinking_through_a_tool_call(demo, tmp_path):  # noqa: F811
    """With a reasoning effort Codex sends ``reasoning.effort`` and, on the turn after the
    tool call, the reasoning item with its ``encrypted_content``: Claude thinks on both
    turns (its summary printed twice), which the emulator allows only if the signed
    thinking block came back first in the tool-calling turn."""
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text('model_reasoning_effort = "medium"\n'
                                      + CONFIG.format(url=demo.url))
    env = {**os.environ, "CODEX_HOME": str(home), "GATEWAY_API_KEY": "any", "NO_COLOR": "1"}
    run = subprocess.run(
        [str(js_tool("codex")), "exec", "--skip-git-repo-check",
         "--dangerously-bypass-approvals-and-sandbox", "-m", "claude-opus",
         "run `echo thought-through` with exec_command"],
        cwd=work, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "thought-through" in run.stdout
    assert run.stderr.count("Thinking about:") == 2, run.stderr[-3000:]
    assert set(statuses(demo.access())) == {200}
