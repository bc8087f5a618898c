"""Headless Debian Chromium driven by Selenium through Debian's chromium-driver.

``scripts/test.sh`` installs both (``apt-need.sh chromium chromedriver``). The browser
gets a fresh profile and every flag that stops it calling home, so the only requests
it makes are the page's own, to the gateway under test.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {names} is installed: bash scripts/test.sh installs Debian's "
                       "chromium and chromium-driver")


def chromium() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="gw-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = _binary("chromium", "chromium-browser")
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=_binary("chromedriver")),
                              options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: WebDriver, cond: Callable[[WebDriver], object], timeout: float = 15,
             what: str = "") -> object:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: cond(d), message=what)


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def screenshot(driver: WebDriver, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def page_errors(driver: WebDriver) -> list[str]:
    """Errors the page logged since the last call: script errors, CSP violations, failed
    loads (an expected 401/403 from the console's API is not one)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and " 401 " not in e["message"]
            and " 403 " not in e["message"]]
