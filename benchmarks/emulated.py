#!/usr/bin/env python3
"""Benchmark of the emulated boards (issues 3 and 4): instructions, wall
time per QEMU run, flash against the flatbuffer. (The latency estimates
against the U-TOE paper's measured ones: benchmarks/estimate.py.)

    python3 benchmarks/emulated.py [--out benchmarks/results/emulated.json] [--models a,b]

With real TVM, cross compilers, QEMU and utoe's TCG plugin:
- per model of the zoo and per emulated core (Cortex-M0+, M3, M4F, M7 and
  RV32IMAC, each on a board or machine with room for every model), executed
  instructions per inference (emulated) and per operator (attributed per
  executor call, so operators sharing code each get their own), instructions
  per MAC, static RAM, the wall time of one QEMU run (one trial), and flash
  (weights + operator code) against the flatbuffer's size;
- kws_ref_model's instructions per inference against CMSIS-NN's under QEMU
  (../shared/reference/cmsis_nn_kws.md).
Prints tables and writes the figures as JSON.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tabulate import tabulate  # noqa: E402

from utoe import boards, models  # noqa: E402
from utoe.files import write_json  # noqa: E402
from utoe.runners.qemu import QemuRunner  # noqa: E402
from benchmarks.paper import REFERENCE  # noqa: E402

ZOO = ["sinus", "lenet5", "vww", "dscnn_s", "kws_ref_model", "ad01", "ad_small", "rnnoise", "resnet8"]
# One target per core; each has the memory for every zoo model.
CORES = {"cortex-m0plus": "rpi-pico", "cortex-m3": "mps2-an385", "cortex-m4f": "mps2-an386",
         "cortex-m7": "mps2-an500", "rv32imac": "virt-rv32"}
CMSIS_M4_O2 = None  # read from the reference file


def scons(build, *args):
    # bare-metal firmware on the stand-ins (RIOT's own runs: scons os=riot, benchmarks/riot_boards.py)
    cmd = [sys.executable, "-m", "SCons", "-Q", f"build={build}", "os=baremetal", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark: {' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def result(build, board, model):
    with open(os.path.join(ROOT, build, board, model, "result.json")) as f:
        return json.load(f)


def wall_time_of_one_run(build, board, model):
    """Run the built firmware once more under QEMU (with the plugin), timed."""
    pair = os.path.join(ROOT, build, board, model)
    runner = QemuRunner(boards.get(board), timeout=600)
    tmp = os.path.join(pair, "bench")
    os.makedirs(tmp, exist_ok=True)
    t = time.perf_counter()
    runner.run(os.path.join(pair, "firmware.elf"), os.path.join(tmp, "run.log"))
    return time.perf_counter() - t


def cmsis_kws():
    with open(os.path.join(REFERENCE, "cmsis_nn_kws.md")) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r"^\| (Cortex-[\w+]+)(?: \(DSP\))?, (-O\w) \| ([\d,]+) \|", text, re.M):
        out[f"{m.group(1)} {m.group(2)}"] = int(m.group(3).replace(",", ""))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "emulated.json"))
    ap.add_argument("--models", default=",".join(ZOO))
    ap.add_argument("--build", default="build/bench-emulated")
    args = ap.parse_args()
    names = args.models.split(",")
    figures = {"cores": CORES, "models": {}, "kws_vs_cmsis_nn": {}}

    # every model on every core, one trial each
    scons(args.build, "board=" + ",".join(CORES.values()), "model=" + ",".join(names), "trials=1")
    rows = []
    for model in names:
        spec = models.resolve(model)
        flatbuffer = os.path.getsize(spec.path)
        per_core = {}
        for core, board in CORES.items():
            r = result(args.build, board, model)
            wall = wall_time_of_one_run(args.build, board, model)
            fl = r["flash"]["model"]
            per_core[core] = {
                "board": board, "instructions_per_inference": r["instructions"]["per_inference"],
                "operators": {op["name"]: op["instructions"] for op in r["operators"]},
                "instructions_per_mac": {op["name"]: round(op["instructions_per_mac"], 3)
                                         for op in r["operators"] if op.get("instructions_per_mac")},
                "qemu_wall_s": round(wall, 3), "weights_bytes": fl["weights"], "code_bytes": fl["code"],
                "ram_model_bytes": sum(r["ram"]["model"].values()), "ram_static_bytes": r["ram"]["static_bytes"],
                "validation_ok": r["validation"]["ok"]}
            rows.append([model, core, f"{r['instructions']['per_inference']:,}", f"{wall:.2f}",
                         fl["weights"], fl["code"], f"{(fl['weights'] + fl['code']) / flatbuffer:.2f}",
                         "yes" if r["validation"]["ok"] else "NO"])
        figures["models"][model] = {"flatbuffer_bytes": flatbuffer, "cores": per_core}
    print(tabulate(rows, headers=["model", "core", "instructions / inference", "QEMU wall s", "weights B",
                                  "op code B", "(weights+code)/flatbuffer", "valid"], disable_numparse=True))

    if "kws_ref_model" in names:
        ref = cmsis_kws()
        ours = {"Cortex-M4 -O2": figures["models"]["kws_ref_model"]["cores"]["cortex-m4f"],
                "Cortex-M3 -O2": figures["models"]["kws_ref_model"]["cores"]["cortex-m3"],
                "Cortex-M0+ -O2": figures["models"]["kws_ref_model"]["cores"]["cortex-m0plus"]}
        krows = []
        for key, mine in ours.items():
            n = mine["instructions_per_inference"]
            figures["kws_vs_cmsis_nn"][key] = {"utoe": n, "cmsis_nn": ref.get(key),
                                               "ratio": round(n / ref[key], 3) if ref.get(key) else None}
            krows.append([key, f"{n:,}", f"{ref.get(key, 0):,}", f"{n / ref[key]:.2f}" if ref.get(key) else "-"])
        print()
        print(tabulate(krows, headers=["kws_ref_model", "utoe instructions", "CMSIS-NN", "utoe / CMSIS-NN"],
                       disable_numparse=True))

    write_json(args.out, figures)
    print(f"\nwritten: {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
