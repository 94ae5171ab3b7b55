"""Measure stage: metadata.json + sizes.json + run log + run configuration in,
result.json ("utoe.result/1", documented in README.md) out.

`build_result` only combines and checks; it reads no files. `write_result`
writes atomically, so a result.json is either complete or absent.
`measure_files` does both from paths, naming the real paths in its errors.

Latency figures are computed from the exact tick counts and `tick_hz` of the
log's `utoe:` lines, never from U-TOE's rounded `usec` lines.
"""

import numbers

from . import __version__, estimate, fit
from .elfsize import KERNEL_HELPERS, OP_PREFIX
from .errors import UtoeError
from .files import read_json, write_json
from .protocol import parse_log
from .stats import summary

SCHEMA = "utoe.result/1"
KINDS = ("measured", "emulated", "estimated")
MODES = ("per-model", "per-operator")

# Functions that run inside an inference: operators, the executor (run and
# run_op) and the workspace allocator.
MODEL_RUN_PREFIXES = (OP_PREFIX, "utoe_model_run", "TVMBackend") + KERNEL_HELPERS

_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


class MeasureError(UtoeError):
    """An input of the measure stage is missing, inconsistent or failed; the
    message names the file or the log line at fault."""


def build_result(metadata, sizes, log_text, config, *, names=None, counts=None):
    """Return the content of result.json as a dict.

    metadata: codegen's metadata.json ("utoe.metadata/1"), sizes: the firmware
    stage's sizes.json ("utoe.sizes/1"), log_text: the console log of the run,
    config: {"board", "model", "runner", "mode", "trials", "seed",
    "kinds": {"latency", "ram", "flash"}: "measured"|"emulated"|"estimated",
    optional "tools": {name: version}, optional "board_memory": {"ram_bytes",
    "flash_bytes"} (the fit is assessed against them), optional
    "stack_in_static": true when the stack is part of .bss (RIOT's thread
    stacks) so RAM is data + bss without the peak on top, optional "estimate":
    utoe.estimate.model(board) (with counts), optional "firmware": {"os",
    "run": {"os", "machine", "emulates"}} (what was built and sized, what
    ran: os=riot on a stand-in sizes RIOT's firmware and runs the bare-metal
    one), copied into the result}. counts: the QEMU plugin's
    icount.json ("utoe.icount/3"); with it, instructions per inference and per
    operator are recorded (emulated), and cycles and latency are estimated
    from what they executed (utoe.estimate's cycle model).
    `names` maps "metadata", "sizes", "log", "counts" to the labels used in
    error messages (default: the file names).

    Raises MeasureError (naming the file or log line at fault) or the
    utoe.protocol.ProtocolError of the log's own check.
    """
    names = {"metadata": "metadata.json", "sizes": "sizes.json",
             "log": "run log", "counts": "icount.json", **(names or {})}
    md, sz, lg = names["metadata"], names["sizes"], names["log"]
    cfg = _check_config(config)
    _check_schema(metadata, "utoe.metadata/1", md)
    _check_schema(sizes, "utoe.sizes/1", sz)
    operators = _get(metadata, "operators", list, md)
    if cfg["model"] != _get(metadata, "model", str, md):
        raise MeasureError(f"{md}: model '{metadata['model']}' but the run "
                           f"configuration is for model '{cfg['model']}'")

    run = parse_log(log_text)
    run.check()  # ProtocolError propagates as it is
    tick_hz = _check_begin(run.begin, cfg, len(operators), lg)

    trials = sorted(run.trials)
    for i, (index, ticks, ret) in enumerate(trials):
        if index != i:
            raise MeasureError(f"{lg}: missing line 'utoe: trial index={i} ...'")
        if ret != 0:
            raise MeasureError(f"{lg}: 'utoe: trial index={index} ticks={ticks} "
                               f"ret={ret}': the trial failed")
    if len(trials) != cfg["trials"]:
        raise MeasureError(f"{lg}: {len(trials)} 'utoe: trial' lines, expected "
                           f"{cfg['trials']} (trials={cfg['trials']})")
    if run.status != "ok":
        raise MeasureError(f"{lg}: 'utoe: end status={run.status}': the run failed")
    trials_ms = [_ms(ticks, tick_hz) for _, ticks, _ in trials]
    lat = summary(trials_ms)

    ops_latency = _operator_latency(run.ops, cfg["mode"], len(trials),
                                    len(operators), tick_hz, lg)
    op_rows = []
    for i, op in enumerate(operators):
        where = f"{md}: operators[{i}]"
        if _get(op, "index", int, where) != i:
            raise MeasureError(f"{where}: index {op['index']}, expected {i}")
        mem = sum(_get(op, k, int, where)
                  for k in ("input_bytes", "output_bytes", "workspace_bytes"))
        param_bytes = _get(op, "param_bytes", int, where)
        op_rows.append({
            "index": i,
            "name": _get(op, "name", str, where),
            "params": list(_get(op, "params", list, where)),
            "param_bytes": param_bytes,
            "memory_bytes": mem,
            "storage_bytes": param_bytes,
            "macs": _get(op, "macs", int, where) if "macs" in op else None,
            # who computed it: "tvm" (utoe's own kernels, C generated by TVM) or "cmsis-nn"; None for an alias
            "library": op.get("library"),
            "alias_of": op.get("alias_of"),  # a RESHAPE that is its input's bytes: executes nothing
            "latency": ops_latency[i][0] if ops_latency else None,
            "share_pct": ops_latency[i][1] if ops_latency else None,
        })

    if run.stack_peak_bytes is None:
        raise MeasureError(f"{lg}: missing line 'utoe: stack peak_bytes=N'")
    stack = run.stack_peak_bytes or None  # 0: the platform cannot measure it
    ram, flash = _sizes(sizes, sz)
    static = ram["data"] + ram["bss"]
    outputs = _outputs(run, metadata, md, lg)

    # On RIOT the measured stack lies inside .bss (the thread's own stack):
    # counting it again would double it.
    total_ram = static if config.get("stack_in_static") else static + (stack or 0)
    total_flash = flash["text"] + flash["rodata"] + flash["data"]
    kinds = cfg["kinds"]
    mem = config.get("board_memory") or {}
    fitness = fit.assess(total_ram, total_flash, mem.get("ram_bytes"), mem.get("flash_bytes"))

    instructions = None
    cycles = None
    latency = {"kind": kinds["latency"], "trials_ms": trials_ms, **lat}
    if counts is not None:
        if "estimate" not in config:
            raise MeasureError("run configuration: instruction counts but no 'estimate' model")
        est = config["estimate"]
        instructions = _instructions(counts, operators, len(trials), names["counts"])
        per_op = instructions.pop("operators")
        details = instructions.pop("details")
        instructions["estimate"] = dict(est)
        cycles, per_trial, op_cycles = _cycles(details, est, len(trials), names["counts"])
        total_cycles = sum(c["cycles"] for c in op_cycles) or 1
        for row, n, c in zip(op_rows, per_op, op_cycles):
            row["instructions"] = n
            # emulated instructions over the metadata's multiply-accumulates (None: no MACs)
            row["instructions_per_mac"] = n / row["macs"] if row.get("macs") else None
            t = estimate.ms(c["cycles"], est)
            row["cycles"] = c
            row["latency"] = {"median_ms": t, "mean_ms": t, "min_ms": t, "max_ms": t}
            row["share_pct"] = c["cycles"] * 100 / total_cycles
        trials_est = [estimate.ms(c, est) for c in per_trial]
        latency = {"kind": "estimated", "trials_ms": trials_est, **summary(trials_est)}

    src = _get(metadata, "source", dict, md)
    tools = {"utoe": __version__, "tvm": _get(metadata, "tvm_version", str, md)}
    tools.update(cfg["tools"])
    return {
        "schema": SCHEMA,
        "status": "ok",
        "board": cfg["board"],
        "model": cfg["model"],
        "runner": cfg["runner"],
        "mode": cfg["mode"],
        "trials": cfg["trials"],
        "seed": cfg["seed"],
        "options": _options(config, metadata),
        "source": {"path": _get(src, "path", str, f"{md}: source"),
                   "sha256": _get(src, "sha256", str, f"{md}: source")},
        "tools": tools,
        "tick_hz": tick_hz,
        "latency": {
            "unit": "ms",
            "kind": latency["kind"],
            "trials_ms": latency["trials_ms"],
            "mean": latency["mean"],
            "median": latency["median"],
            "min": latency["min"],
            "max": latency["max"],
            "ci95": latency["ci95"],
        },
        "instructions": instructions,
        **({"cycles": cycles} if cycles else {}),
        "fit": fitness,
        "ram": {
            "kind": kinds["ram"],
            "total_bytes": total_ram,
            "static_bytes": static,
            "stack_peak_bytes": stack,
            "stack_in_static": bool(config.get("stack_in_static")),
            "model": dict(ram["model"]),
            "rest": ram["rest"],
        },
        "flash": {
            "kind": kinds["flash"],
            "total_bytes": total_flash,
            "model": dict(flash["model"]),
            "rest": flash["rest"],
        },
        "operators": op_rows,
        "outputs": outputs,
        "checksum": "0x%08x" % run.checksum,
        "stack_peak_bytes": stack,
        **({"firmware": dict(config["firmware"])} if config.get("firmware") else {}),
    }


def write_result(path, result):
    """Write result.json atomically (temporary file in the same directory,
    then os.replace): the file is complete or absent, never half written."""
    if result.get("schema") != SCHEMA:
        raise MeasureError(f"{path}: refusing to write a result without "
                           f"schema '{SCHEMA}'")
    write_json(path, result)


def _options(config, metadata=None):
    """The codegen options the product was built with (planner=, importer=),
    and the importer `auto` chose (from metadata.json)."""
    opts = dict(config.get("options") or {})
    used = ((metadata or {}).get("options") or {}).get("importer_used")
    if used:
        opts["importer_used"] = used
    return opts


def write_unfit(out_path, config, unfit):
    """The result of a model that does not fit the board (hardware selection):
    status "does-not-fit", both numbers, no figures that were not taken."""
    write_json(out_path, {
        "schema": SCHEMA, "status": "does-not-fit",
        **{k: config[k] for k in ("board", "model", "runner", "mode", "trials", "seed")},
        "options": _options(config),
        "fit": {"fits": False, "message": unfit["message"], **unfit["figures"]},
    })


def measure_files(metadata_path, sizes_path, log_path, config, out_path, validate=None, counts_path=None):
    """Read the stage's inputs from files, build the result, write it to
    out_path and return it. Nothing is written when anything fails.

    validate: optional callable (metadata, result) -> dict, recorded as the
    result's "validation" (see utoe.reference)."""
    metadata = _load_json(metadata_path)
    sizes = _load_json(sizes_path)
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            log_text = f.read()
    except OSError as e:
        raise MeasureError(f"{log_path}: cannot read the run log ({e.strerror})")
    counts = _load_json(counts_path) if counts_path else None
    result = build_result(metadata, sizes, log_text, config, names={
        "metadata": str(metadata_path), "sizes": str(sizes_path),
        "log": str(log_path), "counts": str(counts_path)}, counts=counts)
    if validate is not None:
        result["validation"] = validate(metadata, result)
    write_result(out_path, result)
    return result


# ---------------------------------------------------------------- helpers

def _ms(ticks, tick_hz):
    return ticks * 1000 / tick_hz  # int / int: correctly rounded


def _load_json(path):
    return read_json(path, MeasureError)


def _get(obj, key, typ, where):
    if not isinstance(obj, dict) or key not in obj:
        raise MeasureError(f"{where}: missing '{key}'")
    v = obj[key]
    if typ is int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise MeasureError(f"{where}: '{key}' must be a non-negative "
                               f"integer, not {v!r}")
        return int(v)
    if not isinstance(v, typ):
        raise MeasureError(f"{where}: '{key}' must be a {typ.__name__}, not {v!r}")
    return v


def _check_schema(doc, schema, where):
    if not isinstance(doc, dict):
        raise MeasureError(f"{where}: not a JSON object")
    if doc.get("schema") != schema:
        raise MeasureError(f"{where}: schema {doc.get('schema')!r}, "
                           f"expected '{schema}'")


def _check_config(config):
    where = "run configuration"
    cfg = {k: _get(config, k, str, where) for k in ("board", "model", "runner")}
    cfg["mode"] = _get(config, "mode", str, where)
    if cfg["mode"] not in MODES:
        raise MeasureError(f"{where}: mode '{cfg['mode']}' is not one of "
                           + ", ".join(MODES))
    cfg["trials"] = _get(config, "trials", int, where)
    if cfg["trials"] < 1:
        raise MeasureError(f"{where}: trials must be at least 1")
    cfg["seed"] = _get(config, "seed", int, where)
    kinds = _get(config, "kinds", dict, where)
    cfg["kinds"] = {}
    for k in ("latency", "ram", "flash"):
        v = _get(kinds, k, str, f"{where}: kinds")
        if v not in KINDS:
            raise MeasureError(f"{where}: kinds.{k} '{v}' is not one of "
                               + ", ".join(KINDS))
        cfg["kinds"][k] = v
    tools = config.get("tools") or {}
    if not isinstance(tools, dict):
        raise MeasureError(f"{where}: 'tools' must be an object of name: version")
    cfg["tools"] = {str(k): str(v) for k, v in tools.items()}
    return cfg


def _check_begin(begin, cfg, n_ops, lg):
    """Compare the log's begin line with the configuration; return tick_hz."""
    line = "'utoe: begin ...' line"
    for key in ("board", "model", "mode", "trials", "seed", "ops", "tick_hz"):
        if key not in begin:
            raise MeasureError(f"{lg}: {line} has no {key}=")
    expected = {"board": cfg["board"], "model": cfg["model"], "mode": cfg["mode"],
                "trials": cfg["trials"], "seed": cfg["seed"], "ops": n_ops}
    for key, want in expected.items():
        got = begin[key]
        if isinstance(want, int):
            try:
                got = int(got, 0)
            except ValueError:
                raise MeasureError(f"{lg}: {line}: {key}={begin[key]} is "
                                   "not an integer") from None
        if got != want:
            src = "metadata" if key == "ops" else "run configuration"
            raise MeasureError(f"{lg}: {line} says {key}={begin[key]} but the "
                               f"{src} says {want}")
    try:
        tick_hz = int(begin["tick_hz"])
    except ValueError:
        tick_hz = 0
    if tick_hz <= 0:
        raise MeasureError(f"{lg}: {line}: tick_hz={begin['tick_hz']} is not "
                           "a positive integer")
    return tick_hz


def _operator_latency(ops, mode, n_trials, n_ops, tick_hz, lg):
    """Per-operator mode: [(latency dict, share_pct)] per operator; per-model
    mode: None (and no op lines allowed)."""
    if mode == "per-model":
        if ops:
            t, i, ticks, ret = ops[0]
            raise MeasureError(f"{lg}: 'utoe: op trial={t} index={i} ...' line "
                               "in a per-model run")
        return None
    table = {}
    for t, i, ticks, ret in ops:
        if ret != 0:
            raise MeasureError(f"{lg}: 'utoe: op trial={t} index={i} "
                               f"ticks={ticks} ret={ret}': the operator failed")
        if not (0 <= t < n_trials and 0 <= i < n_ops) or (t, i) in table:
            raise MeasureError(f"{lg}: unexpected line 'utoe: op trial={t} "
                               f"index={i} ...' (trials={n_trials}, ops={n_ops})")
        table[(t, i)] = ticks
    stats = []
    for i in range(n_ops):
        for t in range(n_trials):
            if (t, i) not in table:
                raise MeasureError(f"{lg}: missing line 'utoe: op trial={t} "
                                   f"index={i} ...'")
        s = summary([_ms(table[(t, i)], tick_hz) for t in range(n_trials)], ci=False)
        stats.append({"median_ms": s["median"], "mean_ms": s["mean"],
                      "min_ms": s["min"], "max_ms": s["max"]})
    total = sum(s["median_ms"] for s in stats)
    return [(s, s["median_ms"] * 100 / total if total > 0 else None)
            for s in stats]


def _sizes(sizes, sz):
    ram = _get(sizes, "ram", dict, sz)
    flash = _get(sizes, "flash", dict, sz)
    r = {k: _get(ram, k, int, f"{sz}: ram") for k in ("data", "bss", "rest")}
    r["model"] = {k: _get(ram.get("model"), k, int, f"{sz}: ram.model")
                  for k in ("arena", "workspace", "other")}
    f = {k: _get(flash, k, int, f"{sz}: flash")
         for k in ("text", "rodata", "data", "rest")}
    f["model"] = {k: _get(flash.get("model"), k, int, f"{sz}: flash.model")
                  for k in ("weights", "code")}
    ram_total = r["data"] + r["bss"]
    if sum(r["model"].values()) + r["rest"] != ram_total:
        raise MeasureError(f"{sz}: ram model ({sum(r['model'].values())}) + rest "
                           f"({r['rest']}) != data + bss ({ram_total})")
    flash_total = f["text"] + f["rodata"] + f["data"]
    if sum(f["model"].values()) + f["rest"] != flash_total:
        raise MeasureError(f"{sz}: flash model ({sum(f['model'].values())}) + "
                           f"rest ({f['rest']}) != text + rodata + data "
                           f"({flash_total})")
    return r, f


def _instructions(counts, operators, n_trials, where):
    """Per-inference and per-operator instruction counts from the plugin's
    counts: per inference, the model's functions (operators, executor,
    workspace) over the trials; per operator, the executor's calls in the
    order they ran (the plugin's "sequence"): call k is the called operator
    k mod their number, whatever function symbol the compiler left for it
    (an aliasing reshape calls nothing and executes no instruction).
    A sequence that does not hold exactly one call per operator per trial is
    refused, naming the first operator whose calls differ.

    "details" (popped by the caller) holds what the cycle model needs: the
    model functions' summed detail ("model"), and per operator the detail of
    each of its calls, trial by trial ("calls")."""
    _check_schema(counts, "utoe.icount/3", where)
    funcs = _get(counts, "functions", dict, where)
    model_funcs = [name for name in funcs if name.startswith(MODEL_RUN_PREFIXES)]
    model = sum(_get(funcs[name], "instructions", int, f"{where}: functions.{name}") for name in model_funcs)
    seq = _get(counts, "sequence", list, where)
    if counts.get("sequence_complete") is not True:
        raise MeasureError(f"{where}: the plugin's call sequence is incomplete (it ran out of memory)")
    # an aliasing reshape ("function": null) is no call: it executes nothing
    called = [i for i, op in enumerate(operators) if op.get("function", "") is not None]
    n_ops = len(called)
    calls = [[] for _ in operators]
    call_details = [[] for _ in operators]
    entered = [set() for _ in operators]
    for k, entry in enumerate(seq):
        if (not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str)
                or isinstance(entry[1], bool) or not isinstance(entry[1], int) or entry[1] < 0
                or not isinstance(entry[2], dict)):
            raise MeasureError(f"{where}: sequence[{k}] must be [function, instructions, detail], "
                               f"not {entry!r:.120}")
        if n_ops:
            calls[called[k % n_ops]].append(entry[1])
            entered[called[k % n_ops]].add(entry[0])
            call_details[called[k % n_ops]].append(entry[2])
    for i, op in enumerate(operators):
        if i not in called:
            calls[i] = [0] * n_trials
        elif len(calls[i]) != n_trials:
            raise MeasureError(
                f"{where}: operator '{op['name']}' (#{i}) was called {len(calls[i])} times, but {n_trials} "
                f"trial(s) imply {n_trials} ({len(seq)} operator calls recorded for {n_ops} operators)")
        if len(entered[i]) > 1:
            raise MeasureError(
                f"{where}: operator '{op['name']}' (#{i}): its calls entered different functions "
                f"({', '.join(sorted(entered[i]))}); the call sequence does not follow the executor's order")
    per_op = [round(sum(c) / n_trials) for c in calls]
    total = {}
    for name in model_funcs:
        total = _add_detail(total, _get(funcs[name], "detail", dict, f"{where}: functions.{name}"))
    details = {"model": total, "calls": call_details}
    return {"kind": "emulated", "per_inference": round(model / n_trials),
            "total": _get(counts, "total", int, where), "operators": per_op, "details": details}


def _add_detail(a, b):
    """a + b for the plugin's nested count dicts."""
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict):
            out[k] = _add_detail(out.get(k) or {}, v)
        elif isinstance(v, int) and not isinstance(v, bool):
            out[k] = out.get(k, 0) + v
    return out


def _cycles(details, est, n_trials, where):
    """The cycle model (utoe.estimate) over a run's details: (per inference
    {"kind": "estimated", "per_inference", "compute", "flash_wait",
    "cache_miss"} (mean over the trials), [cycles of each trial],
    [per operator breakdown, mean over the trials]). A trial is its
    operators' calls plus an equal share of the executor's own work (what
    the model functions executed outside the calls)."""
    try:
        model = estimate.cycles(details["model"], est, f"{where}: model functions")
        per_call = [[estimate.cycles(d, est, f"{where}: operator #{i} call {t}") for t, d in enumerate(calls)]
                    for i, calls in enumerate(details["calls"])]
    except UtoeError as e:
        raise MeasureError(str(e)) from None
    rest = model["cycles"] - sum(c["cycles"] for calls in per_call for c in calls)  # the executor's own, all trials
    per_trial = [sum(calls[t]["cycles"] for calls in per_call if calls) + rest / n_trials for t in range(n_trials)]
    per_op = []
    for calls in per_call:
        part = {k: round(sum(c[k] for c in calls) / n_trials) for k in estimate.BREAKDOWN}
        per_op.append({"cycles": sum(part.values()), **part})
    mean = {k: round(model[k] / n_trials) for k in estimate.BREAKDOWN}
    return ({"kind": "estimated", "per_inference": sum(mean.values()), **mean}, per_trial, per_op)


def _outputs(run, metadata, md, lg):
    declared = _get(metadata, "outputs", list, md)
    got = run.outputs
    rows = []
    h = _FNV_OFFSET
    for i, decl in enumerate(declared):
        where = f"{md}: outputs[{i}]"
        if i not in got:
            raise MeasureError(f"{lg}: missing line 'utoe: output index={i} ...' "
                               f"({md} declares {len(declared)} outputs)")
        dtype, data = got[i]
        if dtype != _get(decl, "dtype", str, where):
            raise MeasureError(f"{lg}: 'utoe: output index={i} dtype={dtype}' "
                               f"but {where} has dtype {decl['dtype']}")
        if len(data) != _get(decl, "bytes", int, where):
            raise MeasureError(f"{lg}: 'utoe: output index={i}' carries "
                               f"{len(data)} bytes but {where} has "
                               f"{decl['bytes']}")
        for b in data:
            h = ((h ^ b) * _FNV_PRIME) & 0xFFFFFFFF
        rows.append({"index": i, "dtype": dtype, "bytes_hex": bytes(data).hex()})
    extra = sorted(set(got) - set(range(len(declared))))
    if extra:
        raise MeasureError(f"{lg}: unexpected line 'utoe: output index={extra[0]} "
                           f"...' ({md} declares {len(declared)} outputs)")
    if run.checksum is None:
        raise MeasureError(f"{lg}: missing line 'utoe: checksum fnv1a32=0x...'")
    if h != run.checksum:
        raise MeasureError(f"{lg}: 'utoe: checksum fnv1a32=0x{run.checksum:08x}' "
                           f"but the output lines hash to 0x{h:08x}")
    return rows
