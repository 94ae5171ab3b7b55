#!/usr/bin/env python3
"""Models utoe was never shown (issue 12): every .tflite file under the given
files or directories compiled by utoe, run once on the host and compared with
TFLite's BUILTIN_REF (utoe.conformance.check), as a new user's first try.

    python3 benchmarks/real_models.py [PATH ...] [--out benchmarks/results/real_models.json]

Default: ../shared/models. Public model sets to point it at (fetched, never
committed): TFLite Micro's repository (its examples, tensorflow/lite/micro/models
and the int16 single-operator models of integration_tests/seanet).

Each model ends as pass (bit-exact for integers, within tolerance for
floats), refused (one line before any build naming the model and what
utoe does not compile) or fail (anything else: a wrong number, a crash, a
traceback, a compiler error). Target: 0 fail. Prints each model's verdict,
the totals, and the refusals grouped by reason.
"""

import argparse
import glob
import os
import re
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from utoe.conformance import check  # noqa: E402
from utoe.files import write_json  # noqa: E402


def model_files(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(glob.glob(os.path.join(p, "**", "*.tflite"), recursive=True))
        else:
            out.append(p)
    return out


def reason(detail, path):
    """A refusal's reason without the model's path and operator indices,
    to group like refusals."""
    text = detail.replace(path, "").lstrip(": ")
    return re.sub(r"#\d+", "#n", text)[:160]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=[os.path.join(ROOT, "..", "shared", "models")])
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "real_models.json"))
    ap.add_argument("--board", default="native")
    args = ap.parse_args()
    files = model_files(args.paths)
    if not files:
        sys.exit(f"real_models: no .tflite file under {', '.join(args.paths)}")
    rows = []
    common = os.path.commonpath([os.path.abspath(f) for f in files]) if len(files) > 1 else os.path.dirname(files[0])
    for path in files:
        t0 = time.perf_counter()
        o = check(path, name="m", board=args.board, timeout=300)
        rel = os.path.relpath(os.path.abspath(path), common)
        rows.append({"model": rel, "status": o.status, "importer": o.importer, "codegen_s": round(o.compile_s, 2),
                     "total_s": round(time.perf_counter() - t0, 2), "max_abs_error": o.max_abs_error,
                     "exact": o.exact, "detail": o.detail.splitlines()[0] if o.detail else ""})
        r = rows[-1]
        print(f"{rel:70s} {o.status:8s} {r['importer'] or '':13s} {r['total_s']:7.2f} s  "
              f"{reason(r['detail'], path)[:110]}", flush=True)
    totals = Counter(r["status"] for r in rows)
    print(f"\nmodels: {len(rows)}; pass {totals['pass']}, refused {totals['refused']}, fail {totals['fail']}")
    by_reason = Counter(reason(r["detail"], os.path.join(common, r["model"])) for r in rows if r["status"] != "pass")
    for why, n in by_reason.most_common():
        print(f"  {n:4d} x {why}")
    write_json(args.out, {"schema": "utoe.real_models/1", "board": args.board, "root": common,
                          "totals": dict(totals), "models": rows})
    print(f"written: {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
