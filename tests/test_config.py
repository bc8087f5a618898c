"""Config loading: the shipped file, env expansion, and errors that name the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, expand_env, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "gateway.yaml"


def test_shipped_config_is_the_contract_example():
    cfg = load_config(SHIPPED, {})
    assert set(cfg.providers) == {"kimi", "claude"}
    assert cfg.providers["kimi"].base_url == "https://api.moonshot.ai/v1"
    assert cfg.providers["claude"].base_url == "https://api.anthropic.com"
    assert cfg.models["kimi-k2"].upstream == "kimi-k2-0905-preview"
    assert cfg.models["claude-opus"].context_window == 200000
    assert [r.name for r in cfg.routing.rules] == ["long-context", "chinese", "default"]
    assert cfg.routing.default_policy == "standard"
    assert cfg.cache.mode == "deterministic"
    assert cfg.redis.url == "" and cfg.redis.on_error == "fail_open"
    # The team-a key has no value until its env var is set: disabled, open access.
    assert cfg.active_keys() == []


def test_env_expansion_fills_keys_and_urls():
    env = {"KIMI_API_KEY": "sk-k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
           "GATEWAY_KEY_TEAM_A": "gw-a", "REDIS_URL": "redis://127.0.0.1:1/0"}
    cfg = load_config(SHIPPED, env)
    assert cfg.providers["kimi"].api_key == "sk-k"
    assert cfg.providers["claude"].base_url == "http://127.0.0.1:9"
    assert cfg.redis.url == "redis://127.0.0.1:1/0"
    assert [k.name for k in cfg.active_keys()] == ["team-a"]


@pytest.mark.parametrize(
    "text, env, out",
    [
        ("a: ${X}", {"X": "1"}, "a: 1"),
        ("a: ${X:-d}", {}, "a: d"),
        ("a: ${X:-d}", {"X": ""}, "a: d"),
        ("a: ${X:-}", {}, "a: "),
        ("a: ${X:-http://h:1/v1}", {}, "a: http://h:1/v1"),
    ],
)
def test_expand(text, env, out):
    assert expand_env(text, env) == out


def test_unset_var_without_default_is_an_error():
    with pytest.raises(ConfigError, match="NOPE"):
        expand_env("a: ${NOPE}", {})


def _broken(old: str, new: str) -> str:
    text = SHIPPED.read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("to: [kimi-k2]\n", "to: [kimi-k3]\n", "routing.rules[0].to"),
        ("provider: kimi\n", "provider: moonshot\n", "models.kimi-k2.provider"),
        ("context_window: 262144", "context_window: -5", "models.kimi-k2.context_window"),
        ("on_error: fail_open", "on_error: maybe", "redis.on_error"),
        ("mode: deterministic", "mode: sometimes", "cache.mode"),
        ("default_policy: standard", "default_policy: lax", "routing.default_policy"),
        ("type: openai", "type: grpc", "providers.kimi.type"),
        ("ttl_s: 3600", "ttl_s: 3600\n  tll_s: 5", "cache.tll_s"),
        ("    policy: standard\n", "    policy: nope\n", "keys[0].policy"),
        ("when: {language: [zh]}", "when: {pii: [passport]}", "routing.rules[1].when.pii"),
    ],
)
def test_bad_config_names_the_field(old, new, field):
    with pytest.raises(ConfigError) as e:
        parse_config(_broken(old, new), {})
    assert field in str(e.value)


def test_check_config_cli(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", str(SHIPPED)],
                        capture_output=True, text=True, env=env, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "long-context" in ok.stdout and "claude-opus" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(_broken("to: [kimi-k2]\n", "to: [nope]\n"))
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", str(bad)],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 1
    assert "routing.rules[0].to" in r.stderr and "nope" in r.stderr
    notyaml = tmp_path / "x.yaml"
    notyaml.write_text("providers: [unclosed")
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", str(notyaml)],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 1 and "YAML" in r.stderr


def test_drop_params_names_are_checked() -> None:
    from tests.support.gateway_server import test_config_text as text
    cfg = parse_config(text("http://k/v1", "http://a", "drop_params: [seed, strict]"), {})
    assert cfg.drop_params == ["seed", "strict"]
    with pytest.raises(ConfigError) as info:
        parse_config(text("http://k/v1", "http://a", "drop_params: [sed]"), {})
    assert "drop_params" in str(info.value) and "'sed'" in str(info.value)
