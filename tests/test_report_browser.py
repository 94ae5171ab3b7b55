"""The report page in a real browser: Debian's chromium, headless, driven by
selenium (utoe.screenshot), on a real build's page (conftest.report_build,
with compare= so the comparison is drawn too): it loads from the file with
no console message, every plot is drawn with its table, and `scons ...
screenshot` writes build/report/screenshot.png."""

import json
import shutil
import struct

import pytest

from utoe import screenshot

pytestmark = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="chromium and chromium-driver are not installed (setup.sh installs them)")

EXPECTED = {"plot-latency": "latency", "plot-memory": "memory", "plot-operators-0": "operators",
            "plot-operators-1": "operators", "plot-compare": "compare"}


@pytest.fixture(scope="module")
def page(report_build, tmp_path_factory):
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
    doc = json.loads((report_build.report / "report.json").read_text())
    doc[0]["flash"]["total_bytes"] -= 100
    base = tmp_path_factory.mktemp("baseline") / "report.json"
    base.write_text(json.dumps(doc))
    proc = report_build.scons("report", "screenshot", f"compare={base}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return report_build.report


def test_the_page_loads_with_no_console_message_and_every_plot(page):
    seen = screenshot.open_page(page / "index.html")
    assert seen["title"] == "utoe report"
    assert seen["console"] == []
    plots = {p["id"]: p for p in seen["plots"]}
    assert {k: plots[k]["kind"] for k in EXPECTED if k in plots} == EXPECTED
    for p in seen["plots"]:  # drawn, with the table of its figures under it
        assert p["svg"] and p["table"], p
        assert p["width"] > 300 and p["height"] > 100, p


def test_the_screenshot_is_a_build_product(page):
    png = (page / "screenshot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == screenshot.WIDTH and height > 1500  # the whole page, not the first screen


def test_a_console_error_is_caught(tmp_path):
    pytest.importorskip("selenium", reason="selenium is not installed")
    bad = tmp_path / "index.html"
    bad.write_text("<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>")
    seen = screenshot.open_page(bad)
    assert any(m["level"] == "SEVERE" and "no_such_function" in m["message"] for m in seen["console"])
    with pytest.raises(screenshot.ScreenshotError, match="the browser reported"):
        screenshot.screenshot(bad, tmp_path / "shot.png")
    assert not (tmp_path / "shot.png").exists()
