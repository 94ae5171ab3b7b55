"""Report stage: result.json files ("utoe.result/1") in, U-TOE's tables out.

- `model_table` is U-TOE's per-model table (Board, Memory (KB), Storage (KB),
  95-CI (ms), Mean, Median, Min., Max.), plus the model and the latency's
  kind, so an emulated or estimated figure is never shown as a measured one.
  Memory/storage figures that are not measured carry a marker explained in a
  footnote below the table.
- `operator_table` is U-TOE's per-operator table (op, latency us, latency %,
  params, memory KB, storage KB).
- `write_report` writes report.json, results.csv, operators.csv and
  summary.md into a directory, each atomically.

KB are 1000 bytes, as in U-TOE (its 11.288 KB of RAM are 11288 bytes); KB, ms
and us are shown with 3 decimals without trailing zeros, as U-TOE printed
them (latencies below 1 with three significant digits instead, so that host
runs of small models do not read 0.058 for everything), shares in % with 2
decimals. The CSV files and report.json carry the unrounded figures.
"""

import csv
import io
import math

from tabulate import tabulate

from .errors import UtoeError
from .files import read_json, write_json, write_text

SCHEMA = "utoe.result/1"

# Markers for figures that are not measured, and what they mean.
MARKERS = {"emulated": "\u2020", "estimated": "\u2021"}  # dagger, double dagger
KIND_NOTES = {
    "emulated": "emulated: exact instruction counts from an emulator, "
                "not a measurement on hardware",
    "estimated": "estimated: computed from a model (the board's cycles for the executed "
                 "instructions, flash wait states and cache misses, over its clock), not measured",
}

MODEL_HEADERS = ["Board", "Model", "Memory (KB)", "Storage (KB)", "95-CI (ms)",
                 "Mean (ms)", "Median (ms)", "Min. (ms)", "Max. (ms)",
                 "Latency kind"]
OPERATOR_HEADERS = ["op", "latency us", "latency %", "params", "memory KB",
                    "storage KB"]

RESULTS_CSV_COLUMNS = [
    "board", "model", "runner", "mode", "trials", "seed", "source_sha256",
    "latency_kind", "latency_mean_ms", "latency_median_ms", "latency_min_ms",
    "latency_max_ms", "latency_ci95_lo_ms", "latency_ci95_hi_ms",
    "ram_kind", "ram_total_bytes", "ram_static_bytes", "stack_peak_bytes",
    "flash_kind", "flash_total_bytes", "memory_kb", "storage_kb", "checksum",
    "instructions_per_inference", "status", "fits", "board_ram_bytes", "board_flash_bytes",
]
OPERATORS_CSV_COLUMNS = [
    "board", "model", "runner", "mode", "index", "name", "params",
    "param_bytes", "memory_bytes", "storage_bytes", "latency_kind",
    "latency_median_ms", "latency_mean_ms", "latency_min_ms",
    "latency_max_ms", "share_pct", "instructions", "macs", "instructions_per_mac", "kernels",
]


class ReportError(UtoeError):
    """A result file that cannot be reported (missing, not a result, clash)."""


def load_results(paths):
    """Read result.json files, in the order given; raise ReportError naming
    the file that is missing or not a "utoe.result/1" document."""
    results = []
    for path in paths:
        doc = read_json(path, ReportError)
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            got = doc.get("schema") if isinstance(doc, dict) else None
            raise ReportError(f"{path}: schema {got!r}, expected '{SCHEMA}'")
        check_result(doc, path)
        results.append(doc)
    return results


_NUM = (int, float)
# what the tables and files read from a result, by kind: {field: type(s)}
_RAN_FIELDS = {"board": str, "model": str, "mode": str, "latency": dict, "ram": dict, "flash": dict,
               "operators": list}
_LATENCY_FIELDS = {"kind": str, "mean": _NUM, "median": _NUM, "min": _NUM, "max": _NUM, "ci95": list}
_SIZE_FIELDS = {"kind": str, "total_bytes": int}
_OPERATOR_FIELDS = {"index": int, "name": str, "params": list, "param_bytes": int, "memory_bytes": int,
                    "storage_bytes": int}


def _fields(doc, spec, where):
    for key, kind in spec.items():
        if key not in doc:
            raise ReportError(f"{where}: missing '{key}'")
        v = doc[key]
        if not isinstance(v, kind) or isinstance(v, bool):
            name = kind.__name__ if isinstance(kind, type) else "a number"
            raise ReportError(f"{where}: '{key}' is {type(v).__name__} {v!r:.40}, expected {name}")


def check_result(doc, where):
    """The fields of a result the report reads are there with their types;
    else a ReportError naming `where` (the file, or the result) and the
    field. A result from a run that did not fit needs only board, model, fit."""
    if not isinstance(doc, dict):
        raise ReportError(f"{where}: a result is a JSON object, not {type(doc).__name__}")
    if not ran(doc):
        _fields(doc, {"board": str, "model": str}, where)
        if "fit" not in doc or not isinstance(doc["fit"], (dict, type(None))):
            raise ReportError(f"{where}: missing 'fit'")
        return
    _fields(doc, _RAN_FIELDS, where)
    _fields(doc["latency"], _LATENCY_FIELDS, f"{where}: latency")
    ci = doc["latency"]["ci95"]
    if len(ci) != 2 or not all(isinstance(x, _NUM) and not isinstance(x, bool) for x in ci):
        raise ReportError(f"{where}: latency: 'ci95' is {ci!r:.60}, expected [low, high]")
    _fields(doc["ram"], _SIZE_FIELDS, f"{where}: ram")
    _fields(doc["flash"], _SIZE_FIELDS, f"{where}: flash")
    for i, op in enumerate(doc["operators"]):
        if not isinstance(op, dict):
            raise ReportError(f"{where}: operators[{i}] is {type(op).__name__}, expected an object")
        _fields(op, _OPERATOR_FIELDS, f"{where}: operators[{i}]")
        lat = op.get("latency")
        if lat is not None and not (isinstance(lat, dict) and isinstance(lat.get("median_ms"), _NUM)):
            raise ReportError(f"{where}: operators[{i}]: 'latency' has no number 'median_ms'")


def _checked(results):
    """Results handed to a table or writer directly (not by load_results)."""
    if isinstance(results, (dict, str, bytes)) or not hasattr(results, "__iter__"):
        raise ReportError(f"expected a list of results, not {type(results).__name__}")
    results = list(results)
    for r in results:
        board = r.get("board", "?") if isinstance(r, dict) else "?"
        model = r.get("model", "?") if isinstance(r, dict) else "?"
        check_result(r, f"result {board}/{model}")
    return results


def ran(result):
    """Whether the result has figures (a model that does not fit has none)."""
    return result.get("status", "ok") == "ok"


def kb(nbytes):
    """Bytes to U-TOE's KB (1000 bytes) as shown in its tables."""
    return fmt3(nbytes / 1000)


def fmt3(x):
    """3 decimals, trailing zeros dropped (one kept): 11.080 -> '11.08'."""
    return _strip(f"{x:.3f}")


def fmt_time(x):
    """A latency (ms or us) as U-TOE showed it, 3 decimals; below 1, three
    significant digits instead, so a 58 us model on the host reads 0.0583 ms
    rather than 0.058."""
    if x == 0 or abs(x) >= 1 or not math.isfinite(x):
        return fmt3(x)
    decimals = max(3, 2 - math.floor(math.log10(abs(x))))
    return _strip(f"{x:.{decimals}f}")


def _strip(s):
    s = s.rstrip("0")
    return s + "0" if s.endswith(".") else s


def model_table(results, fmt="plain"):
    """U-TOE's per-model table, one row per result in the order given, with a
    footnote for every non-measured kind shown. `fmt` is a tabulate format
    ("plain" for the terminal as U-TOE printed it, "github" for Markdown)."""
    results = _checked(results)
    rows, kinds, marked = [], set(), set()
    unfit = [r for r in results if not ran(r)]
    for r in filter(ran, results):
        lat = r["latency"]
        mem = kb(r["ram"]["total_bytes"]) + _marker(r["ram"]["kind"], marked)
        sto = kb(r["flash"]["total_bytes"]) + _marker(r["flash"]["kind"], marked)
        lo, hi = lat["ci95"]
        kinds.add(lat["kind"])
        rows.append([r["board"], r["model"], mem, sto,
                     f"[{fmt_time(lo)}, {fmt_time(hi)}]", fmt_time(lat["mean"]),
                     fmt_time(lat["median"]), fmt_time(lat["min"]),
                     fmt_time(lat["max"]), lat["kind"]])
    table = tabulate(rows, headers=MODEL_HEADERS, tablefmt=fmt,
                     disable_numparse=True,
                     colalign=("left", "left") + ("right",) * 7 + ("left",))
    sep = "\n\n" if fmt == "github" else "\n"
    return table + _footnotes(kinds | marked, marked, fmt) + "".join(
        f"{sep}{r['board']}: {r['fit']['message']}" for r in unfit)


SELECTION_HEADERS = ["Rank", "Board", "Core", "Clock (MHz)", "Latency (ms)", "Instructions",
                     "Memory (KB)", "Board RAM (KB)", "RAM headroom", "Storage (KB)",
                     "Board flash (KB)", "Flash headroom", "Fits"]


def selection_table(results, boards_info, fmt="plain"):
    """Hardware selection: each model on many boards, ranked by estimated
    latency (fastest first), then the boards it does not fit; with several
    models, one ranking per model, each under the model's name.
    boards_info: {board name: {"core", "clock_hz"}}."""
    results = _checked(results)
    models = list(dict.fromkeys(r["model"] for r in results))
    sep = "\n\n" if fmt == "github" else "\n"
    tables, kinds = [], set()
    for model in models:
        table, k = _selection_rows([r for r in results if r["model"] == model], boards_info, fmt)
        tables.append(table if len(models) == 1 else f"{model}:{sep}{table}")
        kinds |= k
    notes = [f"{MARKERS[k]} {KIND_NOTES[k]}" for k in ("emulated", "estimated") if k in kinds]
    notes.append("Memory = data + bss + peak stack; a board the model does not fit shows the need that "
                 "failed (at least this much) and no latency")
    notes += _firmware_notes(results)
    return "\n\n".join(tables) + "".join(sep + n for n in notes)


def _selection_rows(results, boards_info, fmt):
    """One model's ranking: (table, the latency kinds in it)."""
    ok = sorted(filter(ran, results), key=lambda r: r["latency"]["median"])
    rows, kinds = [], set()
    for rank, r in enumerate(ok, 1):
        info, f = boards_info.get(r["board"], {}), r.get("fit") or {}
        kinds.add(r["latency"]["kind"])
        ram, flash = f.get("ram", {}), f.get("flash", {})
        rows.append([rank, r["board"], info.get("core", "-"), _mhz(info.get("clock_hz")),
                     fmt_time(r["latency"]["median"]) + _marker(r["latency"]["kind"], set()),
                     f"{r['instructions']['per_inference']:,}" if r.get("instructions") else "-",
                     kb(r["ram"]["total_bytes"]), _kb_or_dash(ram.get("have_bytes")),
                     _pct(ram.get("headroom_pct")), kb(r["flash"]["total_bytes"]),
                     _kb_or_dash(flash.get("have_bytes")), _pct(flash.get("headroom_pct")),
                     "yes" if f.get("fits") else ("no" if f else "-")])
    for r in results:
        if ran(r):
            continue
        info, f = boards_info.get(r["board"], {}), r["fit"]
        ram, flash = f.get("ram", {}), f.get("flash", {})
        rows.append(["-", r["board"], info.get("core", "-"), _mhz(info.get("clock_hz")), "-", "-",
                     _kb_or_dash(ram.get("need_bytes")), _kb_or_dash(ram.get("have_bytes")),
                     _short(ram), _kb_or_dash(flash.get("need_bytes")), _kb_or_dash(flash.get("have_bytes")),
                     _short(flash), "no"])
    return tabulate(rows, headers=SELECTION_HEADERS, tablefmt=fmt, disable_numparse=True), kinds


def _firmware_notes(results):
    """Which firmware each figure is from, when RIOT's is among them
    (os=riot, result.json 'firmware'): sizes of RIOT's firmware (its thread
    stacks in .bss), instructions of the RIOT firmware run on QEMU's
    emulation of the board's chip, or of the bare-metal build on a stand-in."""
    fw = {r["board"]: r.get("firmware") or {} for r in results}
    riot = sorted(b for b, f in fw.items() if f.get("os") == "riot")
    if not riot:
        return []
    notes = [f"Memory and storage of RIOT's firmware (os=riot; its stacks are in .bss) on: {', '.join(riot)}"]
    bare = sorted(b for b, f in fw.items() if f and f.get("os") != "riot")
    if bare:
        notes.append(f"bare-metal firmware on: {', '.join(bare)}")
    on_chip = sorted(b for b in riot if (fw[b].get("run") or {}).get("os") == "riot")
    if on_chip:
        notes.append("Instructions of RIOT's firmware itself, run on QEMU's emulation of the board's chip, on: "
                     + ", ".join(on_chip) + "; of the bare-metal build on a stand-in elsewhere")
    return notes


def _mhz(hz):
    return fmt3(hz / 1e6) if hz else "-"


def _kb_or_dash(n):
    return kb(n) if n is not None else "-"


def _pct(p):
    return f"{p:.1f} %" if p is not None else "-"


def _short(region):
    if region.get("need_bytes") is not None and region.get("have_bytes") is not None:
        return f"short {kb(region['need_bytes'] - region['have_bytes'])} KB"
    return "-"


def _waits(c):
    """An operator's estimated cycles spent waiting on memory (flash wait
    states and cache misses), in percent."""
    return f"{100 * (c['flash_wait'] + c['cache_miss']) / c['cycles']:.1f}" if c.get("cycles") else "-"


def _per_mac(x):
    return f"{x:.2f}" if x is not None else "-"


def operator_table(result, fmt="plain"):
    """U-TOE's per-operator table of one result. In a per-model run the
    latency columns show '-' (no per-operator timing was taken)."""
    _checked([result])
    rows = []
    counted = result.get("instructions") is not None
    cycles = counted and all(isinstance(op.get("cycles"), dict) for op in result["operators"])
    for op in result["operators"]:
        lat, share = op.get("latency"), op.get("share_pct")
        rows.append([
            op["name"],
            fmt_time(lat["median_ms"] * 1000) if lat else "-",
            f"{share:.2f}" if share is not None else "-",
            ", ".join(op["params"]),
            kb(op["memory_bytes"]),
            kb(op["storage_bytes"]),
        ] + ([f"{op['instructions']:,}", _per_mac(op.get("instructions_per_mac"))] if counted else [])
            + ([f"{op['cycles']['cycles']:,}", _waits(op["cycles"])] if cycles else [])
            + [op.get("library") or "-"])
    # the last column: which kernel library computed the operator (tvm: utoe's own; cmsis-nn)
    table = tabulate(rows, headers=OPERATOR_HEADERS + (["instructions", "instr/MAC"] if counted else [])
                     + (["cycles", "memory wait %"] if cycles else []) + ["kernels"],
                     tablefmt=fmt, disable_numparse=True,
                     colalign=("left", "right", "right", "left", "right", "right")
                     + (("right", "right") if counted else ()) + (("right", "right") if cycles else ()) + ("left",))
    kind = result["latency"]["kind"]
    notes = []
    c = result.get("cycles")
    if cycles and isinstance(c, dict) and c.get("per_inference"):
        n = c["per_inference"]
        notes.append(f"estimated cycles per inference: {n:,} = compute {100 * c['compute'] / n:.1f} % + flash wait "
                     f"states {100 * c['flash_wait'] / n:.1f} % + cache misses {100 * c['cache_miss'] / n:.1f} % "
                     "(memory wait % per operator: flash wait states and cache misses)")
    if all(op.get("latency") is None for op in result["operators"]):
        notes.append("per-model run: no per-operator latency")
    elif kind != "measured":
        notes.append(f"latency {KIND_NOTES[kind]}")
    sep = "\n\n" if fmt == "github" else "\n"
    return table + "".join(sep + n for n in notes)


def write_report(results, out_dir):
    """Write report.json, results.csv, operators.csv and summary.md into
    out_dir (each atomically); results are ordered by board, model, mode,
    runner. Two results with the same board, model, mode and runner are an
    error."""
    results = _checked(results)
    results = sorted(results, key=_key)
    unfit = [r for r in results if not ran(r)]
    results = [r for r in results if ran(r)]
    for a, b in zip(results, results[1:]):
        if _key(a) == _key(b):
            raise ReportError("two results for board {}, model {}, mode {}, "
                              "runner {}".format(*_key(a)))
    out = str(out_dir)
    write_json(f"{out}/report.json", results + unfit)
    write_text(f"{out}/results.csv",
               _csv(RESULTS_CSV_COLUMNS, [_model_row(r) for r in results + unfit]))
    write_text(f"{out}/operators.csv",
               _csv(OPERATORS_CSV_COLUMNS,
                    [row for r in results for row in _operator_rows(r)]))
    write_text(f"{out}/summary.md", summary_markdown(results + unfit))


def summary_markdown(results):
    """summary.md: the per-model table, then one per-operator table per
    result, in Markdown."""
    results = _checked(results)
    parts = ["# utoe results", "",
             "Memory = RAM (data + bss + peak stack), Storage = flash "
             "(text + rodata + data), KB = 1000 bytes; latency over all "
             "trials.", "", "## Per model", "",
             model_table(results, fmt="github"), ""]
    for r in filter(ran, results):
        parts += [f"## Per operator: {r['model']} on {r['board']} "
                  f"({r['mode']}, {r.get('runner', '?')})", "",
                  operator_table(r, fmt="github"), ""]
    return "\n".join(parts)


# ---------------------------------------------------------------- helpers

def _key(r):
    return (r["board"], r["model"], r["mode"], r.get("runner", ""))


def _marker(kind, marked):
    if kind == "measured":
        return ""
    marked.add(kind)
    return MARKERS[kind]


def _footnotes(kinds, marked, fmt):
    """One line per non-measured kind shown; with its marker if a cell
    carries it."""
    sep = "\n\n" if fmt == "github" else "\n"
    return "".join(
        sep + (f"{MARKERS[k]} " if k in marked else "") + KIND_NOTES[k]
        for k in ("emulated", "estimated") if k in kinds)


def _model_row(r):
    f = r.get("fit") or {}
    tail = [r.get("status", "ok"), f.get("fits"), f.get("ram", {}).get("have_bytes"),
            f.get("flash", {}).get("have_bytes")]
    if not ran(r):
        return [r["board"], r["model"], r.get("runner"), r.get("mode"), r.get("trials"), r.get("seed")] + [
            None] * (len(RESULTS_CSV_COLUMNS) - 6 - len(tail)) + tail
    lat, ram, flash = r["latency"], r["ram"], r["flash"]
    return [r["board"], r["model"], r.get("runner"), r["mode"], r.get("trials"),
            r.get("seed"), r.get("source", {}).get("sha256"),
            lat["kind"], lat["mean"], lat["median"], lat["min"], lat["max"],
            lat["ci95"][0], lat["ci95"][1],
            ram["kind"], ram["total_bytes"], ram.get("static_bytes"),
            ram.get("stack_peak_bytes"), flash["kind"], flash["total_bytes"],
            ram["total_bytes"] / 1000, flash["total_bytes"] / 1000,
            r.get("checksum"), (r.get("instructions") or {}).get("per_inference")] + tail


def _operator_rows(r):
    for op in r["operators"]:
        lat = op.get("latency") or {}
        yield [r["board"], r["model"], r.get("runner"), r["mode"], op["index"],
               op["name"], " ".join(op["params"]), op["param_bytes"],
               op["memory_bytes"], op["storage_bytes"], r["latency"]["kind"],
               lat.get("median_ms"), lat.get("mean_ms"), lat.get("min_ms"),
               lat.get("max_ms"), op.get("share_pct"), op.get("instructions"), op.get("macs"),
               op.get("instructions_per_mac"), op.get("library")]


def _csv(columns, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()
