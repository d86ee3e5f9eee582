"""Fixtures for the browser tests: a live server, Debian's Chromium driven by Playwright.

Playwright cannot download its own browser here, so it launches `/usr/bin/chromium`
(`make browser-deps` installs it). Every request the page makes is recorded, so a test can
assert that nothing but the live server is contacted (no CDN, ever).

Data the live server must see is committed: tests use `live_server` with `transactional_db`.
`django_db_serialized_rollback` restores the rows the migrations load (counties, role groups)
that a transactional test's flush would otherwise remove.
"""

import os
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from ..conftest import under_ci

# Playwright's sync API runs an event loop in this thread; Django's async-safety check would
# then refuse the ORM calls tests make between browser steps.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The password UserFactory gives every user.
TEST_PASSWORD = "pw-for-tests-1"


def pytest_collection_modifyitems(items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.browser)


def chromium_or_skip(path: str | os.PathLike = CHROMIUM, *, environ=os.environ) -> str:
    """The browser to launch. Without it the browser tests are skipped on a developer's
    machine, but fail under CI: a run that silently skipped them would pass untested."""
    if os.access(path, os.X_OK):
        return str(path)
    message = f"{path} is missing: run `make browser-deps`"
    if under_ci(environ):
        pytest.fail(f"CI needs Chromium for the browser tests; {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def server(live_server, transactional_db, django_db_serialized_rollback):
    """The live server, with a database the tests commit to and the migrations' rows back."""
    return live_server


@pytest.fixture
def request_log() -> list[str]:
    """Every URL the page requested, in order."""
    return []


# Runs in every document before its own scripts: reports each Content-Security-Policy
# violation to the test (through a binding, which outlives the document).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
    + ` in ${event.sourceFile || document.URL}:${event.lineNumber}`);
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """Every Content-Security-Policy violation the pages reported (events and console)."""
    return []


@pytest.fixture
def page(browser, server, request_log, csp_violations):
    """A fresh browser tab (Chinese first, as our users), recording every request URL.

    Every test fails if a page broke the Content-Security-Policy: what the policy blocks
    does not work for users either."""
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, base_url=server.url
    )
    context.set_default_timeout(10_000)
    context.expose_function("reportCspViolation", lambda text: csp_violations.append(text))
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    tab = context.new_page()
    tab.on("request", lambda req: request_log.append(req.url))
    tab.on("console", lambda message: csp_violations.append(message.text)
           if "Content Security Policy" in message.text else None)
    yield tab
    context.close()
    if csp_violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(csp_violations))


@pytest.fixture
def foreign_requests(server, request_log) -> Callable[[], list[str]]:
    """A function returning the recorded requests to any host but the live server."""
    own = urlsplit(server.url).netloc

    def outside() -> list[str]:
        return [
            url for url in request_log
            if urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(url).netloc != own
        ]

    return outside


@pytest.fixture
def login(server) -> Callable:
    """`login(page, user)`: log in through the real login form and wait for the dashboard."""

    def log_in(page, user, password: str = TEST_PASSWORD) -> None:
        page.goto(f"{server.url}/accounts/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("form button[type=submit].primary")
        assert "/accounts/login/" not in page.url, f"login failed for {user}"

    return log_in
