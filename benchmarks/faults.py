#!/usr/bin/env python3
"""Fuzz campaign (issue 11): utoe's two readers of untrusted bytes.

    python3 benchmarks/faults.py [--samples 3000] [--out benchmarks/results/faults.json]

1. The TFLite reader (utoe.frontend._tflite_model + codegen.tflite_model.read,
   what every model passes through before TVM or LiteRT sees it) on truncated,
   bit-flipped and field-edited copies of real models. Each outcome is one of:
   clean (a UtoeError naming the file), accepted (the bytes are a readable
   model), traceback (any other exception), hang (over 10 s). An accepted
   mutant whose edits all lie in constant tensor data is a different valid
   model, not a corrupt one; the others are counted apart. A sample of
   accepted mutants is also loaded by LiteRT (the reference) in a child
   process, to count native crashes the reader let through.
2. The run-log parser and measure stage (utoe.measure.measure_files with the
   real reference validation) on mutated copies of a real host run log: a line
   dropped, a cut, a character flipped, a field value replaced. Outcomes:
   clean, result (a result.json was written), traceback, hang. A result from a
   mutant is counted apart when the edit was to a value the protocol cannot
   check (a plausible tick count, a noise line, U-TOE's usec line).

Targets: 0 tracebacks, 0 hangs, 0 results from corrupt input.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tabulate import tabulate  # noqa: E402

from utoe import frontend, models, reference  # noqa: E402
from utoe.codegen import tflite_model  # noqa: E402
from utoe.errors import UtoeError  # noqa: E402
from utoe.files import write_json  # noqa: E402
from utoe.measure import measure_files  # noqa: E402

READER_MODELS = ["lenet5", "sinus", "kws_ref_model", "rnnoise"]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def bounded(fn, seconds=10):
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        return fn()
    finally:
        signal.alarm(0)


def attempt(fn, counts, bad, **about):
    """Run fn bounded; count a clean error, a hang or a traceback (kept in
    bad with `about`). True when fn accepted its input."""
    try:
        bounded(fn)
        return True
    except UtoeError:
        counts["clean"] += 1
    except Hang:
        counts["hang"] += 1
    except Exception:
        counts["traceback"] += 1
        bad.append({**about, "trace": traceback.format_exc()[-400:]})
    return False


def mutate_bytes(buf, rng):
    """(mutant, kind, positions edited)."""
    b = bytearray(buf)
    kind = rng.choice(["truncate", "bitflip", "field"])
    if kind == "truncate":
        n = rng.randrange(0, len(b))
        return bytes(b[:n]), kind, [n]
    if kind == "bitflip":
        pos = [rng.randrange(len(b)) for _ in range(rng.randint(1, 8))]
        for p in pos:
            b[p] ^= 1 << rng.randrange(8)
        return bytes(b), kind, pos
    p = rng.randrange(0, len(b) - 4) & ~3
    b[p:p + 4] = rng.choice([b"\xff\xff\xff\x7f", b"\0\0\0\0", b"\xff\xff\xff\xff", rng.randbytes(4)])
    return bytes(b), kind, list(range(p, p + 4))


def data_ranges(path):
    """Byte ranges of constant tensor data in a TFLite file."""
    import tflite

    buf = open(path, "rb").read()
    m = tflite.Model.GetRootAsModel(buf, 0)
    out = []
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        if b.DataLength():
            start = b._tab.Vector(b._tab.Offset(4))
            out.append((start, start + b.DataLength()))
    return out


def reader_campaign(samples, rng, work):
    rows, crashes = [], []
    per_model = samples // len(READER_MODELS)
    for name in READER_MODELS:
        src = models.resolve(name).path
        buf = open(src, "rb").read()
        ranges = data_ranges(src)
        counts = {"clean": 0, "accepted (data edits: a valid model)": 0, "accepted (other edits)": 0,
                  "traceback": 0, "hang": 0}
        accepted_other = []
        path = os.path.join(work, f"{name}.tflite")
        for k in range(per_model):
            mutant, kind, pos = mutate_bytes(buf, rng)
            with open(path, "wb") as f:
                f.write(mutant)
            if not attempt(lambda: (frontend.detect_format(path), tflite_model.read(path, frontend._tflite_model(path))),
                           counts, crashes, model=name, kind=kind):
                continue
            in_data = kind != "truncate" and all(any(a <= p < b for a, b in ranges) for p in pos)
            if in_data:
                counts["accepted (data edits: a valid model)"] += 1
            else:
                counts["accepted (other edits)"] += 1
                accepted_other.append(mutant)
        # LiteRT (native code) on up to 40 accepted mutants: does anything the reader passes crash it?
        native_crash = 0
        for mutant in accepted_other[:40]:
            with open(path, "wb") as f:
                f.write(mutant)
            proc = subprocess.run([sys.executable, "-c", (
                "import sys\nfrom ai_edge_litert.interpreter import Interpreter\n"
                "try:\n i = Interpreter(model_path=sys.argv[1]); i.allocate_tensors(); i.invoke()\n"
                "except Exception: pass"), path], capture_output=True, timeout=60)
            native_crash += proc.returncode < 0
        rows.append({"model": name, "samples": per_model, **counts,
                     "litert_checked": min(40, len(accepted_other)), "litert_native_crashes": native_crash})
    return rows, crashes


def real_log(work):
    """A real per-operator host run of sine (SCons), copied out with its inputs."""
    proj = os.path.join(work, "project")
    shutil.copytree(ROOT, proj, ignore=shutil.ignore_patterns("build", ".git", "__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "SCons", "-Q", "board=native", "model=sine", "trials=4",
                    "mode=per-operator"], cwd=proj, check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=proj))
    pair = os.path.join(proj, "build", "native", "sine+per-operator")  # mode= is part of the pair's directory
    cg = [d for d in os.listdir(os.path.join(proj, "build", "codegen")) if d.startswith("sine-")][0]
    return (os.path.join(proj, "build", "codegen", cg, "metadata.json"), os.path.join(pair, "sizes.json"),
            open(os.path.join(pair, "run.log")).read())


UNCHECKABLE = ("ticks=", "usec:", "peak_bytes=")


def mutate_log(text, rng):
    """(mutant, kind, whether the edit can only be a plausible value the protocol cannot check)."""
    lines = text.splitlines(keepends=True)
    kind = rng.choice(["drop", "cut", "char", "field"])
    i = rng.randrange(len(lines))
    line = lines[i]
    plain = not line.startswith("utoe:")  # U-TOE's own lines and the banner carry nothing measure uses
    if kind == "drop":
        del lines[i]
        return "".join(lines), kind, plain
    if kind == "cut":
        n = rng.randrange(len(text))
        # a cut inside what follows the last protocol line (the shell's
        # newline, a banner) leaves the run whole
        whole = not text[n:].strip() or "utoe:" not in text[text.rfind("\n", 0, n) + 1:]
        return text[:n], kind, whole
    if kind == "char":
        j = rng.randrange(max(1, len(line) - 1))
        c = rng.choice("0123456789abcdefO-= x\x00\xff")
        lines[i] = line[:j] + c + line[j + 1:]
        digit_edit = line[j].isdigit() and c.isdigit() and any(
            u in line[:j] and line.rfind(" ", 0, j) < line.find(u) + len(u) + j for u in UNCHECKABLE)
        return "".join(lines), kind, plain or (digit_edit and any(u in line for u in UNCHECKABLE))
    fields = [f for f in line.split() if "=" in f]
    if not fields:
        lines[i] = "utoe: " + line
        return "".join(lines), kind, False
    f = rng.choice(fields)
    key = f.split("=", 1)[0]
    val = rng.choice(["-1473", "1O", "", "99999999999999999999999", "0x10", str(rng.randrange(1, 10**6)), "nan"])
    lines[i] = line.replace(f, f"{key}={val}", 1)
    plausible = key in ("ticks", "peak_bytes") and (val.isdigit() and int(val) < 2**64 or val == "0x10")
    return "".join(lines), kind, plausible


def log_campaign(samples, rng, work):
    meta, sizes, text = real_log(work)
    cfg = {"board": "native", "model": "sine", "runner": "host", "mode": "per-operator", "trials": 4, "seed": 1,
           "kinds": {"latency": "measured", "ram": "measured", "flash": "measured"}}
    counts = {"clean": 0, "result (plausible value edit, undetectable)": 0, "result (from corrupt input)": 0,
              "traceback": 0, "hang": 0}
    bad, log_path, out = [], os.path.join(work, "run.log"), os.path.join(work, "result.json")
    for k in range(samples):
        mutant, kind, plausible = mutate_log(text, rng)
        with open(log_path, "w") as f:
            f.write(mutant)
        if os.path.exists(out):
            os.unlink(out)
        if not attempt(lambda: measure_files(meta, sizes, log_path, cfg, out, validate=reference.validate),
                       counts, bad, kind=kind):
            continue
        if plausible or mutant == text:
            counts["result (plausible value edit, undetectable)"] += 1
        else:
            counts["result (from corrupt input)"] += 1
            bad.append({"kind": kind, "diff": [(a, b) for a, b in zip(text.splitlines(), mutant.splitlines())
                                              if a != b][:2],
                        "removed": text[len(mutant):][:300] if text.startswith(mutant) else None})
    return {"samples": samples, **counts}, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=3000, help="mutants per campaign")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "faults.json"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as work:
        t0 = time.time()
        reader, reader_bad = reader_campaign(args.samples, rng, work)
        t1 = time.time()
        log, log_bad = log_campaign(args.samples, rng, work)
        t2 = time.time()
    print(tabulate(reader, headers="keys"))
    print(f"\nreader: {sum(r['samples'] for r in reader)} mutants in {t1 - t0:.1f} s\n")
    print(tabulate([log], headers="keys"))
    print(f"\nlog parser + measure: {log['samples']} mutants in {t2 - t1:.1f} s")
    for b in (reader_bad + log_bad)[:5]:
        print("\n", json.dumps(b)[:600])
    write_json(args.out, {"schema": "utoe.bench.faults/1", "seed": args.seed, "reader": reader, "log": log,
                          "examples": (reader_bad + log_bad)[:20]})
    print(f"\nwritten: {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
