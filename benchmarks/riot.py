#!/usr/bin/env python3
"""Benchmark of the RIOT path (issue 5): the same models on this host, built
by utoe's own build (board=native) and through RIOT (board=native64).

    RIOTBASE=~/RIOT python3 benchmarks/riot.py [--out benchmarks/results/riot.json]

Measures, with real TVM, RIOT's make and SCons, for sinus and kws_ref_model:
- cold end-to-end time in an empty build directory, and a no-op rerun;
- per-model latency (mean of 20 trials, ms), RAM and flash from the ELF, and
  the harness's stack peak: what RIOT adds (kernel, stacks, stdio, ztimer).
Prints a table and writes the figures as JSON. Needs a RIOT checkout.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tabulate import tabulate  # noqa: E402

from utoe import riot  # noqa: E402
from utoe.errors import UtoeError  # noqa: E402
from utoe.files import write_json  # noqa: E402

MODELS = ("sinus", "kws_ref_model")
TRIALS = 20


def scons(build, *args):
    cmd = [sys.executable, "-m", "SCons", "-Q", f"build={build}", *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark: {' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "riot.json"))
    a = ap.parse_args()
    try:
        base = riot.base()
    except UtoeError as e:
        sys.exit(f"benchmark: {e}")
    rows, figures = [], []
    for model in MODELS:
        for board in ("native", "native64"):
            with tempfile.TemporaryDirectory() as tmp:
                args = [f"board={board}", f"model={model}", f"trials={TRIALS}"]
                args += [f"riotbase={base}"] if board == "native64" else []
                cold = scons(tmp, *args)
                noop = scons(tmp, *args)
                with open(os.path.join(tmp, board, model, "result.json")) as f:
                    r = json.load(f)
            fig = {"board": board, "model": model, "cold_s": round(cold, 2), "noop_s": round(noop, 2),
                   "latency_mean_ms": r["latency"]["mean"], "ram_bytes": r["ram"]["total_bytes"],
                   "flash_bytes": r["flash"]["total_bytes"], "stack_peak_bytes": r["ram"]["stack_peak_bytes"],
                   "validation_ok": r["validation"]["ok"]}
            figures.append(fig)
            rows.append([board, model, f"{cold:.1f}", f"{noop:.2f}", f"{fig['latency_mean_ms']:.4f}",
                         fig["ram_bytes"], fig["flash_bytes"], fig["stack_peak_bytes"], fig["validation_ok"]])
    print(tabulate(rows, headers=["board", "model", "cold s", "no-op s", "mean ms", "RAM B", "flash B",
                                  "stack B", "valid"]))
    write_json(a.out, {"riot": riot.identity(base).rsplit("@", 1)[1], "trials": TRIALS, "results": figures})
    print(f"written: {a.out}")


if __name__ == "__main__":
    main()
