"""Headless Chromium through Selenium, for the HTML report's browser tests and scripts.

The driver is given by path, so Selenium Manager never looks for (or downloads) one,
and Chromium runs without any network service of its own. `GCSCOPE_CHROMIUM` and
`GCSCOPE_CHROMEDRIVER` override where they are.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def _find(variable: str, names: tuple[str, ...], default: str) -> str | None:
    explicit = os.environ.get(variable)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return default if os.access(default, os.X_OK) else None


def browser_paths() -> tuple[str, str] | str:
    """(chromium, chromedriver), or why they cannot be used."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    chromium = _find("GCSCOPE_CHROMIUM", ("chromium", "chromium-browser"), "/usr/bin/chromium")
    driver = _find("GCSCOPE_CHROMEDRIVER", ("chromedriver",), "/usr/bin/chromedriver")
    if chromium is None:
        return "Chromium is not installed (apt-get install chromium)"
    if driver is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return chromium, driver


def start_browser(profile: Path, width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium with its own profile folder, logging the console."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never go online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = browser_paths()
    if isinstance(paths, str):
        raise RuntimeError(paths)
    chromium, driver_path = paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


def wait_for_render(driver: Any, timeout: float = 30) -> None:
    """Until the page says every chart has drawn (document.documentElement.dataset.rendered)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, timeout).until(
            lambda d: d.execute_script(
                "return document.documentElement.dataset.rendered === 'true'"
            )
        )
    except TimeoutException:
        messages = [entry["message"] for entry in driver.get_log("browser")]
        raise AssertionError(f"the charts never finished drawing; console: {messages}") from None


def full_page_screenshot(driver: Any, path: Path, width: int = 1400) -> None:
    """A PNG of the whole page at `width` CSS pixels."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, height + 120)  # the window includes Chromium's own frame
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
