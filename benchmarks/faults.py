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

    python3 benchmarks/faults.py --campaign interrupts [--per-signal 50] [--entry utoe|scons]
                                 [--out benchmarks/results/interrupts.json]

3. Interrupts: real invocations (the `utoe` CLI, or `python -m SCons` with
   --entry scons) on a copy of the project, a host run
   (board=native) and a QEMU run (board=mps2-an386) of sine, each stopped by
   SIGINT (to its process group, as Ctrl-C), SIGTERM (to scons, as kill) or
   SIGKILL (to scons, as kill -9) at a random (seeded) point: half of them
   anywhere between its start and the time a clean invocation of the same
   kind takes (Python's and SCons's start-up and the SConstruct included),
   half while it builds (after its first stage line). An invocation runs
   the pair again (rerun=1: run, measure), rebuilds it (its directory
   removed: app, compile, link, run, measure) or builds another
   configuration of it (trials=3: app, compile, link, run, measure). After
   each signal: processes of that project left alive (QEMU, the firmware)
   are counted (then killed), so are tracebacks and a lying result.json (not
   a result; of another configuration than the pair's app now holds; of the
   clean configuration but unlike a clean run's); then a plain rerun of the
   clean configuration must finish with a result identical to a clean run's
   (the host's timings excepted; QEMU's counts are exact).
   A traceback printed by Python or SCons while they import themselves,
   before SConstruct (utoe's first code) runs, is counted apart.

Targets: 0 orphans, 0 tracebacks, 0 lying results, every rerun recovered.
"""

import argparse
import json
import os
import random
import re
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


INTERRUPT_TARGETS = [("native", "sine", "trials=2000"), ("mps2-an386", "sine", "trials=5000")]
STAGES = ("codegen", "fitcheck", "app", "compile", "firmware", "sizes", "run", "measure", "report")
SIGNALS = {"SIGINT": (signal.SIGINT, "group"), "SIGTERM": (signal.SIGTERM, "scons"),
           "SIGKILL": (signal.SIGKILL, "scons")}


def _comparable(result, board):
    """result.json without what legitimately varies between clean runs: the
    host's measured timings (QEMU's figures are exact counts)."""
    r = json.loads(json.dumps(result))
    if board == "native":
        r.pop("latency", None)
        for op in r.get("operators", []):
            op.pop("latency", None)
    return r


def _project_pids(marker):
    """Live processes (not zombies) whose command line names the project copy."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if state != "Z" and any(marker.encode() in a for a in argv):
            pids.append((int(pid), os.path.basename(argv[0].decode(errors="replace"))))
    return pids


class Project:
    def __init__(self, work, entry="utoe"):
        self.entry = entry  # utoe: the CLI (SCons in its process); scons: python -m SCons
        self.root = os.path.join(work, "project")
        shutil.copytree(ROOT, self.root, ignore=shutil.ignore_patterns(
            "build", ".git", "__pycache__", "*.egg-info", ".pytest_cache", "results"))
        self.env = dict(os.environ, PYTHONPATH=self.root, PYTHONUNBUFFERED="1")  # stage lines up to the signal

    def start(self, *args):
        cmd = ([sys.executable, "-c", "import sys; from utoe.cli import main; sys.exit(main())"]
               if self.entry == "utoe" else [sys.executable, "-m", "SCons", "-Q"])
        return subprocess.Popen([*cmd, *args], cwd=self.root, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def run(self, *args, timeout=900):
        proc = self.start(*args)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err

    def result(self, board, model):
        path = os.path.join(self.root, "build", board, model, "result.json")
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except ValueError:
            return "not JSON"


# what an interrupted invocation does: run the pair again (rerun=1), rebuild it
# (its directory removed), or build another configuration of it (trials=3)
KINDS = ("rerun", "rebuild", "reconfigure")
RECONFIGURED = 3


def _invocation(args, kind):
    if kind == "reconfigure":
        return [a for a in args if not a.startswith("trials=")] + [f"trials={RECONFIGURED}"]
    return [*args, *(["rerun=1"] if kind == "rerun" else [])]


def _lies(result, pair, board, clean):
    """A result.json left by an interrupted invocation that is not what it
    claims to be: not a result, of another configuration than the pair's
    app now holds (an older result beside newer products), or of the clean
    configuration but unlike a clean run's."""
    if not isinstance(result, dict):
        return "lying_results"
    try:
        with open(os.path.join(pair, "app", "utoe_config.h")) as f:
            app_trials = int(re.search(r"UTOE_CONFIG_TRIALS (\d+)u", f.read()).group(1))
    except (OSError, AttributeError):
        app_trials = None
    if app_trials is not None and result.get("trials") != app_trials:
        return "older_result_beside_newer_app"
    if result.get("trials") == clean["trials"] and _comparable(result, board) != clean:
        return "lying_results"
    return None


def _first_stage(proc):
    """Read the invocation's output up to its first stage line (it has
    started building); '' if it ended before."""
    seen = ""
    while True:
        line = proc.stdout.readline()
        seen += line
        if not line or line.split()[:1] and line.split()[0] in STAGES:
            return seen


def interrupt_campaign(per_signal, rng, work, entry="utoe", log=print):
    proj = Project(work, entry)
    rows, examples = [], []
    for board, model, trials in INTERRUPT_TARGETS:
        args = [f"board={board}", f"model={model}", trials]
        pair = os.path.join(proj.root, "build", board, model)
        rc, out, err = proj.run(*args)
        if rc != 0:
            raise SystemExit(f"clean build of {board}/{model} failed:\n{out}\n{err}")
        clean = _comparable(proj.result(board, model), board)
        durations = {}
        for kind in KINDS:  # how long a clean invocation of each kind takes
            if kind == "rebuild":
                shutil.rmtree(pair)
            t0 = time.time()
            proc = proj.start(*_invocation(args, kind))
            first = _first_stage(proc)
            t1 = time.time()
            out, err = proc.communicate(timeout=900)
            rc, out = proc.returncode, first + out
            durations[kind] = time.time() - t0  # the whole invocation
            durations[kind + " building"] = time.time() - t1  # from its first stage line on
            assert rc == 0, (kind, out, err)
            if kind == "reconfigure":
                assert proj.result(board, model)["trials"] == RECONFIGURED
                assert proj.run(*args)[0] == 0  # back to the clean configuration
            assert _comparable(proj.result(board, model), board) == clean, (kind, out, err)
        for name, (signum, to) in SIGNALS.items():
            counts = {"board": board, "signal": name, "sent_to": to, "samples": per_signal, "ended_by_signal": 0,
                      "finished_first": 0, "orphans": 0, "tracebacks": 0,
                      "tracebacks (in Python/SCons start-up)": 0, "lying_results": 0,
                      "older_result_beside_newer_app": 0,
                      "rerun_failed": 0, "recovered": 0, "stages_hit": {}}
            for k in range(per_signal):
                kind = rng.choice(KINDS)
                if kind == "rebuild" and os.path.isdir(pair):
                    shutil.rmtree(pair)
                # anywhere in the invocation (start-up and SConstruct included), or while it builds
                phase = rng.choice(["anywhere", "building"])
                proc = proj.start(*_invocation(args, kind))
                first = _first_stage(proc) if phase == "building" else ""
                time.sleep(rng.uniform(0, durations[kind if phase == "anywhere" else kind + " building"]))
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signum) if to == "group" else os.kill(proc.pid, signum)
                    except ProcessLookupError:
                        pass
                try:
                    out, err = proc.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    out, err = proc.communicate()
                    err += "\n(hung after the signal: killed)"
                out = first + out
                stage = next((line.split()[0] for line in reversed(out.splitlines())
                              if line.split()[:1] and line.split()[0] in STAGES), "start")
                if proc.returncode == 0:
                    counts["finished_first"] += 1
                else:
                    counts["ended_by_signal"] += 1
                    counts["stages_hit"][stage] = counts["stages_hit"].get(stage, 0) + 1
                left, t0 = _project_pids(proj.root), time.time()
                while left and time.time() - t0 < 5:  # a child dying with its parent takes a moment
                    time.sleep(0.1)
                    left = _project_pids(proj.root)
                if left:
                    counts["orphans"] += len(left)
                    examples.append({"board": board, "signal": name, "orphans": left, "stage": stage})
                    for pid, _ in left:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                if "Traceback" in out + err:
                    # Ctrl-C while Python and SCons import themselves, before SConstruct (utoe's first code) runs
                    startup = not any(m in err for m in ("SConstruct", "site_scons", "/utoe/"))
                    counts["tracebacks (in Python/SCons start-up)" if startup else "tracebacks"] += 1
                    examples.append({"board": board, "signal": name, "stage": stage, "stderr": err[-600:]})
                left_result = proj.result(board, model)
                lie = left_result is not None and _lies(left_result, pair, board, clean)
                if lie:
                    counts[lie] += 1
                    examples.append({"board": board, "signal": name, "stage": stage, "lying": str(left_result)[:300]})
                rc, out2, err2 = proj.run(*args)
                if "Traceback" in out2 + err2:
                    counts["tracebacks"] += 1
                    examples.append({"board": board, "signal": name, "rerun_stderr": err2[-600:]})
                if rc != 0:
                    counts["rerun_failed"] += 1
                    examples.append({"board": board, "signal": name, "stage": stage, "rerun_failed": err2[-600:]})
                elif _comparable(proj.result(board, model), board) == clean:
                    counts["recovered"] += 1
                else:
                    examples.append({"board": board, "signal": name, "stage": stage, "rerun_differs": True})
            log(f"{board:<11} {name:<8} {json.dumps({k: v for k, v in counts.items() if k not in ('board', 'signal')})}")
            rows.append(counts)
    return rows, examples


def interrupts_main(args):
    rng = random.Random(args.seed)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work:
        rows, examples = interrupt_campaign(args.per_signal, rng, work, args.entry)
    table = [{k: (", ".join(f"{s} {n}" for s, n in sorted(v.items())) if isinstance(v, dict) else v)
              for k, v in r.items()} for r in rows]
    print(tabulate(table, headers="keys"))
    print(f"\n{sum(r['samples'] for r in rows)} interrupted invocations in {time.time() - t0:.0f} s")
    for e in examples[:5]:
        print("\n", json.dumps(e)[:600])
    out = args.out or os.path.join(ROOT, "benchmarks", "results", "interrupts.json")
    write_json(out, {"schema": "utoe.bench.interrupts/1", "seed": args.seed, "per_signal": args.per_signal,
                     "entry": args.entry,
                     "targets": [" ".join(t) for t in INTERRUPT_TARGETS], "rows": rows, "examples": examples[:20]})
    print(f"\nwritten: {os.path.relpath(out, ROOT)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaign", choices=("fuzz", "interrupts"), default="fuzz",
                    help="fuzz: the readers (faults.json); interrupts: signals during real runs (interrupts.json)")
    ap.add_argument("--samples", type=int, default=3000, help="fuzz: mutants per campaign")
    ap.add_argument("--per-signal", type=int, default=50, help="interrupts: invocations per signal and board")
    ap.add_argument("--entry", choices=("utoe", "scons"), default="utoe",
                    help="interrupts: start each invocation with the utoe CLI or with python -m SCons")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default=None, help="results file (default: benchmarks/results/<campaign>.json)")
    args = ap.parse_args()
    if args.campaign == "interrupts":
        return interrupts_main(args)
    args.out = args.out or os.path.join(ROOT, "benchmarks", "results", "faults.json")
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
