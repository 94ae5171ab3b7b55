"""compare= and fail_on=regression (utoe.compare, the report tool), on a
real build (conftest.report_build: sinus and lenet5 on this host) compared
with edited copies of its own report.json: the build is up to date, so each
scons run here redoes only the report."""

import copy
import json

import pytest

from utoe import compare


@pytest.fixture(scope="module")
def results(report_build):
    return json.loads((report_build.report / "report.json").read_text())


def _baseline(tmp_path, results, edit=None, name="before.json"):
    doc = copy.deepcopy(results)
    if edit:
        edit(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _one_error_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_same_results_no_change(report_build, results, tmp_path):
    base = _baseline(tmp_path, results)
    proc = report_build.scons("report", f"compare={base}", "fail_on=regression")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = proc.stdout[proc.stdout.index("compared with"):]
    assert table.count("no change") == 2 and "regression" not in table
    doc = json.loads((report_build.report / "compare.json").read_text())
    assert doc["regressions"] == [] and len(doc["pairs"]) == 2
    page = (report_build.report / "index.html").read_text()
    assert 'id="plot-compare"' in page


def test_a_bigger_flash_is_a_regression_and_fails_the_build(report_build, results, tmp_path):
    def smaller_flash(doc):
        doc[0]["flash"]["total_bytes"] -= 1000
    base = _baseline(tmp_path, results, smaller_flash)
    r = sorted(results, key=lambda r: r["board"] + r["model"])
    proc = report_build.scons("report", f"compare={base}")
    assert proc.returncode == 0, proc.stderr  # without fail_on: shown, not failed
    new = results[0]["flash"]["total_bytes"]
    assert f"flash {new - 1000:,} -> {new:,} (+1,000, +{100000 / (new - 1000):.2f} %)" in proc.stdout
    proc = report_build.scons("report", f"compare={base}", "fail_on=regression")
    line = _one_error_line(proc)
    assert line.startswith("scons: *** [report] utoe: fail_on=regression: 1 regression(s)") and "flash" in line
    # the report of the failed run is kept: CI publishes the page that shows the regression
    assert (report_build.report / "index.html").exists() and (report_build.report / "compare.json").exists()
    assert r  # (sorted for readability of failures)


def test_a_smaller_flash_is_an_improvement(results):
    base = copy.deepcopy(results)
    base[0]["flash"]["total_bytes"] += 1000
    pairs = compare.compare(results, base)
    p = next(p for p in pairs if p["key"][1] == results[0]["model"])
    assert p["metrics"]["flash"]["flagged"] and not p["regression"] and compare.verdict(p) == "improvement"
    assert p["metrics"]["flash"]["abs"] == -1000


def test_measured_latency_within_the_ci_is_noise(results):
    base = copy.deepcopy(results)
    r0 = results[0]
    lo, hi = r0["latency"]["ci95"]
    # the baseline's median a little off, its CI still holding this run's median: no change
    base[0]["latency"]["median"] = r0["latency"]["median"] * 0.99
    base[0]["latency"]["ci95"] = [lo * 0.5, hi * 2]
    p = compare.compare([r0], base)[0]
    assert not p["metrics"]["latency"]["flagged"] and compare.verdict(p) == "no change"
    # this run's median above the baseline's CI: a regression
    base[0]["latency"]["ci95"] = [r0["latency"]["median"] / 3, r0["latency"]["median"] / 2]
    p = compare.compare([r0], base)[0]
    assert p["metrics"]["latency"]["flagged"] and p["regression"]
    assert any("latency" in line for line in compare.regressions([p]))


def test_emulated_counts_any_change_is_flagged(results):
    r = copy.deepcopy(results[0])
    r["latency"]["kind"] = "emulated"
    r["instructions"] = {"kind": "emulated", "per_inference": 1000}
    base = copy.deepcopy(r)
    base["instructions"]["per_inference"] = 999
    base["latency"]["ci95"] = [0, 1e9]  # a CI does not hide an emulated change
    base["latency"]["median"] = r["latency"]["median"] * (1 - 1e-9)
    p = compare.compare([r], [base])[0]
    assert p["metrics"]["instructions"]["flagged"] and p["metrics"]["latency"]["flagged"] and p["regression"]


def test_per_operator_changes_and_validation(results):
    r = next(r for r in results if r["model"] == "lenet5")
    base = copy.deepcopy(r)
    base["operators"][1]["memory_bytes"] += 8
    base["operators"].append(dict(base["operators"][0], name="gone_0"))
    base["validation"] = {"ok": False}
    p = compare.compare([r], [base])[0]
    ops = {op["name"]: op for op in p["operators"]}
    assert ops[r["operators"][1]["name"]]["metrics"]["memory"]["abs"] == -8
    assert ops["gone_0"]["status"] == "removed"
    assert p["validation"] == {"old": "failed", "new": "ok", "flagged": True, "worse": False, "better": True}
    base["validation"], r2 = {"ok": True}, copy.deepcopy(r)
    r2["validation"] = {"ok": False}
    assert "validation ok -> failed" in " ".join(compare.regressions(compare.compare([r2], [base])))


def test_bad_compare_targets_are_one_line(report_build, results, tmp_path):
    build = report_build.build
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.json").write_text('{"not": "a report"}')
    (tmp_path / "text.json").write_text("hello")
    v2 = _baseline(tmp_path, results, lambda doc: [r.update(schema="utoe.result/2") for r in doc], "v2.json")
    other = _baseline(tmp_path, results, lambda doc: [r.update(board="hifive1b") for r in doc], "other.json")
    cases = {
        tmp_path / "missing": "no such file or directory",
        tmp_path / "empty": "no report.json in it nor in its report/",
        tmp_path / "junk.json": "not a utoe report",
        tmp_path / "text.json": "not valid JSON",
        v2: "results of schema 'utoe.result/2', this utoe reads 'utoe.result/1'",
        other: "no evaluation in common with this run (it has: hifive1b/lenet5",
        build: "that is this run's own report",
    }
    for target, says in cases.items():
        line = _one_error_line(report_build.scons("report", f"compare={target}"))
        assert line.startswith(f"utoe: error: compare={target}") and says in line, line
    line = _one_error_line(report_build.scons("report", "fail_on=regression"))
    assert line == "utoe: error: fail_on=regression needs compare=<build dir or report.json> (what to compare with)"


def test_a_build_directory_is_a_target(report_build, results, tmp_path):
    import shutil

    shutil.copytree(report_build.report, tmp_path / "old" / "report")
    assert compare.find_report(tmp_path / "old") == str(tmp_path / "old" / "report" / "report.json")
    assert compare.find_report(tmp_path / "old" / "report") == str(tmp_path / "old" / "report" / "report.json")
    assert len(compare.load_baseline(tmp_path / "old")) == 2


def test_the_cli_takes_compare_relative_to_where_it_runs(tmp_path):
    from utoe.cli import _from_cwd

    assert _from_cwd("compare=old/build", str(tmp_path)) == f"compare={tmp_path}/old/build"
    assert _from_cwd("compare=/abs/report.json", str(tmp_path)) == "compare=/abs/report.json"
