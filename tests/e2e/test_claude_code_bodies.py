"""Claude Code's request shapes through the anthropic SDK (the beta surface): system
turns in ``messages``, adaptive thinking, ``context_management``, ``output_config``
effort, ``cache_control`` and ``defer_loading`` tools; on Claude (passthrough), on Kimi
(translated), and routed; ``max_tokens`` capping and the model map."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from gateway.config import ConfigError, parse_config
from tests.support.gateway_server import GatewayServer
from tests.support.gateway_server import test_config_text as config_text

BETAS = ["claude-code-20250219", "interleaved-thinking-2025-05-14",
         "context-management-2025-06-27", "mid-conversation-system-2026-04-07",
         "effort-2025-11-24"]
EPHEMERAL = {"type": "ephemeral"}
REMINDER = ("<system-reminder>\nThe following context may or may not be relevant. "
            "Answer briefly and use the tools listed. " * 30 + "</system-reminder>")
SYSTEM = [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"},
          {"type": "text", "text": "You are Claude Code. Report bugs to noreply@anthropic.com.",
           "cache_control": EPHEMERAL}]
BASH = {"name": "Bash", "description": "Run a shell command", "defer_loading": False,
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                         "required": ["command"]}, "cache_control": EPHEMERAL}


def client(gw) -> anthropic.Anthropic:
    # An explicit timeout: the SDK refuses large non-streamed max_tokens without one.
    return anthropic.Anthropic(base_url=gw.url, api_key="any", max_retries=0, timeout=30)


def cc_kwargs(words: str = "say hello", **over) -> dict:
    kw = dict(
        max_tokens=32000, betas=BETAS, system=SYSTEM, tools=[BASH],
        messages=[{"role": "user", "content": [{"type": "text", "text": REMINDER},
                                               {"type": "text", "text": words}]},
                  {"role": "system", "content": "# Environment\nPlatform: linux"}],
        thinking={"type": "adaptive"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        output_config={"effort": "high"},
        metadata={"user_id": '{"device_id":"d1","session_id":"s1"}'})
    kw.update(over)
    return kw


def _text(msg) -> str:
    return "".join(b.text for b in msg.content if b.type == "text")


def test_claude_gets_the_body_untouched(gateway, claude):
    kw = cc_kwargs()
    msg = client(gateway).beta.messages.create(model="claude-opus", **kw)
    assert _text(msg).startswith("Echo: <system-reminder>")
    got = claude.control.last_request
    body = got.json
    assert body["messages"] == kw["messages"]  # the system turn went through as sent
    for name in ("system", "tools", "thinking", "context_management", "output_config",
                 "metadata", "max_tokens"):
        assert body[name] == kw[name], name
    assert got.headers["anthropic-beta"] == ",".join(BETAS)


def test_unknown_fields_roles_and_blocks_reach_claude_and_its_400_is_relayed(gateway, claude):
    # A field and a role the gateway has never seen: Anthropic (here its emulator)
    # decides, and its own error comes back as it is.
    with pytest.raises(anthropic.BadRequestError) as e:
        client(gateway).messages.create(
            model="claude-opus", max_tokens=10, messages=[{"role": "user", "content": "x"}],
            extra_body={"brand_new_field": {"on": True}})
    assert "brand_new_field: Extra inputs are not permitted" in str(e.value)
    assert claude.control.last_request.json["brand_new_field"] == {"on": True}
    with pytest.raises(anthropic.BadRequestError) as e:
        client(gateway).messages.create(
            model="claude-opus", max_tokens=10,
            messages=[{"role": "user", "content": "x"}, {"role": "critic", "content": "y"}])
    assert "messages.1.role" in str(e.value)
    assert claude.control.last_request.json["messages"][1]["role"] == "critic"


def test_kimi_gets_a_translation(gateway, kimi):
    with client(gateway).beta.messages.stream(model="kimi-k2", **cc_kwargs()) as s:
        msg = s.get_final_message()
    assert msg.stop_reason in ("end_turn", "tool_use")
    body = kimi.control.last_request.json
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "system"]
    assert body["messages"][2]["content"] == "# Environment\nPlatform: linux"
    for dropped in ("thinking", "context_management", "output_config", "system"):
        assert dropped not in body
    assert "cache_control" not in str(body) and "defer_loading" not in str(body)


def test_auto_sends_a_chinese_claude_code_turn_to_kimi(gateway, kimi, claude):
    raw = client(gateway).beta.messages.with_raw_response.create(
        model="auto", **cc_kwargs("请帮我列出这个目录里的文件"))
    assert raw.headers["x-gateway-provider"] == "kimi"
    assert raw.headers["x-gateway-route"] == "chinese"
    assert claude.control.requests == []


def test_auto_sends_an_english_claude_code_turn_to_claude(gateway, claude):
    raw = client(gateway).beta.messages.with_raw_response.create(model="auto", **cc_kwargs())
    assert raw.headers["x-gateway-route"] == "default"
    assert raw.headers["x-gateway-provider"] == "claude"


def test_a_real_address_keeps_a_claude_code_turn_off_kimi(gateway):
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        client(gateway).beta.messages.create(
            model="kimi-k2", **cc_kwargs("把总结发给 jane.doe@gmail.com"))
    assert "PII (email in messages[0].content" in str(e.value)  # the field is named


def test_tool_round_trip_with_an_image_result_on_kimi(gateway, kimi):
    png = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    msgs = [{"role": "user", "content": "look at a.png"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                               "name": "Bash", "input": {"command": "cat a.png"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": [{"type": "image", "source": png}]}]},
            {"role": "system", "content": "note"}]
    msg = client(gateway).beta.messages.create(model="kimi-k2", **cc_kwargs(messages=msgs))
    assert msg.content
    sent = kimi.control.last_request.json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user", "system"]
    assert sent[4]["content"][1]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo="


# -- max_tokens above max_output_tokens ----------------------------------------------

def test_max_tokens_is_capped_for_claude(gateway, claude):
    msg = client(gateway).messages.create(model="claude-opus", max_tokens=128000,
                                          messages=[{"role": "user", "content": "hi"}])
    assert _text(msg) == "Echo: hi"
    assert claude.control.last_request.json["max_tokens"] == 64000


def test_thinking_budget_follows_the_cap(gateway, claude):
    client(gateway).messages.create(model="claude-opus", max_tokens=128000,
                                    thinking={"type": "enabled", "budget_tokens": 100000},
                                    messages=[{"role": "user", "content": "hi"}])
    sent = claude.control.last_request.json
    assert sent["max_tokens"] == 64000 and sent["thinking"]["budget_tokens"] == 63999


def test_auto_with_a_large_max_tokens_is_served_and_falls_back(gateway, claude, kimi):
    c = client(gateway)
    raw = c.messages.with_raw_response.create(model="auto", max_tokens=128000,
                                              messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-gateway-provider"] == "claude"
    claude.control.fail_next(529)
    raw = c.messages.with_raw_response.create(model="auto", max_tokens=128000,
                                              messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-gateway-provider"] == "kimi"
    assert kimi.control.last_request.json["max_tokens"] == 128000


# -- the model map --------------------------------------------------------------------

MAP = """
model_map:
  claude-haiku-*: kimi-k2
  claude-sonnet-*: auto
  claude-opus-4-5-20251101: claude-opus
"""


@pytest.fixture
def mapped(make_gateway):
    return make_gateway(extra=MAP)


def test_model_map_on_messages(mapped, kimi, claude):
    c = client(mapped)
    raw = c.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=50,
                                              messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-gateway-provider"] == "kimi"
    raw = c.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=50,
                                              messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-gateway-route"] == "default"
    raw = c.messages.with_raw_response.create(model="claude-opus-4-5-20251101", max_tokens=50,
                                              messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-gateway-route"] == "pinned"
    assert raw.headers["x-gateway-provider"] == "claude"
    with pytest.raises(anthropic.NotFoundError):
        c.messages.create(model="claude-3-opus", max_tokens=5,
                          messages=[{"role": "user", "content": "hi"}])
    assert c.messages.count_tokens(model="claude-haiku-4-5",
                                   messages=[{"role": "user", "content": "hi"}]).input_tokens > 0


def test_model_map_on_chat_and_in_the_explain_trace(mapped):
    body = {"model": "claude-haiku-4-5-20251001", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(mapped.url + "/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["x-gateway-provider"] == "kimi"
    r = httpx.post(mapped.url + "/v1/gateway/route", json=body)
    out = r.json()
    assert out["model"] == "kimi-k2"
    assert {"model_map": {"requested": "claude-haiku-4-5-20251001", "entry": "claude-haiku-*",
                          "model": "kimi-k2"}} in out["trace"]


def test_model_map_config_errors():
    for extra, fragment in [("model_map: {x-*: nowhere}", "unknown model 'nowhere'"),
                            ("model_map: {kimi-k2: claude-opus}", "aliases are never remapped")]:
        with pytest.raises(ConfigError) as e:
            parse_config(config_text("http://127.0.0.1:1/v1", "http://127.0.0.1:2", extra), {})
        assert fragment in str(e.value)


# -- /v1/models in both dialects --------------------------------------------------------

def test_models_in_anthropic_shape(mapped):
    c = client(mapped)
    page = c.models.list()
    ids = [m.id for m in page.data]
    assert ids == ["auto", "kimi-k2", "claude-opus"]
    assert all(m.type == "model" and m.display_name and m.created_at for m in page.data)
    assert page.first_id == "auto" and page.last_id == "claude-opus" and page.has_more is False
    first = c.models.list(limit=1)
    assert [m.id for m in first.data] == ["auto"] and first.has_more is True
    after = c.models.list(after_id="auto", limit=1)
    assert [m.id for m in after.data] == ["kimi-k2"]
    m = c.models.retrieve("kimi-k2")
    assert m.id == "kimi-k2" and m.type == "model"
    m = c.models.retrieve("claude-haiku-4-5")  # through the model map
    assert m.id == "claude-haiku-4-5" and "kimi-k2" in m.display_name
    with pytest.raises(anthropic.NotFoundError):
        c.models.retrieve("gpt-9")
    # Claude Code's discovery asks for limit=1000, the most Anthropic takes; one more is a 400.
    r = httpx.get(mapped.url + "/v1/models?limit=1000", headers={"anthropic-version": "2023-06-01"})
    assert r.status_code == 200 and len(r.json()["data"]) == 3
    for bad in ("1001", "0", "x"):
        r = httpx.get(mapped.url + f"/v1/models?limit={bad}",
                      headers={"anthropic-version": "2023-06-01"})
        assert r.status_code == 400 and r.json()["type"] == "error", bad
    r = httpx.get(mapped.url + "/v1/models?after_id=auto&before_id=kimi-k2", headers={"x-api-key": "k"})
    assert r.status_code == 400
    before = httpx.get(mapped.url + "/v1/models?before_id=claude-opus&limit=1",
                       headers={"x-api-key": "k"}).json()
    assert [m["id"] for m in before["data"]] == ["kimi-k2"] and before["has_more"] is True


def test_models_in_openai_shape(mapped):
    c = openai.OpenAI(base_url=mapped.url + "/v1", api_key="any", max_retries=0)
    assert [m.id for m in c.models.list()] == ["auto", "kimi-k2", "claude-opus"]
    m = c.models.retrieve("claude-opus")
    assert m.object == "model" and m.owned_by == "claude"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("gpt-9")


# -- Kimi through Moonshot's Anthropic-compatible endpoint ---------------------------

def test_kimi_over_moonshots_anthropic_endpoint(kimi, claude):
    text = config_text(kimi.url + "/v1", claude.url).replace("models:\n", f"""  kimi-anthropic:
    type: anthropic
    base_url: {kimi.url}/anthropic
    api_key: sk-emu-kimi
models:
  kimi-a:
    provider: kimi-anthropic
    upstream: kimi-k2-0905-preview
    context_window: 262144
""", 1)
    with GatewayServer(parse_config(text, {})) as gw:
        kw = cc_kwargs()
        msg = client(gw).beta.messages.create(model="kimi-a", **kw)
        assert _text(msg).startswith("Echo: <system-reminder>")
        got = kimi.control.last_request
        assert got.path == "/anthropic/v1/messages"
        assert got.headers["x-api-key"] == "sk-emu-kimi"
        assert got.json["messages"] == kw["messages"]
        # Chat completions are translated to the Anthropic wire for it.
        r = httpx.post(gw.url + "/v1/chat/completions", json={
            "model": "kimi-a", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "Echo: hi"
        assert kimi.control.last_request.path == "/anthropic/v1/messages"


def test_models_need_the_gateway_key_in_either_dialect(make_gateway):
    gw = make_gateway(keys="""keys:
  - name: team
    key: sk-gw-team
""")
    r = httpx.get(gw.url + "/v1/models", headers={"x-api-key": "wrong"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = httpx.get(gw.url + "/v1/models/kimi-k2", headers={"authorization": "Bearer wrong"})
    assert r.status_code == 401 and "error" in r.json() and "type" not in r.json()
    r = httpx.get(gw.url + "/v1/models", headers={"x-api-key": "sk-gw-team"})
    assert r.status_code == 200 and r.json()["data"][0]["type"] == "model"
    r = httpx.get(gw.url + "/v1/models", headers={"authorization": "Bearer sk-gw-team"})
    assert r.status_code == 200 and r.json()["object"] == "list"


def test_count_tokens_takes_system_turns_and_refuses_other_roles(gateway):
    c = client(gateway)
    kw = cc_kwargs()
    n = c.beta.messages.count_tokens(model="auto", messages=kw["messages"], system=SYSTEM,
                                     tools=[BASH], betas=BETAS).input_tokens
    assert n > 0
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.count_tokens(model="auto", messages=[{"role": "critic", "content": "x"}])
    assert "messages.0.role" in str(e.value)
