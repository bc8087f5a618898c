"""store / previous_response_id / GET / DELETE / input_items, on memory and Redis,
scoped to the gateway key that created the response."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.limits_support import wait_until

from .support import MODELS, client, strict_response

KEYS = """keys:
  - {name: team-a, key: sk-gw-a, policy: open}
  - {name: team-b, key: sk-gw-b, policy: open}
"""


@pytest.fixture(params=["memory", "redis"])
def gw(request, make_gateway):
    url = request.getfixturevalue("redis_session").url if request.param == "redis" else None
    if url:
        request.getfixturevalue("redis_session").cli("FLUSHALL")
    return make_gateway(keys=KEYS, redis_url=url)


@pytest.mark.parametrize("model", MODELS)
def test_previous_response_id_continues_the_conversation(gw, model, kimi, claude):
    a = client(gw, api_key="sk-gw-a")
    first = a.responses.create(model=model, input="My name is `Ann`.", instructions="Be brief.")
    second = a.responses.create(model=model, input="What is my name?",
                                previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.status == "completed"
    sent = (claude if second.model.startswith("claude") else kimi).control.last_request.json
    texts = str(sent["messages"])
    assert "My name is `Ann`." in texts and first.output_text[:20] in texts
    assert "What is my name?" in texts
    # instructions are not carried over (as on OpenAI): only this request's would be sent
    assert "Be brief." not in str(sent.get("system", "")) + texts


def test_retrieve_input_items_delete_and_other_keys(gw):
    a, b = client(gw, api_key="sk-gw-a"), client(gw, api_key="sk-gw-b")
    r = a.responses.create(model="kimi-k2", input=[
        {"role": "user", "content": "one"}, {"role": "user", "content": [
            {"type": "input_text", "text": "two"}]}])
    got = a.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == r.output_text
    strict_response(got.model_dump(mode="json"))
    items = a.responses.input_items.list(r.id)
    assert [i.content[0].text for i in items.data] == ["two", "one"]  # newest first
    asc = a.responses.input_items.list(r.id, order="asc", limit=1)
    assert [i.content[0].text for i in asc.data] == ["one"] and asc.has_more
    with pytest.raises(openai.NotFoundError):
        b.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        b.responses.delete(r.id)
    with pytest.raises(openai.BadRequestError):
        b.responses.create(model="kimi-k2", input="hi", previous_response_id=r.id)
    a.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        a.responses.retrieve(r.id)


def test_store_false_keeps_nothing(gw):
    a = client(gw, api_key="sk-gw-a")
    r = a.responses.create(model="claude-opus", input="hello", store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        a.responses.retrieve(r.id)


def test_a_streamed_response_is_stored_before_its_last_event(gw):
    a = client(gw, api_key="sk-gw-a")
    with a.responses.stream(model="claude-opus", input="stream and keep") as s:
        final = s.get_final_response()
    # Sent right after the terminal event: the entry must already be there.
    assert a.responses.retrieve(final.id).output_text == final.output_text
    follow = a.responses.create(model="kimi-k2", input="more", previous_response_id=final.id)
    assert follow.status == "completed"


def test_item_reference_resolves_from_the_previous_response(gw, kimi):
    a = client(gw, api_key="sk-gw-a")
    first = a.responses.create(model="kimi-k2", input="remember `42`")
    msg = first.output[-1]
    a.responses.create(model="kimi-k2", previous_response_id=first.id,
                       input=[{"type": "item_reference", "id": msg.id},
                              {"role": "user", "content": "again"}])
    with pytest.raises(openai.BadRequestError):
        a.responses.create(model="kimi-k2", input=[{"type": "item_reference", "id": "msg_x"}])


def test_input_tokens_counts_like_the_features(gw):
    r = httpx.post(gw.url + "/v1/responses/input_tokens", headers={
        "authorization": "Bearer sk-gw-a"}, json={"model": "kimi-k2", "input": "hello " * 100})
    assert r.status_code == 200 and r.json()["object"] == "response.input_tokens"
    assert 100 <= r.json()["input_tokens"] <= 130
    assert httpx.post(gw.url + "/v1/responses/input_tokens", json={"input": "x"}).status_code == 401


def test_a_redis_outage_is_a_503_not_a_lost_conversation(make_gateway, own_redis):
    """Stored responses are the store's key-value state (gateway/stores/README.md): under
    fail_open a lookup while Redis is down is a retryable 503, never "not found", and a
    new answer is still served (not stored)."""
    gw = make_gateway(keys=KEYS, redis_url=own_redis.url)
    a = client(gw, api_key="sk-gw-a")
    first = a.responses.create(model="kimi-k2", input="My name is `Ann`.")
    assert own_redis.cli("EXISTS", f"gw:kv:responses:team-a:{first.id}").strip() == "1"
    assert own_redis.cli("EXISTS", f"gw:c:responses:team-a:{first.id}").strip() == "0"
    own_redis.kill()
    with pytest.raises(openai.InternalServerError) as info:
        a.responses.create(model="kimi-k2", input="What is my name?",
                           previous_response_id=first.id)
    assert info.value.status_code == 503 and "Redis is unreachable" in str(info.value)
    with pytest.raises(openai.InternalServerError):
        a.responses.retrieve(first.id)
    during = a.responses.create(model="kimi-k2", input="hello")  # served, not stored
    assert during.status == "completed"
    own_redis.restart()  # back after the store's 1 s back-off: then "not found" is true

    def found_or_not() -> bool:
        try:
            a.responses.retrieve(during.id)
        except openai.NotFoundError:
            return True
        except openai.InternalServerError:
            return False
        raise AssertionError("a response answered during the outage was stored")
    assert wait_until(found_or_not, 5)
