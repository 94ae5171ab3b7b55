"""utoe.report: U-TOE's tables and the report files, from results built out
of protocol logs (see test_measure for the inputs)."""

import copy
import csv
import json
import os
import re

import pytest

from tests import test_measure as tm
from tests.test_measure import (config, flash_total, per_model_log, per_model_result, per_operator_result,
                                real_inputs, static_ram)  # noqa: F401 (real_inputs: a fixture)
from utoe.measure import build_result, write_result
from utoe.report import (MODEL_HEADERS, OPERATORS_CSV_COLUMNS,
                         RESULTS_CSV_COLUMNS, ReportError, fmt3, fmt_time, kb,
                         load_results, model_table, operator_table,
                         write_report)


def board_result():
    """An emulated run on a 48 MHz board (cycle counts, estimated latency)."""
    ticks = [4800000, 4800048, 4799952, 4800000, 4800024]
    log = per_model_log(ticks=ticks, tick_hz=48000000, board="samr21-xpro")
    kinds = {"latency": "emulated", "ram": "measured", "flash": "estimated"}
    return build_result(tm.METADATA, tm.SIZES, log,
                        config(board="samr21-xpro", runner="renode",
                               kinds=kinds))


def test_kb_formatting_matches_the_paper():
    # U-TOE: KB = bytes / 1000, 3 decimals, trailing zeros dropped
    assert kb(11288) == "11.288"
    assert kb(64340) == "64.34"
    assert kb(11100) == "11.1"
    assert kb(1088) == "1.088"
    assert kb(128) == "0.128"
    assert kb(68) == "0.068"
    assert kb(12000) == "12.0"
    assert fmt3(97.7514) == "97.751"
    assert fmt3(8.8559999) == "8.856"


def test_model_table_measured():
    r = per_model_result()
    table = model_table([r])
    lines = table.splitlines()
    header = lines[0]
    for h in MODEL_HEADERS:
        assert h in header
    assert header.index("Board") < header.index("Memory (KB)") \
        < header.index("Storage (KB)") < header.index("95-CI (ms)") \
        < header.index("Mean (ms)") < header.index("Median (ms)") \
        < header.index("Min. (ms)") < header.index("Max. (ms)")
    row = lines[1].split()
    assert row[:4] == ["native", "sinus", kb(static_ram() + 1234), kb(flash_total())]
    lo, hi = r["latency"]["ci95"]
    assert f"[{fmt3(lo)}, {fmt3(hi)}]" in lines[1]
    assert row[-5:] == [fmt3(r["latency"]["mean"]), "154.002", "153.717",
                        "154.938", "measured"]
    assert len(lines) == 2  # no footnote when everything is measured


def test_model_table_marks_what_is_not_measured():
    table = model_table([per_model_result(), board_result()])
    lines = table.splitlines()
    board = next(ln for ln in lines if ln.startswith("samr21-xpro"))
    assert "emulated" in board                       # latency kind column
    assert kb(flash_total()) + "\u2021" in board     # estimated storage
    assert kb(static_ram() + 1234) + "\u2020" not in board  # RAM is measured
    assert any(ln.startswith("\u2021 estimated") for ln in lines)
    # the emulated latency is named in its column and explained, unmarked
    assert any(ln.startswith("emulated: ") for ln in lines)
    assert not any(ln.startswith("\u2020") for ln in lines)
    assert "[100.0, 100.0]" not in board  # CI is computed, not collapsed
    assert " 100.0 " in board            # median of 4800000 cycles @ 48 MHz

    r = board_result()
    r["ram"]["kind"] = "emulated"
    lines = model_table([r], fmt="github").splitlines()
    assert kb(static_ram() + 1234) + "\u2020" in lines[2]
    assert "\u2020 emulated: exact instruction counts from an emulator, " \
        "not a measurement on hardware" in lines


def test_sub_millisecond_latency_keeps_three_significant_digits():
    assert fmt_time(0.058334) == "0.0583"
    assert fmt_time(0.0026461) == "0.00265"
    assert fmt_time(154.0019) == "154.002"
    assert fmt_time(0.0) == "0.0"
    r = per_operator_result()       # ~58 us per trial on the host
    row = model_table([r]).splitlines()[1]
    assert "0.0583" in row


def test_operator_table_per_operator():
    table = operator_table(per_operator_result())
    lines = table.splitlines()
    assert lines[0].split() == ["op", "latency", "us", "latency", "%",
                                "params", "memory", "KB", "storage", "KB", "kernels"]
    rows = [ln.split() for ln in lines[1:]]
    names = [op["name"] for op in tm.METADATA["operators"]]
    assert rows[0] == [names[0], "8.856", "15.22", "p0,",
                       "p1", "0.068", "0.128", "tvm"]
    assert rows[1] == [names[1], "46.682", "80.23",
                       "p2,", "p3", "0.128", "1.088", "tvm"]
    assert rows[2] == [names[2], "2.646", "4.55", "p4,", "p5",
                       "0.068", "0.068", "tvm"]
    assert sum(float(r[2]) for r in rows) == pytest.approx(100, abs=0.02)


def test_operator_table_per_model_has_no_latency():
    table = operator_table(per_model_result())
    assert "per-model run: no per-operator latency" in table
    row = table.splitlines()[1].split()
    assert row[1:3] == ["-", "-"]


def test_write_report_files_are_complete(tmp_path):
    results = [board_result(), per_operator_result(), per_model_result()]
    out = tmp_path / "report"
    write_report(results, out)
    assert sorted(os.listdir(out)) == ["operators.csv", "report.json",
                                       "results.csv", "summary.md"]

    report = json.loads((out / "report.json").read_text())
    assert [(r["board"], r["mode"]) for r in report] == [
        ("native", "per-model"), ("native", "per-operator"),
        ("samr21-xpro", "per-model")]
    assert report[1] == per_operator_result()

    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == RESULTS_CSV_COLUMNS
    assert len(rows) == 3
    native = rows[0]
    assert native["board"] == "native" and native["model"] == "sinus"
    assert int(native["ram_total_bytes"]) == static_ram() + 1234
    assert float(native["memory_kb"]) == (static_ram() + 1234) / 1000
    assert int(native["flash_total_bytes"]) == flash_total()
    assert float(native["latency_median_ms"]) == report[0]["latency"]["median"]
    assert float(native["latency_ci95_lo_ms"]) == report[0]["latency"]["ci95"][0]
    assert rows[2]["latency_kind"] == "emulated"
    assert rows[2]["flash_kind"] == "estimated"

    with open(out / "operators.csv", newline="") as f:
        ops = list(csv.DictReader(f))
    assert list(ops[0].keys()) == OPERATORS_CSV_COLUMNS
    assert len(ops) == 3 * 3
    per_op = [o for o in ops if o["mode"] == "per-operator"]
    assert [o["name"] for o in per_op] == [o["name"] for o in
                                           tm.METADATA["operators"]]
    assert sum(float(o["share_pct"]) for o in per_op) == pytest.approx(100)
    assert float(per_op[1]["latency_median_ms"]) == 0.046682
    assert per_op[0]["params"] == "p0 p1"
    assert all(o["share_pct"] == "" and o["latency_median_ms"] == ""
               for o in ops if o["mode"] == "per-model")

    md = (out / "summary.md").read_text()
    names = [op["name"] for op in tm.METADATA["operators"]]
    assert "| Board" in md and "Memory (KB)" in md and "Latency kind" in md
    assert md.count("## Per operator") == 3
    assert re.search(rf"^\| {re.escape(names[1])} +\| +46\.682 \| +80\.23 \|", md, re.M)
    assert "\u2021 estimated" in md
    assert md.endswith("\n")


def test_load_results_roundtrip_and_errors(tmp_path):
    paths = []
    for i, r in enumerate([per_model_result(), board_result()]):
        p = tmp_path / f"r{i}" / "result.json"
        write_result(p, r)
        paths.append(p)
    loaded = load_results(paths)
    assert loaded[0] == per_model_result() and loaded[1]["runner"] == "renode"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "utoe.sizes/1"}))
    with pytest.raises(ReportError, match="bad.json"):
        load_results([paths[0], bad])
    with pytest.raises(ReportError, match="missing.json"):
        load_results([tmp_path / "missing.json"])


def test_duplicate_results_are_refused(tmp_path):
    r = per_model_result()
    with pytest.raises(ReportError, match="native.*sinus"):
        write_report([r, copy.deepcopy(r)], tmp_path)
    assert os.listdir(tmp_path) == []


def test_selection_ranks_each_model_on_its_own(report_build):
    """board=all with several models: one ranking per model, each from 1,
    never one ranking mixing the models' latencies."""
    import json

    from utoe import report

    results = json.loads((report_build.report / "report.json").read_text())
    info = {"native": {"core": "host", "clock_hz": None}}
    text = report.selection_table(results, info)
    lines = text.splitlines()
    assert "sinus:" in lines and "lenet5:" in lines
    for model in ("sinus", "lenet5"):
        header, first, after = lines[lines.index(f"{model}:") + 1:][:3]
        assert header.split()[:2] == ["Rank", "Board"] and first.split()[:2] == ["1", "native"], text
        assert after.split()[:1] != ["2"], text  # one board: each model's ranking has one row
    one = report.selection_table([r for r in results if r["model"] == "lenet5"], info)
    assert "lenet5:" not in one and one.splitlines()[1].split()[:2] == ["1", "native"]
