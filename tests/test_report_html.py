"""utoe.report_html: the report's HTML page, from a real build's results
(conftest.report_build: sinus and lenet5 on this host), plus results edited
to cover what the host cannot show (a board the model does not fit, fields
a newer measure stage adds)."""

import copy
import json
import re

import pytest

from utoe import report_html
from utoe.report import load_results


@pytest.fixture(scope="module")
def results(report_build):
    return json.loads((report_build.report / "report.json").read_text())


def _figure(page, pid):
    """The <figure> of plot pid, and the table under it."""
    m = re.search(rf'<figure class="plot" id="{re.escape(pid)}"[^>]*>(.*?)</figure>\s*<table class="figures" '
                  rf'id="{re.escape(pid)}-table">(.*?)</table>', page, re.S)
    assert m, f"no plot {pid} with its table"
    return m.group(1), m.group(2)


def _svg_text(svg):
    """The text drawn in an SVG (svg.fonttype none: <text> elements)."""
    return " ".join(re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text\b.*?</text>", svg, re.S))


def test_the_build_writes_a_self_contained_page(report_build):
    page = (report_build.report / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    # nothing is fetched: no script, no stylesheet or image from a URL (xmlns names are not fetched)
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<?xml" not in page  # the SVGs are inline elements, not documents
    for pid in ("plot-latency", "plot-memory", "plot-operators-0", "plot-operators-1"):
        svg, _ = _figure(page, pid)
        assert svg.lstrip().startswith("<svg")


def test_latency_plot_shows_the_kind_and_the_ci(results):
    page = report_html.page(results)
    svg, table = _figure(page, "plot-latency")
    drawn = _svg_text(svg)
    for r in results:  # every bar says its kind on the plot, not only in the table
        assert f"ms, {r['latency']['kind']}" in drawn
    assert drawn.count("ms, measured") == len(results)
    assert "95 % CI" in drawn
    # the table under it: the figures, with the CI as built
    lo, hi = results[0]["latency"]["ci95"]
    assert results[0]["board"] in table and "measured" in table
    # an estimated result is labelled so on the plot, in its own colour
    est = copy.deepcopy(results[0])
    est["board"], est["latency"]["kind"] = "mps2-an386", "estimated"
    svg, _ = _figure(report_html.page(results + [est]), "plot-latency")
    assert "ms, estimated" in _svg_text(svg)
    assert "#ff7f0e" in svg


def test_memory_plot_against_the_capacity(results):
    r = copy.deepcopy(results[0])
    r["board"] = "tiny"
    r["fit"] = {"fits": True, "ram": {"need_bytes": r["ram"]["total_bytes"], "have_bytes": 4000},
                "flash": {"need_bytes": r["flash"]["total_bytes"], "have_bytes": 16000}}
    svg, table = _figure(report_html.page([r]), "plot-memory")
    ram, flash = r["ram"]["total_bytes"], r["flash"]["total_bytes"]
    drawn = _svg_text(svg)
    assert f"of 4: {100 * (1 - ram / 4000):.1f} % free" in drawn
    assert f"of 16: {100 * (1 - flash / 16000):.1f} % free" in drawn
    assert "<td>4.0</td>" in table and "<td>16.0</td>" in table


def test_operator_plots_sorted_by_share_with_memory_and_storage(results):
    r = copy.deepcopy(next(r for r in results if r["model"] == "lenet5"))
    # shares as a per-operator run gives them, in an order that is not sorted
    for i, op in enumerate(r["operators"]):
        op["share_pct"] = float((i * 7) % len(r["operators"]) + 1)
        op["latency"] = {"median_ms": op["share_pct"] / 1000}
    svg, table = _figure(report_html.page([r]), "plot-operators-0")
    drawn = _svg_text(svg)
    assert "latency share (%), measured" in drawn and "memory and storage (KB)" in drawn
    names = re.findall(r"<tr><td class=\"text\">([^<]+)</td>", table)
    by_share = sorted(r["operators"], key=lambda op: -op["share_pct"])
    assert names == [op["name"] for op in by_share]
    # a per-model run (the host's lenet5 as built): no share, memory and storage still drawn
    svg, table = _figure(report_html.page([next(r for r in results if r["model"] == "lenet5")]), "plot-operators-0")
    assert "no per-operator figure" in _svg_text(svg) and "memory and storage (KB)" in _svg_text(svg)


def test_selection_ranks_and_greys_what_does_not_fit(results):
    unfit = {"schema": "utoe.result/1", "status": "does-not-fit", "board": "tiny", "model": results[0]["model"],
             "runner": "qemu", "mode": "per-model",
             "fit": {"fits": False, "message": "does not fit", "ram": {"need_bytes": 9000, "have_bytes": 2000},
                     "flash": {"need_bytes": 100, "have_bytes": 2000}}}
    boards = {"native": {"core": "host", "clock_hz": None}, "tiny": {"core": "cortex-m0", "clock_hz": 16000000}}
    page = report_html.page(results + [unfit], selection=boards)
    svg, table = _figure(page, f"plot-selection-{results[0]['model']}")
    drawn = _svg_text(svg)
    assert "1. native" in drawn and "does not fit: RAM short 7.0 KB" in drawn
    assert "#b0b0b0" in svg  # the grey bar
    assert '<tr class="unfit">' in table and "no: RAM short 7.0 KB" in table
    assert "plot-selection" not in report_html.page(results)  # only for board=all


def test_fields_it_does_not_know_are_ignored(results):
    newer = copy.deepcopy(results)
    for r in newer:  # issue 15's additions, and anything later
        r["cycles"] = {"kind": "estimated", "per_inference": 12345}
        r["breakdown"] = [{"op": "x", "cycles": 1}]
        r["instructions"] = {"per_inference": 99, "future": [1, 2]}
        for op in r["operators"]:
            op["breakdown"] = {"mac": 3}
            op["cycles"] = "not a number"
    assert report_html.page(newer).count('<figure class="plot"') == report_html.page(results).count(
        '<figure class="plot"')


def test_the_page_is_deterministic(results):
    assert report_html.page(results) == report_html.page(copy.deepcopy(results))


def test_many_results_draw_one_operator_plot_per_model(results, monkeypatch):
    monkeypatch.setattr(report_html, "MAX_OPERATOR_PLOTS", 2)
    slower = copy.deepcopy(results[0])
    slower["board"], slower["latency"]["median"] = "slow-board", results[0]["latency"]["median"] * 10
    page = report_html.page(results + [slower])
    assert page.count('data-plot="operators"') == len({r["model"] for r in results}) == 2
    assert f"{results[0]['board']} / {results[0]['model']}</h3>" in page  # the fastest board's
    assert f"slow-board / {results[0]['model']}</h3>" not in page
    assert "operators are in operators.csv and summary.md" in page


def test_load_results_of_the_build_match(report_build, results):
    import glob

    built = load_results(sorted(glob.glob(str(report_build.build / "native" / "*" / "result.json"))))
    assert len(built) == len(results) == 2


@pytest.mark.slow
@pytest.mark.qemu
def test_board_all_page_greys_the_boards_vww_does_not_fit(tmp_path):
    """The real hardware selection (board=all model=vww os=baremetal: ~40 s
    here): every board has a bar, the ones vww does not fit are grey with
    what is short, as their result.json says."""
    import subprocess
    import sys

    from tests.conftest import ROOT, SHARED_MODELS, shared_model

    shared_model("vww_96_int8.tflite")
    build = tmp_path / "build"
    proc = subprocess.run([sys.executable, "-m", "SCons", "-Q", f"build={build}", "board=all", "model=vww",
                           "os=baremetal", "report"], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          env=dict(__import__("os").environ, UTOE_SHARED_MODELS=SHARED_MODELS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((build / "report" / "report.json").read_text())
    unfit = [r for r in results if r.get("status") == "does-not-fit"]
    assert unfit and len(unfit) < len(results)
    svg, table = _figure((build / "report" / "index.html").read_text(), "plot-selection-vww")
    drawn = _svg_text(svg)
    for r in unfit:
        assert f"-  {r['board']}" in drawn
    assert drawn.count("does not fit: ") == len(unfit) and table.count('<tr class="unfit">') == len(unfit)
    assert f"1. {min((r for r in results if r not in unfit), key=lambda r: r['latency']['median'])['board']}" in drawn
