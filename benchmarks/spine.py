#!/usr/bin/env python3
"""Benchmark of the host spine (issue 2): build times and arena sizes.

    python3 benchmarks/spine.py [--out benchmarks/results/spine.json]

Measures, on this machine, with real TVM, gcc and SCons:
- cold end-to-end time (`scons board=native model=M report` in an empty build
  directory) for sinus and kws_ref_model;
- no-op rerun time (same command again: nothing to do);
- rerun after a mode change (mode=per-operator: app, firmware, run, measure
  are redone, codegen is not);
- per zoo model that imports: the arena planned by utoe against the lower bound
  (largest sum of simultaneously live tensors) and against TFLite Micro's arena
  (../shared/reference/tflm_arena.md), and the weights in flash against the
  flatbuffer's size.
Prints a table and writes the figures as JSON.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tabulate import tabulate  # noqa: E402

from utoe import models  # noqa: E402
from utoe.codegen import generate  # noqa: E402
from utoe.errors import UtoeError  # noqa: E402
from utoe.files import write_json  # noqa: E402

TFLM_TABLE = os.path.join(os.path.dirname(models.shared_models_dir()), "reference", "tflm_arena.md")
ZOO = ["sinus", "lenet5", "vww", "dscnn_s", "kws_ref_model", "ad01", "ad_small", "rnnoise", "resnet8"]


def scons(build, *args):
    cmd = ["scons", "-Q", f"build={build}", *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"benchmark: {' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    stages = [line.split()[0] for line in proc.stdout.splitlines() if line.split()[:1] and
              line.split()[0] in ("codegen", "app", "firmware", "sizes", "run", "measure", "report")]
    return dt, stages


def build_times():
    rows = []
    for model in ("sinus", "kws_ref_model"):
        with tempfile.TemporaryDirectory() as tmp:
            build = os.path.join(tmp, "build")
            args = ["board=native", f"model={model}", "report"]
            cold, s_cold = scons(build, *args)
            noop, s_noop = scons(build, *args)
            mode, s_mode = scons(build, *args, "mode=per-operator")
        rows.append({"model": model, "cold_s": round(cold, 2), "noop_s": round(noop, 2),
                     "mode_change_s": round(mode, 2), "cold_stages": s_cold, "noop_stages": s_noop,
                     "mode_change_stages": s_mode})
    return rows


def tflm_arena():
    table = {}
    with open(TFLM_TABLE) as f:
        for line in f:
            m = re.match(r"\|\s*(\S+\.tflite)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", line)
            if m:
                table[m.group(1)] = {"head": int(m.group(3)), "total": int(m.group(4))}
    return table


def arenas():
    tflm = tflm_arena() if os.path.exists(TFLM_TABLE) else {}
    rows = []
    zoo = models.registry()
    for name in ZOO:
        spec = zoo[name]
        row = {"model": name, "file": os.path.basename(spec.path)}
        try:
            with tempfile.TemporaryDirectory() as tmp:
                meta = generate(spec.path, tmp, name)
        except UtoeError as e:
            row["error"] = str(e).split(": ", 1)[-1][:90]
            rows.append(row)
            continue
        mem = meta["memory"]
        t = tflm.get(row["file"], {})
        row.update(arena=mem["arena_bytes"], lower_bound=mem["arena_lower_bound_bytes"],
                   workspace=mem["workspace_pool_bytes"], tflm_head=t.get("head"), tflm_total=t.get("total"),
                   weights=meta["weights_bytes"], file_bytes=os.path.getsize(spec.path))
        row["importer"] = meta["options"].get("importer_used", "tvm-relax")
        row["arena_over_bound"] = round(row["arena"] / row["lower_bound"], 3) if row["lower_bound"] else None
        row["weights_over_file"] = round(row["weights"] / row["file_bytes"], 2)
        if t:
            ram = row["arena"] + (0 if mem.get("workspace_in_arena") else row["workspace"])
            row["ram_over_tflm_total"] = round(ram / t["total"], 2)
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "spine.json"))
    ap.add_argument("--skip-builds", action="store_true", help="only the arena table")
    args = ap.parse_args()
    out = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    if not args.skip_builds:
        out["build_times"] = build_times()
        print(tabulate([{k: v for k, v in r.items() if not k.endswith("stages")} for r in out["build_times"]],
                       headers="keys"))
        for r in out["build_times"]:
            print(f"{r['model']}: no-op rerun ran {r['noop_stages'] or 'no stage'}; "
                  f"mode change ran {r['mode_change_stages']}")
        print()
    out["arenas"] = arenas()
    print(tabulate(out["arenas"], headers="keys"))
    write_json(args.out, out)
    print(f"\nwritten: {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
