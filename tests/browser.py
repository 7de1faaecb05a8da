"""A real headless Chromium for the pages staff look at: the `browser` fixture.

Debian's `chromium` and `chromium-driver` (.ci/run installs them), driven by Selenium pointed at
/usr/bin/chromedriver, so Selenium Manager never downloads anything. One browser per test
session, a fresh profile directory, no network of its own (no sync, component updates or
background fetches). Each test starts with no cookies and an empty violation record.

Every Content-Security-Policy violation a page causes is collected twice: by a
`securitypolicyviolation` listener installed before any page script runs, and from the console
("Refused to …"). `browser.csp_violations()` returns both; a test of a page asserts it is empty.

Without the binaries the fixture skips, and under CI=true it fails instead.

    def test_the_page_works(browser, live_site):
        browser.open(live_site.url + "/admin/login/")
        browser.wait_for("#id_username").send_keys("stella")
        assert browser.csp_violations() == []
        assert browser.console_errors() == []
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 20
# Where screenshots go unless ARTIFACTS_DIR says otherwise (ignored by git).
ARTIFACTS_DEFAULT = Path(__file__).resolve().parent.parent / "artifacts"

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
    "--window-size=1280,1000",
)

# Runs in every document before its own scripts: records what CSP refused.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push({
    directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
    line: e.lineNumber, sample: e.sample, page: document.location.href,
  });
});
"""


class Browser:
    """The Selenium driver with the few things page tests need."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self._violations: list[dict[str, Any]] = []
        self._console: list[dict[str, Any]] = []

    def open(self, url: str) -> None:
        self._collect_page_violations()
        self.driver.get(url)

    def wait_for(self, css: str, *, count: int = 1) -> Any:
        """The first element matching `css`, once at least `count` of them are visible."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        def found(driver: Any) -> Any:
            elements = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
            return elements[0] if len(elements) >= count else False

        # An element found on the page being left (a form just submitted) is stale by the
        # time it is asked whether it is displayed: look again on the next page.
        return WebDriverWait(
            self.driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)
        ).until(found, f"no {count} visible {css!r} on {self.driver.current_url}")

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def until(self, condition: Any, message: str = "") -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_SECONDS).until(lambda _: condition(), message)

    def run_js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def console(self) -> list[dict[str, Any]]:
        """Every console entry since the test started."""
        self._console.extend(self.driver.get_log("browser"))
        return list(self._console)

    def csp_violations(self) -> list[dict[str, Any]]:
        """Every CSP violation since the test started, from the listener and the console."""
        self._collect_page_violations()
        found = list(self._violations)
        found += [e for e in self.console() if "Content Security Policy" in e.get("message", "")]
        return found

    def console_errors(self) -> list[dict[str, Any]]:
        """Console errors since the test started (a script that threw, a file that did not load),
        but for the /favicon.ico the browser asks for by itself."""
        return [
            entry
            for entry in self.console()
            if entry.get("level") == "SEVERE" and "/favicon.ico" not in entry.get("message", "")
        ]

    def _collect_page_violations(self) -> None:
        try:
            recorded = self.driver.execute_script("return window.__cspViolations || []")
        except Exception:  # noqa: BLE001 - no page loaded yet (about:blank before the first)
            recorded = []
        self._violations.extend(recorded or [])
        with contextlib.suppress(Exception):  # as above
            self.driver.execute_script("window.__cspViolations = []")

    def screenshot(self, name: str) -> Path:
        """Save the page as ARTIFACTS_DIR/screenshots/<name>.png (CI keeps the directory) and
        return the path."""
        directory = Path(os.environ.get("ARTIFACTS_DIR", ARTIFACTS_DEFAULT)) / "screenshots"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.png"
        if not self.driver.save_screenshot(str(path)):
            raise AssertionError(f"chromium saved no screenshot at {path}")
        return path

    def reset(self) -> None:
        self.driver.delete_all_cookies()
        self.driver.get("about:blank")
        self.driver.get_log("browser")
        self._violations.clear()
        self._console.clear()


def chromium_missing() -> str | None:
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not binary.exists():
            return f"needs {binary}: apt-get install {package} (.ci/run does)"
    return None


@pytest.fixture(scope="session")
def browser_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if reason := chromium_missing():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{reason} (CI=true: the browser tests must run)")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS}
        )
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def live_site(live_server: Any, settings: Any) -> Any:
    """pytest-django's live_server, with static files it can serve.

    live_server serves /static/ from the finders, which know no hashed (manifest) names: the
    pages link plain names here. The policy is the same; only the file names differ from a
    deployment (whitenoise, manifest), which tests/beo_automation/test_csp.py covers.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return live_server


@pytest.fixture
def browser(browser_session: Browser) -> Browser:
    """The session's browser, with no cookies and no violations from earlier tests."""
    browser_session.reset()
    return browser_session
