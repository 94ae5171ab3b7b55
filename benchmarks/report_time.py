#!/usr/bin/env python3
"""Time of the report stage for 16 boards x 9 models, with and without the
HTML page (issue 16: at most 2 s above the report without it).

    python3 benchmarks/report_time.py [--build DIR] [--runs 3] [--out benchmarks/results/report_time.json]

Building 144 evaluations (board=all over 9 models) takes hours on this
machine, so the 144 result.json files are synthesized from real ones: the
9 models are built and measured on the host (scons board=native
model=<9 models> report, in --build, reused when it is there), and each
real result is copied to the 16 boards of `board=all` with the board's
name, its RAM and flash as capacity (a model that does not fit is written
as measure.write_unfit would: status does-not-fit, the fit figures), the
latency scaled by the board's clock and marked estimated, as a
stand-in's would be. Operators, sizes and everything else are the real
ones, so the page has its real number of bars and rows.

Each variant runs in a fresh Python process (imports included: matplotlib's
is part of the price), what the report stage does: load_results, the
files (report.json, CSVs, summary.md), the selection table on the terminal
(board=all), and with --html the page. Median of --runs runs; the result
is the two wall-clock times, their difference and their ratio (the
target), and the CPU time of each (less sensitive to other work on the
machine; the load average at the end is recorded beside them).
"""

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from utoe import boards  # noqa: E402
from utoe.files import write_json  # noqa: E402

MODELS = ("sinus", "lenet5", "vww", "dscnn_s", "kws_ref_model", "ad01", "ad_small", "rnnoise", "resnet8")
N_BOARDS = 16

STAGE = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from utoe import report
paths, out, html, selection = sys.argv[1], sys.argv[2], sys.argv[3] == "1", json.load(open(sys.argv[4]))
results = report.load_results(open(paths).read().split())
report.write_report(results, out)
table = report.selection_table(results, selection)
if html:
    from utoe import report_html
    report_html.write_html(results, out, selection=selection)
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def real_results(build):
    if not all(os.path.exists(os.path.join(build, "native", m, "result.json")) for m in MODELS):
        cmd = [sys.executable, "-m", "SCons", "-Q", f"build={build}", "board=native", f"model={','.join(MODELS)}",
               "trials=3", "report"]
        subprocess.run(cmd, cwd=ROOT, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    return [json.load(open(os.path.join(build, "native", m, "result.json"))) for m in MODELS]


def synthesize(real, out_dir):
    candidates = [b for b in boards.all_boards() if b.type == "mcu" and b.qemu][:N_BOARDS]
    paths, selection, unfit = [], {}, 0
    for b in candidates:
        selection[b.name] = {"core": b.core, "clock_hz": b.clock_hz}
        for r in real:
            s = copy.deepcopy(r)
            s["board"], s["runner"] = b.name, "qemu"
            need = {"ram": r["ram"]["total_bytes"], "flash": r["flash"]["total_bytes"]}
            have = {"ram": b.ram_bytes, "flash": b.flash_bytes}
            fit = {k: {"need_bytes": need[k], "have_bytes": have[k], "headroom_bytes": have[k] - need[k],
                       "headroom_pct": round(100 * (have[k] - need[k]) / have[k], 2)} for k in need}
            if any(need[k] > have[k] for k in need):
                unfit += 1
                s = {"schema": r["schema"], "status": "does-not-fit", "board": b.name, "model": r["model"],
                     "runner": "qemu", "mode": r["mode"], "trials": r["trials"], "seed": r["seed"],
                     "fit": {"fits": False, "message": f"{r['model']} does not fit {b.name}", **fit}}
            else:
                scale = 2e9 / b.clock_hz  # a host at ~2 GHz against the board's clock
                lat = s["latency"]
                for k in ("mean", "median", "min", "max"):
                    lat[k] *= scale
                lat["ci95"] = [x * scale for x in lat["ci95"]]
                lat["trials_ms"] = [x * scale for x in lat.get("trials_ms", [])]
                lat["kind"] = "estimated"
                s["fit"] = {"fits": True, **fit}
            path = os.path.join(out_dir, b.name, r["model"], "result.json")
            write_json(path, s)
            paths.append(path)
    return paths, selection, unfit


def time_stage(paths_file, out_dir, html, selection_file):
    proc = subprocess.run([sys.executable, "-c", STAGE, paths_file, out_dir, "1" if html else "0", selection_file],
                          cwd=ROOT, capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    wall, cpu = proc.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(tempfile.gettempdir(), "utoe-report-time-build"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "report_time.json"))
    args = ap.parse_args()
    real = real_results(args.build)
    with tempfile.TemporaryDirectory() as tmp:
        paths, selection, unfit = synthesize(real, os.path.join(tmp, "results"))
        paths_file, selection_file = os.path.join(tmp, "paths"), os.path.join(tmp, "selection.json")
        open(paths_file, "w").write("\n".join(paths))
        json.dump(selection, open(selection_file, "w"))
        times = {False: [], True: []}
        start = time.time()
        for _ in range(args.runs):  # interleaved: a busy moment of the machine hits both
            for html in (False, True):
                times[html].append(time_stage(paths_file, os.path.join(tmp, f"report-{int(html)}"), html,
                                              selection_file))
        page = os.path.getsize(os.path.join(tmp, "report-1", "index.html"))
    without, with_html = (statistics.median(t[0] for t in times[h]) for h in (False, True))
    cpu_without, cpu_with = (statistics.median(t[1] for t in times[h]) for h in (False, True))
    doc = {
        "schema": "utoe.report_time/1",
        "what": "the report stage in a fresh process (load, files, selection table; and the HTML page)",
        "results": len(paths), "boards": N_BOARDS, "models": list(MODELS), "does_not_fit": unfit,
        "synthesized_from": "9 real results of board=native (see the script's docstring)",
        "runs": args.runs, "seconds_without_html": round(without, 3), "seconds_with_html": round(with_html, 3),
        "html_extra_seconds": round(with_html - without, 3), "ratio": round(with_html / without, 2),
        "target": "html_extra_seconds < 2", "met": with_html - without < 2, "page_bytes": page,
        "cpu_seconds_without_html": round(cpu_without, 3), "cpu_seconds_with_html": round(cpu_with, 3),
        "all_runs_wall": {"without_html": [round(t[0], 3) for t in times[False]],
                          "with_html": [round(t[0], 3) for t in times[True]]},
        "cpus": os.cpu_count(), "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "wall_seconds": round(time.time() - start, 1),
    }
    write_json(args.out, doc)
    print(json.dumps({k: doc[k] for k in ("results", "seconds_without_html", "seconds_with_html",
                                          "html_extra_seconds", "ratio", "met", "cpu_seconds_without_html",
                                          "cpu_seconds_with_html", "load_average_1min_at_end", "page_bytes")}))


if __name__ == "__main__":
    main()
