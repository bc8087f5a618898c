"""The console in a real browser (headless Debian Chromium) against `gateway serve --demo`.

One gateway process for the module: the shipped config in demo mode (no keys, so the
console is open to loopback). Screenshots of each page go to ``$CONSOLE_SCREENSHOTS``
(the README's are made with ``CONSOLE_SCREENSHOTS=docs/console``) or the test's tmp dir.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.gateway_process import ROOT, GatewayProcess

from .browser import chromium, page_errors, screenshot, text, wait_for

pytestmark = pytest.mark.timeout(180)

SHIPPED = (ROOT / "config" / "gateway.yaml").read_text()
CHINESE = "用一句话介绍你自己"
ENGLISH = "Tell me about the weather in Paris today."
PII = "Please mail the invoice to ann@example.com"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayProcess]:
    env = {k: "" for k in ("KIMI_API_KEY", "ANTHROPIC_API_KEY", "REDIS_URL",
                           "GATEWAY_KEY_TEAM_A")}
    with GatewayProcess(SHIPPED, env=env, extra_args=["--demo"]) as proc:
        yield proc


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    for driver in chromium():
        yield driver
        # No script error, CSP violation or failed load on any page, all module long.
        assert page_errors(driver) == []


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = os.environ.get("CONSOLE_SCREENSHOTS")
    return Path(out) if out else tmp_path_factory.mktemp("console-screenshots")


def send(gw: GatewayProcess, prompt: str, n: int = 1) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="any", max_retries=0)
    for _ in range(n):
        client.chat.completions.create(model="auto",
                                       messages=[{"role": "user", "content": prompt}])


def open_page(browser: WebDriver, gw: GatewayProcess, page: str) -> None:
    browser.get(f"{gw.url}/console#{page}")
    wait_for(browser, lambda d: d.find_element(By.ID, f"page-{page}").is_displayed(),
             what=f"the {page} page")


def total(browser: WebDriver) -> int:
    t = text(browser, "live-total")
    return int(float(t)) if t not in ("", "–") else -1


def test_banner_prints_the_console_url(gw: GatewayProcess) -> None:
    assert f"console: open http://127.0.0.1:{gw.port}/console" in gw.log()


def test_live_numbers_move_with_traffic(gw: GatewayProcess, browser: WebDriver,
                                        shots: Path) -> None:
    open_page(browser, gw, "live")
    wait_for(browser, lambda d: total(d) >= 0, what="a first Live refresh")
    before = total(browser)
    seen_rps: list[float] = []
    for _ in range(10):  # traffic across several refreshes, so a rate is measured
        send(gw, CHINESE, 2)
        send(gw, ENGLISH, 2)
        send(gw, PII, 1)
        rps = text(browser, "live-rps")
        if rps not in ("", "–"):
            seen_rps.append(float(rps))
        time.sleep(0.7)
    wait_for(browser, lambda d: total(d) >= before + 50, what="the total to count 50 more")
    assert any(r > 0 for r in seen_rps), seen_rps
    routes = text(browser, "live-routes")
    assert "chinese" in routes and "default" in routes
    assert "kimi" in text(browser, "live-providers") and "claude" in text(browser, "live-providers")
    assert "claude-opus-4-5" in text(browser, "live-models")
    assert " ms / " in text(browser, "live-latency")
    assert "anonymous" in text(browser, "live-keys")
    assert "closed" in text(browser, "live-circuits")
    assert text(browser, "live-redis") == "not configured (memory)"
    assert text(browser, "live-config").startswith("version 0")
    screenshot(browser, shots, "live")


def test_recent_decisions_show_rule_model_and_features(gw: GatewayProcess, browser: WebDriver,
                                                       shots: Path) -> None:
    send(gw, CHINESE)
    open_page(browser, gw, "recent")

    def first_row(d: WebDriver) -> str:
        rows = d.find_elements(By.CSS_SELECTOR, "#recent-table tbody tr")
        return str(rows[0].text) if rows else ""

    # The record is written just after the response: a refresh later at the latest.
    wait_for(browser, lambda d: "chinese" in first_row(d), what="the newest decision")
    first = first_row(browser)
    assert "chinese" in first and "kimi-k2" in first and " zh " in f" {first} ", first
    body = text(browser, "recent-table")
    assert "email" in body  # the PII prompt's kind
    assert "ann@example.com" not in body  # no prompt text without prompt logging
    screenshot(browser, shots, "recent")


def explain_api(gw: GatewayProcess, prompt: str) -> dict[str, object]:
    r = httpx.post(gw.url + "/v1/gateway/route", json={
        "model": "auto", "messages": [{"role": "user", "content": prompt}]})
    return dict(r.json())


@pytest.mark.parametrize("prompt", [PII, CHINESE])
def test_playground_explains_like_the_explain_endpoint(gw: GatewayProcess, browser: WebDriver,
                                                       shots: Path, prompt: str) -> None:
    want = explain_api(gw, prompt)
    open_page(browser, gw, "playground")
    box = browser.find_element(By.ID, "pg-input")
    box.clear()
    box.send_keys(prompt)
    browser.find_element(By.ID, "pg-explain").click()
    # The outputs are emptied when a request starts: no earlier answer can be read here.
    wait_for(browser, lambda d: "rule" in text(d, "pg-decision"), what="the decision")
    decision = text(browser, "pg-decision")
    assert f"rule {want['rule']}" in decision and f"model {want['model']}" in decision, decision
    assert f"{want['rule']} yes" in text(browser, "pg-trace")
    browser.find_element(By.ID, "pg-send").click()
    wait_for(browser, lambda d: "HTTP 200" in text(d, "pg-headers"), what="the answer")
    assert f"x-gateway-route: {want['rule']}" in text(browser, "pg-headers")
    assert text(browser, "pg-answer")
    if prompt == PII:  # Latin script: the screenshot needs no CJK font
        browser.set_window_size(1280, 1250)
        screenshot(browser, shots, "playground")
        browser.set_window_size(1280, 1000)


def test_whatif_counts_change_with_the_draft(gw: GatewayProcess, browser: WebDriver,
                                             shots: Path, tmp_path: Path) -> None:
    records = httpx.get(gw.url + "/console/api/decisions?limit=500").json()["records"]
    chinese = sum(1 for r in records if r["route"] == "chinese")
    assert chinese >= 20
    open_page(browser, gw, "whatif")

    # The same config: nothing changes.
    same = tmp_path / "same.yaml"
    same.write_text(SHIPPED)
    browser.find_element(By.ID, "wi-file").send_keys(str(same))
    wait_for(browser, lambda d: "routing:" in d.find_element(By.ID, "wi-yaml").get_attribute("value"))
    browser.find_element(By.ID, "wi-run").click()
    wait_for(browser, lambda d: text(d, "wi-replayed") not in ("", "–"), what="a replay")
    assert int(text(browser, "wi-replayed")) == len(records)
    assert text(browser, "wi-changed-model") == "0"

    # Chinese goes to Claude: exactly the chinese requests change model and provider.
    draft = tmp_path / "draft.yaml"
    draft.write_text(SHIPPED.replace("to: [kimi-k2, claude-opus]     # fallback order",
                                     "to: [claude-opus]"))
    assert draft.read_text() != SHIPPED
    browser.find_element(By.ID, "wi-file").send_keys(str(draft))
    wait_for(browser, lambda d: "to: [claude-opus]\n" in
             d.find_element(By.ID, "wi-yaml").get_attribute("value"))
    browser.find_element(By.ID, "wi-run").click()
    wait_for(browser, lambda d: text(d, "wi-changed-model") == str(chinese),
             what=f"{chinese} changed models")
    assert text(browser, "wi-changed-provider") == str(chinese)
    assert "chinese / kimi-k2" in text(browser, "wi-moves")
    assert "chinese / claude-opus" in text(browser, "wi-moves")
    screenshot(browser, shots, "whatif")

    # A bad draft: check-config's own words.
    bad = "providers: {}\nmodels: {}\nrouting: {rules: []}\n"
    (tmp_path / "draft").write_text(bad)
    cli = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", "draft"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert cli.returncode == 1
    box = browser.find_element(By.ID, "wi-yaml")
    box.clear()
    box.send_keys(bad)
    browser.find_element(By.ID, "wi-run").click()
    wait_for(browser, lambda d: text(d, "wi-error") != "", what="the draft's error")
    assert text(browser, "wi-error") == cli.stderr.strip()
    assert not browser.find_element(By.ID, "wi-result").is_displayed()
