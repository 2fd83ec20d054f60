"""A headless Chromium driven by Selenium, looking at the stack's Icinga Web 2.

Debian's chromium and chromedriver, both named explicitly so that Selenium
never looks for a driver to download; as root Chromium needs --no-sandbox.
The profile lives in a directory the caller gives (the tier's tmp dir).
Icinga Web 2 loads parts of a page with its own XHR loader after the page
itself: a page counts as settled when the document is complete and the loader
has no request pending, twice in a row. The graphite module first shows a
1x1 dummy and its JavaScript then sets each graph's real URL: images() waits
for those.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from harness.polling import poll

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000")
TIMEOUT = 30
SETTLED = """
return document.readyState === 'complete' && !!window.icinga && !!icinga.loader
    && Object.keys(icinga.loader.requests).length === 0
    && document.querySelector('.impact') === null;
"""
IMAGES = """
return Array.from(document.querySelectorAll(arguments[0])).map(img => ({
    src: img.currentSrc || img.src, naturalWidth: img.naturalWidth,
    naturalHeight: img.naturalHeight, complete: img.complete}));
"""


def loaded(images: list[dict]) -> bool:
    """Every image has its real URL (not the inline dummy) and finished loading."""
    return all(image["complete"] and not image["src"].startswith("data:") for image in images)


class Browser:
    """One browser session on Icinga Web 2 at `base_url`."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def url(self, path: str) -> str:
        """An absolute URL as is; a path relative to Icinga Web 2's base URL."""
        if urllib.parse.urlsplit(path).scheme:
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def login(self, user: str, password: str) -> None:
        """Log in through the form; wait for the menu of a logged-in page."""
        self.driver.get(self.url("authentication/login"))
        wait = WebDriverWait(self.driver, TIMEOUT)
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "username")))
        self.driver.find_element(By.NAME, "username").send_keys(user)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.NAME, "btn_submit").click()
        wait.until(expected_conditions.presence_of_element_located((By.ID, "menu")))
        self.settle()

    def open(self, path: str) -> None:
        """Load a page and wait until its content has settled."""
        self.driver.get(self.url(path))
        self.settle()

    def settle(self, timeout: float = TIMEOUT) -> None:
        in_a_row = [0]

        def settled_twice() -> bool:
            in_a_row[0] = in_a_row[0] + 1 if self.driver.execute_script(SETTLED) else 0
            return in_a_row[0] >= 2
        if not poll(settled_twice, timeout, interval=0.2):
            raise AssertionError(f"{self.driver.current_url} did not settle in {timeout} s")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.driver.save_screenshot(str(path)):
            raise AssertionError(f"no screenshot written to {path}")
        return path

    def images(self, css: str, timeout: float = TIMEOUT) -> list[dict]:
        """src, naturalWidth, naturalHeight and complete of each image `css` selects,
        once every one has its real URL and has finished loading."""
        def all_loaded() -> Optional[list[dict]]:
            images = self.driver.execute_script(IMAGES, css)
            return images if loaded(images) else None
        found = poll(all_loaded, timeout, interval=0.2)
        if found is None:
            raise AssertionError(f"images {css!r} on {self.driver.current_url} did not load: "
                                 f"{self.driver.execute_script(IMAGES, css)}")
        return found

    def fetch(self, url: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of a GET with the browser's cookies."""
        cookies = "; ".join(f"{cookie['name']}={cookie['value']}"
                            for cookie in self.driver.get_cookies())
        request = urllib.request.Request(self.url(url), headers={"Cookie": cookies})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, response.headers.get_content_type(), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get_content_type(), exc.read()


@contextlib.contextmanager
def browser(base_url: str, profile_dir: Path) -> Iterator[Browser]:
    """A headless Chromium on Icinga Web 2, quit at the end whatever happens."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield Browser(driver, base_url)
    finally:
        driver.quit()
