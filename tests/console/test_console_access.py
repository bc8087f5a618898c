"""Who may open the console: admin keys, loopback-only without keys, never an upstream key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from selenium.webdriver.common.by import By

from tests.support.gateway_server import GatewayServer
from tests.support.gateway_server import test_config as make_config
from tests.support.gateway_server import test_config_text as config_text

from .browser import chromium, screenshot, text, wait_for

pytestmark = pytest.mark.timeout(120)

CLIENT_KEY = "gw-console-client-key-1"
ADMIN_KEY = "gw-console-admin-key-1"
KEYS = f"""
keys:
  - name: team-a
    key: {CLIENT_KEY}
"""
ADMINS = f"""
console:
  admin_keys:
    - name: ops
      key: {ADMIN_KEY}
"""
APIS = [("GET", "/console/api/meta", None), ("GET", "/console/api/live", None),
        ("GET", "/console/api/decisions", None),
        ("POST", "/console/api/explain", {"prompt": "hello"}),
        ("POST", "/console/api/whatif", {"yaml": "x: 1"})]


def call(base: str, method: str, path: str, body: object, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, base + path, json=body, headers=headers, timeout=10)


@pytest.fixture
def keyed(kimi, claude) -> Iterator[GatewayServer]:
    cfg = make_config(kimi.url + "/v1", claude.url, ADMINS, keys=KEYS)
    with GatewayServer(cfg, env={"UPSTREAM_SECRET": "sk-upstream-secret-4711"}) as gw:
        yield gw


@pytest.mark.parametrize(("method", "path", "body"), APIS)
def test_with_keys_every_api_needs_an_admin_key(keyed: GatewayServer, method: str, path: str,
                                                body: object) -> None:
    for key in (None, CLIENT_KEY, "wrong-key-123"):
        r = call(keyed.url, method, path, body, key)
        assert r.status_code == 401, (key, r.text)
        assert "admin key" in r.json()["error"]["message"]
    assert call(keyed.url, method, path, body, ADMIN_KEY).status_code == 200


def test_an_admin_key_is_not_a_client_key(keyed: GatewayServer) -> None:
    client = openai.OpenAI(base_url=keyed.url + "/v1", api_key=ADMIN_KEY, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])


def test_the_page_itself_holds_no_data_and_loads_nothing_from_elsewhere(
        keyed: GatewayServer) -> None:
    r = httpx.get(keyed.url + "/console")
    assert r.status_code == 200 and "<title>Gateway console</title>" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("console.js", "console.css"):
        a = httpx.get(f"{keyed.url}/console/static/{asset}")
        body = a.text.replace('"http://www.w3.org/2000/svg"', "")  # a namespace, not a fetch
        assert a.status_code == 200 and "http://" not in body and "https://" not in body
    assert httpx.get(keyed.url + "/console/static/nope.js").status_code == 404


def test_keys_without_admin_keys_refuse_the_console(kimi, claude) -> None:
    cfg = make_config(kimi.url + "/v1", claude.url, keys=KEYS)
    with GatewayServer(cfg) as gw:
        r = call(gw.url, "GET", "/console/api/meta", None, CLIENT_KEY)
        assert r.status_code == 403
        assert "console.admin_keys" in r.json()["error"]["message"]


def test_console_disabled(kimi, claude) -> None:
    cfg = make_config(kimi.url + "/v1", claude.url, "console: {enabled: false}")
    with GatewayServer(cfg) as gw:
        assert httpx.get(gw.url + "/console").status_code == 404
        assert httpx.get(gw.url + "/console/api/live").status_code == 404


def test_no_upstream_key_in_any_answer(keyed: GatewayServer) -> None:
    oa = openai.OpenAI(base_url=keyed.url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    oa.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    # A draft whose error would quote an expanded secret.
    draft = config_text("${UPSTREAM_SECRET}", "http://127.0.0.1:1")
    answers = [call(keyed.url, m, p, b, ADMIN_KEY).text for m, p, b in APIS]
    answers.append(call(keyed.url, "POST", "/console/api/whatif", {"yaml": draft}, ADMIN_KEY).text)
    assert "providers.kimi.base_url" in answers[-1] and "[redacted]" in answers[-1]
    for text_ in answers:
        for secret in ("sk-emu-kimi", "sk-ant-emu", "sk-upstream-secret-4711", CLIENT_KEY,
                       ADMIN_KEY):
            assert secret not in text_


def test_browser_asks_for_the_admin_key(keyed: GatewayServer, tmp_path: Path) -> None:
    for driver in chromium():
        driver.get(keyed.url + "/console")
        wait_for(driver, lambda d: d.find_element(By.ID, "login").is_displayed(), what="login")
        assert "admin key" in text(driver, "login-msg")
        assert not driver.find_element(By.ID, "page-live").is_displayed()
        for key, opens in ((CLIENT_KEY, False), (ADMIN_KEY, True)):
            box = driver.find_element(By.ID, "admin-key")
            box.clear()
            box.send_keys(key)
            driver.find_element(By.ID, "login-button").click()
            if opens:
                wait_for(driver, lambda d: text(d, "live-total") not in ("", "–"),
                         what="the Live page")
            else:
                time.sleep(1)
                assert driver.find_element(By.ID, "login").is_displayed()
        screenshot(driver, tmp_path, "live-with-admin-key")


async def _meta_from(app: object, client_host: str) -> httpx.Response:
    """GET /console/api/meta into the gateway's own ASGI app as a client at
    ``client_host``: what a remote client's connection looks like to the app, with no
    traffic to any address but loopback (the tests send none elsewhere)."""
    transport = httpx.ASGITransport(app=app, client=(client_host, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        return await c.get("/console/api/meta")


@pytest.mark.parametrize("remote", ["203.0.113.7", "::ffff:198.51.100.4", "2001:db8::1"])
def test_without_keys_loopback_only_unless_the_config_says_so(kimi, claude,
                                                               remote: str) -> None:
    base = make_config(kimi.url + "/v1", claude.url)
    with GatewayServer(base) as gw:
        assert call(gw.url, "GET", "/console/api/meta", None, None).status_code == 200
        for host in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"):
            assert gw.call(_meta_from(gw.app, host)).status_code == 200, host
        r = gw.call(_meta_from(gw.app, remote))
        assert r.status_code == 403 and "loopback" in r.json()["error"]["message"]
    opened = make_config(kimi.url + "/v1", claude.url, "console: {allow_remote: true}")
    with GatewayServer(opened) as gw:
        assert gw.call(_meta_from(gw.app, remote)).status_code == 200


def test_a_draft_is_limited_to_one_mebibyte(keyed: GatewayServer) -> None:
    from gateway.console import MAX_DRAFT_BYTES

    def post(size: int) -> httpx.Response:
        head = b'{"yaml": "'
        body = head + b"#" * (size - len(head) - 2) + b'"}'
        assert len(body) == size
        return httpx.post(keyed.url + "/console/api/whatif", content=body, timeout=10,
                          headers={"authorization": f"Bearer {ADMIN_KEY}",
                                   "content-type": "application/json"})

    at_limit = post(MAX_DRAFT_BYTES)
    assert at_limit.status_code == 200 and at_limit.json()["ok"] is False  # a comment only
    over = post(MAX_DRAFT_BYTES + 1)
    assert over.status_code == 413, over.text
