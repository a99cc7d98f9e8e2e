"""harness.py - what the browser tests share: one live deployment per test
file (tests/web/webtest.py's Deployment: mkdeploy on temporary paths and
free ports, the router, the unit daemons, their mediation-web gateways
serving this tree's web/static, every person's account; always stopped),
and one headless Chromium per person (Debian's chromium and
chromium-driver through python3-selenium, all from
`deploy/install-deps --test`), each its own browser so sessions never mix.

Every page a test visits is checked for console errors (the browser's log)
before the next step; screenshots of the main views go to
BUILD/tests/browser/screenshots/NAME-{desktop,phone}.png.

Hook for the coordinators' dashboard (issue 16, the dashboard helper):
`Desk.open(d, "coordinators", webtest.COORDINATOR)` logs a coordinator in
at the coordinators' gateway, and test files add their steps after the
desk parts (see test_desk_scenarios.py's `coordinator_part`).
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "web"))
sys.dont_write_bytecode = True

import webtest  # noqa: E402  (tests/web: the live deployment)

try:
    from selenium import webdriver
    from selenium.common.exceptions import (StaleElementReferenceException, TimeoutException,
                                            WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # reported by run(): the test is skipped, not failed
    webdriver = None

CHROMIUM = os.environ.get("MEDIATION_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MEDIATION_CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP = (1280, 900)
PHONE = (390, 844)
WAIT = 15  # seconds a page may take to show what a step expects


OPEN = []  # every Desk not yet closed, for the failure report


class Desk:
    """One person's browser on one site."""

    def __init__(self, d, site, person, size=DESKTOP):
        self.d, self.site, self.person = d, site, person
        self.base = "http://127.0.0.1:%d" % d.site_port(site)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--lang=zh-CN", "--no-first-run", "--disable-extensions",
                  "--window-size=%d,%d" % size):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.drv.set_window_size(*size)
        self.size = size
        self.wait = WebDriverWait(self.drv, WAIT)
        OPEN.append(self)

    @classmethod
    def open(cls, d, site, person, size=DESKTOP):
        b = cls(d, site, person, size)
        b.login(d.passwords[(site, person)])
        return b

    def close(self):
        if self in OPEN:
            OPEN.remove(self)
        try:
            self.drv.quit()
        except WebDriverException:
            pass

    # --- navigation ---
    def go(self, hash_path):
        """Opens the view afresh (the same URL again is a reload: a view
        left half-filled by an earlier step starts clean)."""
        url = self.base + "/#" + hash_path
        if self.drv.current_url == url:
            self.drv.refresh()
        else:
            self.drv.get(url)

    def login(self, password):
        self.drv.get(self.base + "/")
        self.css("form.login-form input[name=name]").send_keys(self.person)
        self.css("form.login-form input[name=password]").send_keys(password)
        self.css("form.login-form button[type=submit]").click()
        self.wait.until(lambda drv: drv.find_element(By.ID, "who").text == self.person)

    # --- finding and waiting ---
    def css(self, sel, timeout=WAIT):
        return WebDriverWait(self.drv, timeout).until(
            EC.visibility_of_element_located((By.CSS_SELECTOR, sel)))

    def all(self, sel):
        return self.drv.find_elements(By.CSS_SELECTOR, sel)

    def text_in(self, sel, text, timeout=WAIT):
        """Waits until the element sel contains text; returns the element."""
        WebDriverWait(self.drv, timeout).until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, sel), text))
        return self.drv.find_element(By.CSS_SELECTOR, sel)

    def has_text(self, sel, text, timeout=WAIT):
        try:
            self.text_in(sel, text, timeout)
            return True
        except TimeoutException:
            return False

    def select(self, sel, value):
        Select(self.css(sel)).select_by_value(value)

    def button(self, text, within="main"):
        """The visible button in `within` whose text is text. The pages
        re-render on their own (a poll, a watch), so an element found may go
        stale before it is used: the search ignores that and looks again."""
        def find(drv):
            for b in drv.find_elements(By.CSS_SELECTOR, within + " button"):
                if b.is_displayed() and b.text.strip() == text and b.is_enabled():
                    return b
            return False
        return WebDriverWait(self.drv, WAIT,
                             ignored_exceptions=(StaleElementReferenceException,)).until(find)

    def click_button(self, text, within="main"):
        """Clicks the button `button` finds; if the page re-rendered it
        between finding and clicking (stale), finds the new one and clicks
        that (a click that reached a stale element did nothing)."""
        def click(drv):
            self.button(text, within).click()
            return True
        WebDriverWait(self.drv, WAIT,
                      ignored_exceptions=(StaleElementReferenceException,)).until(click)

    def source(self):
        return self.drv.page_source

    # --- quality checks ---
    def console_errors(self):
        """The browser log's SEVERE entries since the last call (a failed
        fetch the page expected, such as a 403 it shows, is logged by Chromium
        as a network error: `expected` lists URL parts that may appear)."""
        return [e for e in self.drv.get_log("browser") if e.get("level") == "SEVERE"]

    def screenshot(self, name):
        d = os.path.join(self.d.build, "tests", "browser", "screenshots")
        os.makedirs(d, exist_ok=True)
        kind = "phone" if self.size == PHONE else "desktop"
        path = os.path.join(d, "%s-%s.png" % (name, kind))
        # The whole page, not just the window: wide enough for the layout,
        # tall enough for the content.
        h = self.drv.execute_script("return document.documentElement.scrollHeight")
        self.drv.set_window_size(self.size[0], max(self.size[1], min(int(h) + 20, 4000)))
        self.drv.save_screenshot(path)
        self.drv.set_window_size(*self.size)
        return path


def check_console(c, b, where, allow=()):
    """No console errors on the page (allow: substrings of messages that the
    step expects, such as the 403 a forbidden case's read answers)."""
    errs = [e["message"] for e in b.console_errors()
            if not any(a in e["message"] for a in allow)]
    c.check(not errs, "%s (%s): no console errors" % (where, b.person), "\n".join(errs))


def run(main, src, build, tag, **kw):
    """webtest.run with the browser tests' skips: no selenium or no chromium
    → 77 (ctest SKIP_RETURN_CODE), as the web tests skip without a gateway."""
    if webdriver is None or not os.access(CHROMIUM, os.X_OK) or not os.access(CHROMEDRIVER, os.X_OK):
        print("SKIP: chromium, chromium-driver or python3-selenium is missing "
              "(deploy/install-deps --test installs them)")
        sys.exit(77)
    def reported(d, c):
        try:
            main(d, c)
        except Exception:
            # What each open browser showed when the step failed.
            for b in list(OPEN):
                try:
                    print("--- %s's browser at %s:" % (b.person, b.drv.current_url))
                    print("    " + b.drv.find_element(By.TAG_NAME, "body").text[:800].replace("\n", "\n    "))
                    print("    screenshot: " + b.screenshot("FAILED-" + b.site))
                except WebDriverException:
                    pass
            raise
        finally:
            for b in list(OPEN):
                b.close()

    webtest.run(reported, src, build, tag, **kw)


def eventually(fn, timeout=WAIT, step=0.2):
    """fn() until it is truthy or timeout; its last value."""
    end = time.time() + timeout
    v = fn()
    while not v and time.time() < end:
        time.sleep(step)
        v = fn()
    return v
