"""Nobody let in: keys on every route, compared in constant time; policies that no
header loosens; tenants isolated in the cache and in rate limits."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import pytest

from gateway import auth
from gateway.auth import KeyRing
from gateway.config import KeyConfig
from gateway.errors import AuthError
from tests.support import gateway_server as gs

KEY_A = "gk-tenant-a-0123456789abcdef"
KEY_B = "gk-tenant-b-0123456789abcdef"
KEY_STRICT = "gk-strict-0123456789abcdef"
KEY_HASHED = "gk-hashed-0123456789abcdef"
KEYS = f"""
keys:
  - {{name: a, key: {KEY_A}, policy: open, limits: {{rpm: 2}}}}
  - {{name: b, key: {KEY_B}, policy: open, limits: {{rpm: 2}}}}
  - {{name: strict, key: {KEY_STRICT}, policy: strict}}
  - {{name: hashed, key_sha256: {hashlib.sha256(KEY_HASHED.encode()).hexdigest()}}}
"""
CHAT_BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
MSG_BODY = {"model": "auto", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
ROUTES = [("POST", "/v1/chat/completions", CHAT_BODY), ("GET", "/v1/models", None),
          ("POST", "/v1/messages", MSG_BODY), ("POST", "/v1/messages/count_tokens", MSG_BODY),
          ("POST", "/v1/gateway/route", CHAT_BODY)]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/openapi.json"]


@pytest.fixture
def gw(make_gateway):
    return make_gateway(keys=KEYS)


@pytest.fixture(scope="module")
def shared(_kimi_session, _claude_session):
    """One gateway for the route x key matrix (nothing there is rate limited)."""
    keys = KEYS.replace(", limits: {rpm: 2}", "")
    with gs.GatewayServer(gs.test_config(_kimi_session.url + "/v1", _claude_session.url,
                                         keys=keys)) as g:
        yield g


def call(gw, method: str, path: str, body: object, headers: dict[str, str]) -> httpx.Response:
    return httpx.request(method, gw.url + path, json=body, headers=headers, timeout=10)


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


WRONG = {
    "none": {},
    "empty-bearer": {"authorization": "Bearer"},
    "not-bearer": {"authorization": f"Basic {KEY_A}"},
    "same-length": bearer("gk-tenant-a-0123456789abcdeX"),
    "right-prefix": bearer(KEY_A[:-1]),
    "key-plus-suffix": bearer(KEY_A + "0"),
    "case-changed": bearer(KEY_A.upper()),
    "sha256-of-key-as-key": bearer(hashlib.sha256(KEY_HASHED.encode()).hexdigest()),
}


@pytest.mark.parametrize("method, path, body", ROUTES, ids=[r[1] for r in ROUTES])
@pytest.mark.parametrize("wrong", list(WRONG))
def test_every_route_refuses_without_a_valid_key(shared, method, path, body, wrong):
    r = call(shared, method, path, body, WRONG[wrong])
    assert r.status_code == 401, (r.status_code, r.text[:200])
    if path.startswith("/v1/messages"):
        assert r.json()["error"]["type"] == "authentication_error"
    else:
        assert r.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("method, path, body", ROUTES, ids=[r[1] for r in ROUTES])
@pytest.mark.parametrize("key", [KEY_A, KEY_HASHED])
def test_valid_keys_pass_including_key_sha256_entries(shared, method, path, body, key):
    headers = {**bearer(key), "x-api-key": key}
    assert call(shared, method, path, body, headers).status_code == 200


def test_x_api_key_only_counts_on_the_anthropic_surface(shared):
    assert call(shared, "POST", "/v1/messages", MSG_BODY, {"x-api-key": KEY_A}).status_code == 200
    assert call(shared, "POST", "/v1/chat/completions", CHAT_BODY,
                {"x-api-key": KEY_A}).status_code == 401


@pytest.mark.parametrize("path", PUBLIC)
def test_public_paths_answer_without_a_key(shared, path):
    assert httpx.get(shared.url + path, timeout=10).status_code == 200


def test_public_paths_are_configurable(make_gateway):
    gw = make_gateway(keys=KEYS, extra="server: {public_paths: [/healthz]}")
    assert httpx.get(gw.url + "/healthz").status_code == 200
    for path in ("/readyz", "/metrics", "/openapi.json"):
        assert httpx.get(gw.url + path).status_code == 401
        assert httpx.get(gw.url + path, headers=bearer(KEY_A)).status_code == 200


def test_keyring_compares_every_digest_in_constant_time(monkeypatch):
    keys = [KeyConfig(name="a", key=KEY_A), KeyConfig(name="b", key=KEY_B),
            KeyConfig(name="h", key_sha256=hashlib.sha256(KEY_HASHED.encode()).hexdigest())]
    ring = KeyRing(keys)
    # Only SHA-256 digests are kept, never a key itself.
    assert all(isinstance(d, bytes) and len(d) == 32 for d, _ in ring._entries)
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert auth.hmac.compare_digest is spy
    # Every configured digest is compared, with digests of equal length, whether the
    # key is the first, the last, a near miss or nothing alike: no early exit.
    for presented, name in ((KEY_A, "a"), (KEY_HASHED, "h"), (KEY_A[:-1], None),
                            (KEY_A[:-1] + "X", None), (KEY_A + "X", None), ("\udcff", None)):
        compared.clear()
        if name is None:
            with pytest.raises(AuthError):
                ring.identify(presented)
        else:
            assert ring.identify(presented).name == name
        assert len(compared) == len(keys)
        assert all(len(a) == len(b) == 32 for a, b in compared)


@pytest.mark.parametrize("header", ["open", "standard", "OPEN", "strict"])
def test_no_header_loosens_a_strict_key(gw, kimi, header):
    before = len(kimi.control.requests)
    r = call(gw, "POST", "/v1/chat/completions", {**CHAT_BODY, "model": "kimi-k2"},
             {**bearer(KEY_STRICT), "x-gateway-policy": header})
    assert r.status_code in (400, 403), r.text  # 400: an unknown policy name
    routed = call(gw, "POST", "/v1/chat/completions",
                  {"model": "auto", "messages": [{"role": "user", "content": "用中文回答我"}]},
                  {**bearer(KEY_STRICT), "x-gateway-policy": header})
    if routed.status_code == 200:
        assert routed.headers["x-gateway-provider"] == "claude"
    explain = call(gw, "POST", "/v1/gateway/route", {**CHAT_BODY, "model": "kimi-k2"},
                   {**bearer(KEY_STRICT), "x-gateway-policy": header})
    assert explain.status_code in (400, 403)
    assert len(kimi.control.requests) == before  # Kimi never saw a strict key's request


def test_cache_is_per_tenant(gw, claude):
    body = {**CHAT_BODY, "temperature": 0, "messages": [{"role": "user", "content": "cache me"}]}
    claude.control.text_override = "answer for A"
    a1 = call(gw, "POST", "/v1/chat/completions", body, bearer(KEY_A))
    a2 = call(gw, "POST", "/v1/chat/completions", body, bearer(KEY_A))
    assert a2.headers["x-gateway-cache"] == "hit"
    claude.control.text_override = "answer for B"
    b = call(gw, "POST", "/v1/chat/completions", body, bearer(KEY_B))
    assert b.headers["x-gateway-cache"] == "miss"
    assert b.json()["choices"][0]["message"]["content"] == "answer for B"
    assert a1.json()["choices"][0]["message"]["content"] == "answer for A"


def test_rate_limits_are_per_tenant(gw):
    for _ in range(2):
        assert call(gw, "POST", "/v1/chat/completions", CHAT_BODY, bearer(KEY_A)).status_code == 200
    exhausted = call(gw, "POST", "/v1/chat/completions", CHAT_BODY, bearer(KEY_A))
    assert exhausted.status_code == 429
    assert call(gw, "POST", "/v1/chat/completions", CHAT_BODY, bearer(KEY_B)).status_code == 200
    assert exhausted.headers["x-ratelimit-remaining-requests"] == "0"
