"""The report as one self-contained HTML page: build/report/index.html.

Sections, each a plot (utoe.plots, inline SVG) with the table of its
figures under it:
- latency of every board x model: median, 95 % CI, kind (colour + label)
  (with board=all, per model in the selection's charts instead);
- RAM and flash against the board's capacity, the headroom shown;
- hardware selection (board=all): per model, boards ranked by latency, the
  ones the model does not fit greyed with the reason;
- per operator: latency (or instruction) share, memory and storage;
- comparison (compare=): the relative change per board x model, the
  changes beyond the noise in red, and per operator in the tables.

No network, no JavaScript: the page opens from the file. Only the fields
utoe.report.check_result guarantees are required; every other field is
read with .get, so fields a newer measure stage adds are ignored.

The per-operator plots cost ~50 ms each: with more than MAX_OPERATOR_PLOTS
results (board=all over many models), one is drawn per model, for its
fastest board; every result's operators are in operators.csv and
summary.md."""

import os

from . import plots
from .report import KIND_NOTES, _checked, _key, fmt_time, kb, ran

MAX_OPERATOR_PLOTS = 12


def page(results, selection=None, comparison=None, compare_target=None):
    """The HTML text. selection: {board: {"core", "clock_hz"}} for
    board=all; comparison: utoe.compare.compare()'s pairs."""
    import jinja2

    results = sorted(_checked(results), key=_key)
    done = [r for r in results if ran(r)]
    sections = []
    if done and not selection:  # board=all: the selection's charts, one per model, show the latency
        sections.append({"id": "latency", "title": "Latency", "plots": [_latency(done)],
                         "note": "The bar is the median over all trials, the whisker its 95 % confidence "
                                 "interval; the colour and the label say how the figure was taken."})
    if done:
        sections.append({"id": "memory", "title": "RAM and flash", "plots": [_memory(done)],
                         "note": "Dark: what the model needs; light: the board's capacity, the rest of it "
                                 "is the headroom (red: over capacity)."})
    if selection:
        sections.append({"id": "selection", "title": "Hardware selection", "plots": _selection(results, selection),
                         "note": "Boards ranked by latency (fastest first); the boards the model does not fit "
                                 "are grey, with what is short."})
    if done:
        shown = _operator_results(done)
        note = None if len(shown) == len(done) else (
            f"{len(done)} results: per-operator plots for each model's fastest board; every result's "
            "operators are in operators.csv and summary.md.")
        sections.append({"id": "operators", "title": "Per operator", "note": note,
                         "plots": [_operators(r, i) for i, r in enumerate(shown)]})
    if comparison is not None:
        sections.append({"id": "compare", "title": "Comparison", "plots": _compare(comparison),
                         "note": f"Against {compare_target}. Flagged (red): a change beyond the noise: outside "
                                 "the baseline's 95 % CI for a measured latency (an operator's: outside its "
                                 "[min, max]), any change for sizes and emulated counts."})
    runs = f"{len(results)} result{'s' if len(results) != 1 else ''}" + (
        f", {len(results) - len(done)} that do not fit" if len(done) != len(results) else "")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
                             autoescape=True, keep_trailing_newline=True)
    kinds = [("measured", "timed on the board or the host")] + [
        (k, KIND_NOTES[k].split(": ", 1)[1]) for k in ("emulated", "estimated")]
    return env.get_template("report/index.html.j2").render(sections=sections, runs=runs, kind_notes=kinds)


def write_html(results, out_dir, **kw):
    """Write out_dir/index.html atomically."""
    from .files import write_text

    write_text(os.path.join(os.fspath(out_dir), "index.html"), page(results, **kw))


# ---------------------------------------------------------------- sections

def _name(r):
    return f"{r['board']} / {r['model']}" + (f" ({r['mode']})" if r.get("mode") != "per-model" else "")


def _cells(*values):
    return {"cells": [{"text": v, "cls": "text"} if i < 2 or isinstance(v, str) and not v[:1].isdigit()
                      else {"text": v} for i, v in enumerate(values)]}


def _plot(pid, kind, svg, caption, headers, rows, title=None):
    return {"id": pid, "kind": kind, "svg": svg, "caption": caption, "title": title,
            "table": {"headers": headers, "rows": rows}}


def _latency(done):
    rows = [(_name(r), r["latency"]["median"], *r["latency"]["ci95"], r["latency"]["kind"]) for r in done]
    table = [_cells(r["board"], r["model"], fmt_time(r["latency"]["median"]), fmt_time(r["latency"]["mean"]),
                    "[{}, {}]".format(*map(fmt_time, r["latency"]["ci95"])), fmt_time(r["latency"]["min"]),
                    fmt_time(r["latency"]["max"]), r["latency"]["kind"],
                    f"{r['instructions']['per_inference']:,}" if (r.get("instructions") or {}).get(
                        "per_inference") is not None else "-",
                    *(_breakdown(r["cycles"]) if isinstance(r.get("cycles"), dict) else ["-"] * 4),
                    str(r.get("trials", "-")))
             for r in done]
    return _plot("plot-latency", "latency", plots.latency(rows), "Latency per inference (ms)",
                 ["Board", "Model", "Median (ms)", "Mean (ms)", "95-CI (ms)", "Min. (ms)", "Max. (ms)", "Kind",
                  "Instructions"] + BREAKDOWN_HEADERS + ["Trials"], table)


def _capacity(r, region):
    have = ((r.get("fit") or {}).get(region) or {}).get("have_bytes")
    if have is None:
        have = (r.get("board_memory") or {}).get(f"{region}_bytes")
    return have if isinstance(have, int) and have > 0 else None


def _memory(done):
    rows, table = [], []
    for r in done:
        ram, flash = r["ram"]["total_bytes"], r["flash"]["total_bytes"]
        rc, fc = _capacity(r, "ram"), _capacity(r, "flash")
        rows.append((_name(r), ram, rc, flash, fc))
        table.append(_cells(r["board"], r["model"], kb(ram), kb(rc) if rc else "-", _headroom(ram, rc),
                            kb(flash), kb(fc) if fc else "-", _headroom(flash, fc),
                            f"{r['ram']['kind']} / {r['flash']['kind']}"))
    return _plot("plot-memory", "memory", plots.memory(rows), "RAM and flash against the board's capacity (KB)",
                 ["Board", "Model", "RAM (KB)", "Board RAM (KB)", "RAM headroom", "Flash (KB)",
                  "Board flash (KB)", "Flash headroom", "Kind (RAM / flash)"], table)


def _headroom(used, cap):
    return f"{100 * (1 - used / cap):.1f} %" if cap else "-"


def _selection(results, boards_info):
    out = []
    for model in sorted({r["model"] for r in results}):
        rs = [r for r in results if r["model"] == model]
        ok = sorted(filter(ran, rs), key=lambda r: r["latency"]["median"])
        unfit = [r for r in rs if not ran(r)]
        rows, table = [], []
        for rank, r in enumerate(ok, 1):
            info = boards_info.get(r["board"], {})
            rows.append((r["board"], r["latency"]["median"], r["latency"]["kind"], None, *r["latency"]["ci95"]))
            table.append(_cells(str(rank), r["board"], info.get("core", "-"), _mhz(info.get("clock_hz")),
                                fmt_time(r["latency"]["median"]),
                                "[{}, {}]".format(*map(fmt_time, r["latency"]["ci95"])), r["latency"]["kind"],
                                kb(r["ram"]["total_bytes"]), kb(r["flash"]["total_bytes"]), "yes"))
        for r in unfit:
            info, reason = boards_info.get(r["board"], {}), _reason(r)
            rows.append((r["board"], None, None, reason, None, None))
            row = _cells("-", r["board"], info.get("core", "-"), _mhz(info.get("clock_hz")), "-", "-", "-", "-", "-",
                         f"no: {reason}")
            row["cls"] = "unfit"
            table.append(row)
        out.append(_plot(f"plot-selection-{_slug(model)}", "selection", plots.selection(rows, salt=f"sel-{model}"),
                         f"{model}: boards ranked by latency; grey: does not fit", [
                             "Rank", "Board", "Core", "Clock (MHz)", "Latency (ms)", "95-CI (ms)", "Kind", "Memory (KB)",
                             "Storage (KB)", "Fits"], table, title=model))
    return out


def _reason(r):
    f = r.get("fit") or {}
    short = [f"{name} short {kb(f[region]['need_bytes'] - f[region]['have_bytes'])} KB"
             for region, name in (("ram", "RAM"), ("flash", "flash"))
             if isinstance(f.get(region), dict) and isinstance(f[region].get("need_bytes"), int)
             and isinstance(f[region].get("have_bytes"), int) and f[region]["need_bytes"] > f[region]["have_bytes"]]
    return ", ".join(short) or str(f.get("message") or r.get("status", "does not fit"))


def _mhz(hz):
    return f"{hz / 1e6:g}" if hz else "-"


def _operator_results(done):
    if len(done) <= MAX_OPERATOR_PLOTS:
        return done
    best = {}
    for r in sorted(done, key=lambda r: r["latency"]["median"]):
        best.setdefault(r["model"], r)
    return [best[m] for m in sorted(best)]


def _operators(r, i):
    ops = list(r["operators"])
    timed = any(op.get("latency") and op.get("share_pct") is not None for op in ops)
    total_ins = sum(op.get("instructions") or 0 for op in ops)
    cycles = bool(ops) and all(isinstance(op.get("cycles"), dict) and isinstance(op["cycles"].get("cycles"), int)
                               and all(isinstance(op["cycles"].get(k), int) for k, _, _ in CAUSES) for op in ops)
    if timed:
        share = {op["name"]: op.get("share_pct") or 0.0 for op in ops}
        label = f"latency share (%), {r['latency']['kind']}" + (": compute, flash wait, cache misses" if cycles
                                                                 else "")
    elif total_ins:
        share = {op["name"]: 100.0 * (op.get("instructions") or 0) / total_ins for op in ops}
        label = "instruction share (%), emulated"
    else:
        share, label = None, "share"
    if share is not None:
        ops.sort(key=lambda op: -share[op["name"]])
    names = [op["name"] for op in ops]
    parts = None
    if cycles and timed:  # the estimate's cycles by cause (utoe.estimate)
        parts = [(name, [op["cycles"][key] / op["cycles"]["cycles"] if op["cycles"]["cycles"] else 0.0 for op in ops],
                  colour) for key, name, colour in CAUSES]
    svg = plots.operators(names, [share[n] for n in names] if share else None, label,
                          [op["memory_bytes"] / 1000 for op in ops], [op["storage_bytes"] / 1000 for op in ops],
                          salt=f"ops-{i}", parts=parts)
    table = []
    for op in ops:
        lat = op.get("latency") or {}
        table.append(_cells(op["name"], ", ".join(op["params"]) or "-",
                            fmt_time(lat["median_ms"] * 1000) if isinstance(lat.get("median_ms"), (int, float))
                            else "-", f"{share[op['name']]:.2f}" if share else "-",
                            f"{op['instructions']:,}" if isinstance(op.get("instructions"), int) else "-",
                            *(_breakdown(op["cycles"]) if cycles else ()),
                            kb(op["memory_bytes"]), kb(op["storage_bytes"]), str(op.get("library") or "-")))
    return _plot(f"plot-operators-{i}", "operators", svg, f"{_name(r)}: {label}, memory and storage per operator",
                 ["Operator", "Params", "Latency (us)", "Share (%)", "Instructions"]
                 + (BREAKDOWN_HEADERS if cycles else []) + ["Memory (KB)", "Storage (KB)", "Kernels"],
                 table, title=_name(r))


# An estimate's cycles by cause (result.json "cycles", utoe.estimate): key, legend, colour.
CAUSES = (("compute", "compute", "#4c72b0"), ("flash_wait", "flash wait states", "#dd8452"),
          ("cache_miss", "cache misses", "#c44e52"))
BREAKDOWN_HEADERS = ["Cycles (estimated)", "Compute (%)", "Flash wait (%)", "Cache misses (%)"]


def _breakdown(c):
    """Table cells of a cycles breakdown: the total, then each cause's share
    ("-" for what is missing or malformed: a result from another version)."""
    total = c.get("cycles") or c.get("per_inference")
    if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
        return ["-"] * (1 + len(CAUSES))
    return [f"{total:,}"] + [f"{100 * c[k] / total:.1f}" if isinstance(c.get(k), (int, float)) else "-"
                             for k, _, _ in CAUSES]


def _compare(pairs):
    from .compare import verdict

    metrics = ("ram", "flash", "latency")
    labels = [p["label"] for p in pairs]
    series = {m: [((p["metrics"].get(m) or {}).get("rel_pct"), (p["metrics"].get(m) or {}).get("flagged", False))
                  for p in pairs] for m in metrics}
    table = []
    for p in pairs:
        cells = [p["key"][0], p["key"][1]] + [_delta(p["metrics"].get(m)) for m in metrics + ("instructions",)]
        v = p["validation"]
        cells += [f"{v['old']} -> {v['new']}" if v["flagged"] else v["new"], verdict(p)]
        row = _cells(*[c["text"] if isinstance(c, dict) else c for c in cells])
        for cell, c in zip(row["cells"], cells):
            if isinstance(c, dict) and c.get("flagged"):
                cell["cls"] = "flagged"
        row["cells"][-1]["cls"] = f"text verdict-{verdict(p).replace(' ', '-')}"
        table.append(row)
    out = [_plot("plot-compare", "compare", plots.changes(labels, series), "Relative change against the baseline "
                 "(%); red: beyond the noise", ["Board", "Model", "RAM", "Flash", "Latency", "Instructions",
                                                "Validation", "Verdict"], table)]
    op_rows = []
    for p in pairs:
        for op in p["operators"]:
            changed = {k: c for k, c in op["metrics"].items() if c["flagged"]}
            if op["status"] != "both" or changed:
                for name, c in (changed.items() if changed else [(op["status"], None)]):
                    op_rows.append(_cells(p["label"], op["name"], name,
                                          _delta(c)["text"] if c else op["status"]))
                    if c:
                        op_rows[-1]["cells"][-1]["cls"] = "flagged"
    if op_rows:
        out.append(_plot("compare-operators", "table", "", "", ["Board / model", "Operator", "Figure", "Change"],
                         op_rows, title="Operators that changed beyond the noise"))
    return out


def _delta(c):
    from .compare import pct

    if not c or c.get("new") is None:
        return {"text": "-", "flagged": False}
    text = f"{c['old']:,.6g} -> {c['new']:,.6g}"
    if c.get("rel_pct") is not None:
        text += f" ({pct(c['rel_pct'])})"
    return {"text": text, "flagged": c["flagged"]}


def _slug(s):
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in s)
