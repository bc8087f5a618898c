"""The access log of a real ``gateway serve``: one line per request on stderr.

JSON by default (``GATEWAY_LOG_FORMAT=human`` for people), with the fields operators
query; prompts and completions stay out unless ``GATEWAY_LOG_PROMPTS=true``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import anthropic
import openai
import pytest

from gateway.logs import ACCESS_FIELDS
from tests.support.gateway_process import GatewayProcess

from .support import (
    ENGLISH,
    access_line,
    access_lines,
    config_text,
    wait_access_lines,
    wait_log,
)

pytestmark = pytest.mark.timeout(60)

TEAM_KEY = "gw-access-team-key-42"
KEYS = f"""
keys:
  - name: team-a
    key: {TEAM_KEY}
    limits: {{rpm: 1000}}
"""
# Appears in the prompt and, echoed by the emulators, in the completion.
MARKER = "zebra-quokka-7731"
PROMPT = [{"role": "user", "content": f"Please repeat the word {MARKER} for me."}]


def oa(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=TEAM_KEY, max_retries=0)


@pytest.fixture(scope="module")
def gw(_kimi_session, _claude_session) -> Iterator[GatewayProcess]:
    """One process for the module; tests steer the emulators through ``kimi``/``claude``."""
    with GatewayProcess(config_text(_kimi_session.url, _claude_session.url, keys=KEYS,
                                    extra="cache: {mode: deterministic}")) as proc:
        yield proc


def test_success_line_has_every_field(gw: GatewayProcess, kimi, claude) -> None:
    raw = oa(gw).chat.completions.with_raw_response.create(
        model="auto", messages=ENGLISH, extra_headers={"x-request-id": "acc-ok-1"})
    assert raw.headers["x-request-id"] == "acc-ok-1"
    line = access_line(gw, "acc-ok-1")
    assert list(line)[:4] == ["time", "level", "logger", "pid"]
    assert set(ACCESS_FIELDS) <= set(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["logger"] == "gateway.access" and line["level"] == "info"
    assert (line["key"], line["route"], line["provider"], line["model"], line["alias"]) == (
        "team-a", "default", "claude", "claude-opus-4-5", "claude-opus")
    assert (line["status"], line["stream"], line["cache"]) == (200, False, "bypass")
    usage = raw.parse().usage
    assert (line["tokens_in"], line["tokens_out"]) == (usage.prompt_tokens,
                                                       usage.completion_tokens)
    assert line["cost_usd"] > 0
    assert line["duration_ms"] >= line["upstream_ms"] > 0 and line["overhead_ms"] > 0
    assert line["ttft_ms"] is None  # not a stream
    assert line["attempts"] == [{"model": "claude-opus", "status": 200}]
    assert line["fallbacks"] == 0
    assert "error" not in line


def test_cache_hit_line(gw: GatewayProcess, kimi, claude) -> None:
    for rid in ("acc-c-1", "acc-c-2"):
        oa(gw).chat.completions.create(model="auto", messages=ENGLISH, temperature=0,
                                       extra_headers={"x-request-id": rid})
    first, second = access_line(gw, "acc-c-1"), access_line(gw, "acc-c-2")
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert second["status"] == 200 and second["cost_usd"] == 0


def test_upstream_error_line(gw: GatewayProcess, kimi, claude) -> None:
    claude.control.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        oa(gw).chat.completions.create(model="claude-opus", messages=ENGLISH,
                                       extra_headers={"x-request-id": "acc-err-1"})
    line = access_line(gw, "acc-err-1")
    assert line["status"] == 502 and line["route"] == "pinned" and line["key"] == "team-a"
    assert line["provider"] is None and line["tokens_out"] == 0
    assert "upstream claude returned 500" in line["error"]
    assert line["attempts"] == [{"model": "claude-opus", "error": "5xx", "status": 502}]


def test_fallback_line_counts_the_fallback(gw: GatewayProcess, kimi, claude) -> None:
    claude.control.fail_next(529)
    oa(gw).chat.completions.create(model="auto", messages=ENGLISH,
                                   extra_headers={"x-request-id": "acc-fb-1"})
    line = access_line(gw, "acc-fb-1")
    assert line["status"] == 200 and line["provider"] == "kimi"
    assert [a["model"] for a in line["attempts"]] == ["claude-opus", "kimi-k2"]
    assert line["fallbacks"] == 1


def test_stream_line(gw: GatewayProcess, kimi, claude) -> None:
    an = anthropic.Anthropic(base_url=gw.url, api_key=TEAM_KEY, max_retries=0)
    with an.messages.stream(model="auto", max_tokens=64, messages=ENGLISH,
                            extra_headers={"x-request-id": "acc-st-1"}) as stream:
        text = stream.get_final_text()
    assert "Paris" in text
    line = access_line(gw, "acc-st-1")
    assert (line["surface"], line["stream"], line["status"]) == ("messages", True, 200)
    assert line["ttft_ms"] is not None and line["ttft_ms"] > 0
    assert line["tokens_out"] > 0 and line["cost_usd"] > 0


def test_request_refused_before_routing_still_gets_a_line(gw: GatewayProcess, kimi,
                                                          claude) -> None:
    bad = openai.OpenAI(base_url=gw.url + "/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="auto", messages=ENGLISH,
                                    extra_headers={"x-request-id": "acc-401"})
    line = access_line(gw, "acc-401")
    assert line["status"] == 401 and line["error"]
    assert set(ACCESS_FIELDS) <= set(line) and line["route"] is None


def _send_marked_prompt(gw: GatewayProcess) -> None:
    r = oa(gw).chat.completions.create(model="auto", messages=PROMPT)
    assert MARKER in (r.choices[0].message.content or "")  # the completion carries it
    chunks = list(oa(gw).chat.completions.create(model="kimi-k2", messages=PROMPT,
                                                 stream=True))
    assert MARKER in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_prompts_and_completions_are_not_logged_by_default(gw: GatewayProcess, kimi,
                                                           claude) -> None:
    before = len(access_lines(gw))
    _send_marked_prompt(gw)
    assert len(wait_access_lines(gw, before + 2)) == before + 2
    assert MARKER not in gw.log()


def test_log_prompts_puts_the_prompt_in_the_access_line(kimi, claude) -> None:
    with GatewayProcess(config_text(kimi.url, claude.url, keys=KEYS),
                        env={"GATEWAY_LOG_PROMPTS": "true"}) as gw:
        _send_marked_prompt(gw)
        lines = wait_access_lines(gw, 2)
    assert len(lines) == 2
    assert all(line["prompt"] == PROMPT for line in lines)


def test_human_format_is_one_readable_line_per_request(kimi, claude) -> None:
    with GatewayProcess(config_text(kimi.url, claude.url, keys=KEYS),
                        env={"GATEWAY_LOG_FORMAT": "human"}) as gw:
        oa(gw).chat.completions.create(model="auto", messages=ENGLISH,
                                       extra_headers={"x-request-id": "acc-h-1"})
        log = wait_log(gw, "acc-h-1")  # written after the response is sent
    lines = [line for line in log.splitlines() if "acc-h-1" in line]
    assert len(lines) == 1
    line = lines[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "gateway.access" in line and "200 chat_completions key=team-a route=default" in line
    assert "claude/claude-opus-4-5" in line and "fallbacks=0" in line
    assert not any(row.startswith("{") for row in log.splitlines())
