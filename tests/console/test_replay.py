"""`gateway replay --config draft.yaml [access-log]` against a hand-computed table, and the
features a real access log records for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.serve.support import config_text, wait_access_lines
from tests.support.gateway_process import ROOT, GatewayProcess

pytestmark = pytest.mark.timeout(60)

URLS = ("http://127.0.0.1:9/v1", "http://127.0.0.1:9")
DRAFT_RULES = """
    - name: long-context
      when: {min_tokens: 150000}
      to: [kimi-k2]
    - name: chinese
      when: {language: [zh]}
      to: [claude-opus]
    - name: default
      to: [kimi-k2, claude-opus]
"""


def feats(tokens: int, language: str, pii: list[str] | None = None) -> dict[str, Any]:
    return {"tokens": tokens, "requested_output": None, "language": language, "pii": pii or [],
            "has_images": False, "has_tools": False, "stream": False}


def line(rid: str, route: str | None, alias: str | None, provider: str | None,
         f: dict[str, Any] | None, *, requested: str = "auto", status: int = 200,
         cache: str = "miss", tin: int = 0, tout: int = 0, cost: float = 0.0) -> str:
    rec: dict[str, Any] = {
        "time": "2025-01-02T03:04:05.678Z", "level": "info", "logger": "gateway.access",
        "pid": 7, "request_id": rid, "surface": "chat_completions", "key": None, "route": route,
        "provider": provider, "model": None, "alias": alias, "status": status, "stream": False,
        "cache": cache, "tokens_in": tin, "tokens_out": tout, "tokens_cached": 0,
        "cost_usd": cost, "duration_ms": 1.0, "upstream_ms": 1.0, "overhead_ms": 0.1,
        "ttft_ms": None, "attempts": [], "fallbacks": 0}
    if f is not None:
        rec["routing"] = {"requested": requested, "model": alias, "provider": provider,
                          "policy": ["standard"], "features": f}
    return json.dumps(rec, ensure_ascii=False)


# Recorded under the shipped rules (chinese -> kimi-k2, default -> claude-opus);
# prices: kimi-k2 0.60 / 2.50, claude-opus 5.00 / 25.00 per million tokens.
LOG = "\n".join([
    "gateway listening on http://127.0.0.1:8080 (a plain banner line)",
    json.dumps({"logger": "gateway", "level": "info", "message": "config reloaded"}),
    line("r1", "chinese", "kimi-k2", "kimi", feats(100, "zh"), tin=100, tout=50, cost=0.000185),
    line("r2", "chinese", "kimi-k2", "kimi", feats(100, "zh"), cache="hit", tin=100, tout=50),
    line("r3", "default", "claude-opus", "claude", feats(1000, "en"), tin=1000, tout=100,
         cost=0.0075),
    line("r4", "default", "claude-opus", "claude", feats(30, "en", ["email"]), status=502),
    line("r5", None, None, None, None, status=401),
    line("r6", "pinned", "kimi-k2", "kimi", feats(20, "en"), requested="kimi-k2", tin=20,
         tout=5, cost=0.0000245),
    line("r7", "long-context", "kimi-k2", "kimi", feats(160000, "zh"), tin=160000, tout=10,
         cost=0.096025),
]) + "\n"

# By hand, draft rules above:
#   r1 chinese/kimi-k2 -> chinese/claude-opus  changed; spend 0.000185 -> (100*5+50*25)/1e6
#   r2 chinese/kimi-k2 -> chinese/claude-opus  changed; a cache hit spends nothing
#   r3 default/claude-opus -> default/kimi-k2  changed; 0.0075 -> (1000*0.6+100*2.5)/1e6
#   r4 default/claude-opus -> default/claude-opus (PII: kimi removed by 'standard'); failed
#   r5 refused before routing: skipped
#   r6 pinned kimi-k2, unchanged; r7 long-context kimi-k2, unchanged
EXPECTED = {
    "replayed": 6, "skipped": 1, "changed_model": 3, "changed_provider": 3,
    "spend_before_usd": 0.1037345, "spend_after_usd": 0.0986495, "spend_delta_usd": -0.005085,
    "by_rule": [
        {"rule": "chinese", "requests": 2, "changed_model": 2, "changed_provider": 2,
         "spend_before_usd": 0.000185, "spend_after_usd": 0.00175},
        {"rule": "default", "requests": 2, "changed_model": 1, "changed_provider": 1,
         "spend_before_usd": 0.0075, "spend_after_usd": 0.00085},
        {"rule": "pinned", "requests": 1, "changed_model": 0, "changed_provider": 0,
         "spend_before_usd": 0.0000245, "spend_after_usd": 0.0000245},
        {"rule": "long-context", "requests": 1, "changed_model": 0, "changed_provider": 0,
         "spend_before_usd": 0.096025, "spend_after_usd": 0.096025},
    ],
    "moves": [
        {"from_rule": "chinese", "from_model": "kimi-k2", "to_rule": "chinese",
         "to_model": "claude-opus", "requests": 2},
        {"from_rule": "default", "from_model": "claude-opus", "to_rule": "default",
         "to_model": "kimi-k2", "requests": 1},
    ],
}


def gateway(*args: str, stdin: str | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], input=stdin,
                          capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=30)


def approx(summary: dict[str, Any]) -> dict[str, Any]:
    """Money rounded to 1e-9: the table's figures are decimal, the sums binary."""
    def fix(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 9)
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    return dict(fix(summary))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    draft = tmp_path / "draft.yaml"
    draft.write_text(config_text(*URLS, rules=DRAFT_RULES))
    log = tmp_path / "access.log"
    log.write_text(LOG)
    return draft, log


def test_replay_matches_the_hand_computed_table(files: tuple[Path, Path]) -> None:
    draft, log = files
    out = gateway("replay", "--config", str(draft), str(log), "--json")
    assert out.returncode == 0, out.stderr
    assert approx(json.loads(out.stdout)) == approx(EXPECTED)
    # stdin, as a table
    table = gateway("replay", "--config", str(draft), stdin=LOG)
    assert table.returncode == 0, table.stderr
    assert "replayed 6 requests (1 without routing features skipped)" in table.stdout
    assert "would change model: 3   would change provider: 3" in table.stdout
    assert "estimated spend: $0.10373" in table.stdout  # 0.1037345, binary-rounded
    assert " -> $0.098650 (-0.005085)" in table.stdout
    assert "2  chinese/kimi-k2 -> chinese/claude-opus" in table.stdout


def test_replay_errors_are_clear(files: tuple[Path, Path], tmp_path: Path) -> None:
    draft, log = files
    missing = gateway("replay", "--config", str(draft), str(tmp_path / "nope.log"))
    assert missing.returncode == 1 and "nope.log" in missing.stderr
    broken = gateway("replay", "--config", str(draft), stdin=LOG + '{"logger": "gateway.acc\n')
    assert broken.returncode == 1 and "line 10 is not valid JSON" in broken.stderr
    human = gateway("replay", "--config", str(draft),
                    stdin="2025-01-02 03:04:05 INFO gateway.access: 200 openai key=team-a\n")
    assert human.returncode == 1 and "no access lines found" in human.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("routing: {rules: []}\n")
    cfg = gateway("replay", "--config", str(bad), str(log))
    assert cfg.returncode == 1
    assert cfg.stderr == gateway("check-config", str(bad)).stderr


def test_a_recorded_access_log_replays(kimi, claude, tmp_path: Path) -> None:
    """A real gateway's access lines carry the routing features; replaying them through
    the same config changes nothing, through the draft exactly the Chinese requests."""
    prompts = ["用一句话介绍你自己", "今天天气怎么样", "Tell me about Paris.",
               "Mail ann@example.com the notes."]
    with GatewayProcess(config_text(kimi.url, claude.url)) as gw:
        oa = openai.OpenAI(base_url=gw.url + "/v1", api_key="any", max_retries=0)
        for p in prompts:
            oa.chat.completions.create(model="auto", messages=[{"role": "user", "content": p}])
        oa.chat.completions.create(model="kimi-k2", messages=[{"role": "user", "content": "hi"}])
        lines = wait_access_lines(gw, len(prompts) + 1)
        recorded = gw.log()
        same = gw.config_path.read_text()
    assert len(lines) == 5
    first = lines[0]
    assert first["routing"] == {"requested": "auto", "model": "kimi-k2", "provider": "kimi",
                                "policy": ["standard"], "features": {
                                    "tokens": first["routing"]["features"]["tokens"],
                                    "requested_output": None, "language": "zh", "pii": [],
                                    "has_images": False, "has_tools": False, "stream": False,
                                    "pii_fields": {}, "pii_unverified": []}}
    assert lines[3]["routing"]["features"]["pii"] == ["email"]
    assert lines[3]["routing"]["features"]["pii_fields"] == {"email": "messages[0].content"}
    assert lines[4]["routing"]["requested"] == "kimi-k2"
    log = tmp_path / "recorded.log"
    log.write_text(recorded)
    (tmp_path / "same.yaml").write_text(same)
    (tmp_path / "draft.yaml").write_text(config_text(kimi.url, claude.url, rules=DRAFT_RULES))
    unchanged = json.loads(gateway("replay", "--config", str(tmp_path / "same.yaml"), str(log),
                                   "--json").stdout)
    assert (unchanged["replayed"], unchanged["changed_model"]) == (5, 0)
    assert unchanged["spend_delta_usd"] == 0
    changed = json.loads(gateway("replay", "--config", str(tmp_path / "draft.yaml"), str(log),
                                 "--json").stdout)
    # Chinese -> claude (2); English "Tell me about Paris." -> kimi under the draft's
    # default (1); the PII prompt stays on claude; the pinned kimi-k2 stays.
    assert (changed["replayed"], changed["changed_model"], changed["changed_provider"]) == (5, 3, 3)
    assert {(m["from_rule"], m["to_model"], m["requests"]) for m in changed["moves"]} == {
        ("chinese", "claude-opus", 2), ("default", "kimi-k2", 1)}
