"""The report page in a real browser: Debian's chromium, headless, driven by
selenium through chromium-driver (setup.sh installs both; selenium is in
the test extras).

`open_page` loads build/report/index.html from the file (no server: the
page must work as a file) and returns what a reader's browser saw: the
console messages, and each plot's id, kind and drawn size.
`screenshot` writes the page as a PNG (the `screenshot` target of the
build: build/report/screenshot.png; the README's image comes from it).

Errors (no selenium, no chromium) are ScreenshotError naming what to
install."""

import os
import shutil

from .errors import UtoeError

WIDTH = 1280


class ScreenshotError(UtoeError):
    """The browser cannot be started."""


def _driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise ScreenshotError("selenium is not installed: pip install -e '.[test]'") from None
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise ScreenshotError("chromium and chromium-driver are not installed: apt-get install chromium "
                              "chromium-driver (setup.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},900", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Chrome(service=Service(driver), options=options)
    except Exception as e:  # selenium's WebDriverException, any start-up failure: one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ScreenshotError(f"cannot start chromium ({first})") from None


def open_page(html_path, png_path=None, max_height=20000):
    """Load the page; return {"console": [{"level", "message"}], "plots": [{"id",
    "kind", "width", "height", "svg"}], "title"}; with png_path, also write
    the full page (up to max_height pixels) as a PNG there (atomically)."""
    from .files import write_bytes

    html_path = os.path.abspath(os.fspath(html_path))
    if not os.path.isfile(html_path):
        raise ScreenshotError(f"{html_path}: no report page (scons ... report writes it)")
    d = _driver()
    try:
        d.get("file://" + html_path)
        plots = d.execute_script("""
            return Array.from(document.querySelectorAll('figure.plot')).map(f => {
                const s = f.querySelector('svg'); const r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
                return {id: f.id, kind: f.dataset.plot, width: r.width, height: r.height, svg: !!s,
                        table: !!document.getElementById(f.id + '-table')};
            });""")
        out = {"title": d.title, "plots": plots, "console": [{"level": e.get("level"), "message": e.get("message", "")}
                                                          for e in d.get_log("browser")]}
        if png_path:
            height = d.execute_script("return document.documentElement.scrollHeight")
            d.set_window_size(WIDTH, min(max_height, height + 100))
            write_bytes(png_path, d.get_screenshot_as_png())
        return out
    finally:
        d.quit()


def screenshot(html_path, png_path, max_height=20000):
    """Write the page as a PNG; ScreenshotError if the page logs a console error."""
    seen = open_page(html_path, png_path, max_height)
    errors = [m["message"] for m in seen["console"] if m["level"] in ("SEVERE", "ERROR")]
    if errors:
        from .files import remove

        remove(png_path)
        raise ScreenshotError(f"{html_path}: the browser reported: {errors[0]}")
    return seen
