"""compare=: this run's results against another run's (a build directory,
a report directory or a report.json), per board x model and per operator.

What counts as a change (`flagged`), by how the figure was taken:
- sizes (RAM, flash, an operator's memory and storage) and emulated counts
  (instructions; a latency estimated or emulated from them) are exact and
  repeatable: any difference is a change;
- a measured latency varies from run to run: it changed when this run's
  median lies outside the baseline's 95 % CI (an operator's measured
  latency, which has no CI, outside the baseline's [min, max]);
- validation against the reference (ok / failed / none) and fit (fits /
  does not fit) changed when they differ.
A flagged change that makes things worse (more bytes, slower, more
instructions, validation ok -> failed, fits -> does not fit) is a
regression; `fail_on=regression` turns one into a failed build.

Bad input is a CompareError naming the target and what is wrong with it:
missing, not a utoe report, another schema version, nothing in common with
this run."""

import os

from .errors import UtoeError
from .files import read_json
from .report import SCHEMA, ReportError, check_result, ran

METRICS = ("ram", "flash", "latency", "instructions")


class CompareError(UtoeError):
    """A compare= target that cannot be compared with."""


def key(r):
    """What makes two results the same evaluation: board, model, mode, runner."""
    return (r["board"], r["model"], r.get("mode", ""), r.get("runner", ""))


def label(k):
    board, model, mode, runner = k
    return f"{board}/{model} ({mode}, {runner})"


def find_report(target):
    """The report.json a compare= target names: the file itself, or
    <dir>/report.json, or <dir>/report/report.json (a build directory)."""
    target = os.fspath(target)
    if not os.path.exists(target):
        raise CompareError(f"compare={target}: no such file or directory")
    if os.path.isdir(target):
        for candidate in (os.path.join(target, "report", "report.json"), os.path.join(target, "report.json")):
            if os.path.isfile(candidate):
                return candidate
        raise CompareError(f"compare={target}: no report.json in it nor in its report/ (not a utoe build or "
                           f"report directory; 'scons build={target} ... report' writes one)")
    return target


def load_baseline(target):
    """The results of a compare= target, checked; CompareError otherwise."""
    path = find_report(target)
    try:
        doc = read_json(path, CompareError)
    except CompareError as e:
        raise CompareError(f"compare={e}") from None
    if not isinstance(doc, list) or not all(isinstance(r, dict) and "schema" in r for r in doc):
        raise CompareError(f"compare={path}: not a utoe report (a report.json is a list of utoe results)")
    for r in doc:
        schema = r["schema"]
        if schema != SCHEMA:
            if isinstance(schema, str) and schema.startswith("utoe.result/"):
                raise CompareError(f"compare={path}: results of schema '{schema}', this utoe reads '{SCHEMA}' "
                                   "(rebuild the baseline with this utoe)")
            raise CompareError(f"compare={path}: not a utoe report (schema {schema!r})")
        try:
            check_result(r, f"compare={path}: {r.get('board', '?')}/{r.get('model', '?')}")
        except ReportError as e:
            raise CompareError(str(e)) from None
    return doc


def check_overlap(keys, baseline, target):
    """At least one of this run's evaluations is in the baseline."""
    have = {key(r) for r in baseline}
    if not have & set(keys):
        theirs = ", ".join(label(k) for k in sorted(have)[:4]) + (", ..." if len(have) > 4 else "")
        raise CompareError(f"compare={target}: no evaluation in common with this run (it has: {theirs or 'none'}; "
                           "board, model, mode and runner must match)")


def check_target(target, keys, own_report):
    """What SConstruct asks before building: the compare= target is a
    report with evaluations in common with this run's `keys`, and not this
    run's own report (own_report: the report.json this run writes, which
    cannot be its own baseline). CompareError otherwise."""
    if os.path.realpath(find_report(target)) == os.path.realpath(own_report):
        raise CompareError(f"compare={target}: that is this run's own report; copy it first "
                           f"(cp {own_report} before.json; compare=before.json)")
    check_overlap(keys, load_baseline(target), target)


def compare(current, baseline):
    """Pairs of this run's results with the baseline's. A list of
    {"key", "label", "metrics": {name: change}, "validation", "fit",
    "operators": [...], "regression": bool, "improvement": bool}; a change
    is {"old", "new", "abs", "rel_pct", "flagged", "worse", "noise"}."""
    base = {key(r): r for r in baseline}
    out = []
    for r in current:
        old = base.get(key(r))
        if old is None:
            continue
        pair = {"key": list(key(r)), "label": label(key(r)), "metrics": {}, "operators": []}
        if ran(r) and ran(old):
            pair["metrics"] = _metrics(r, old)
            pair["operators"] = _operators(r, old)
        pair["validation"] = _state(_validation(old), _validation(r), bad=("failed",), good=("ok",))
        pair["fit"] = _state(_fits(old), _fits(r), bad=("does not fit",), good=("fits",))
        changes = list(pair["metrics"].values()) + [c for op in pair["operators"] for c in op["metrics"].values()]
        changes += [pair["validation"], pair["fit"]]
        pair["regression"] = any(c["flagged"] and c["worse"] for c in changes)
        pair["improvement"] = any(c["flagged"] and c.get("better") for c in changes)
        out.append(pair)
    return out


def regressions(pairs):
    """One line per regressed figure: 'native/lenet5 (...): flash 58.4 -> 60.1 KB (+2.9 %)'."""
    lines = []
    for p in pairs:
        for name, c in p["metrics"].items():
            if c["flagged"] and c["worse"]:
                lines.append(f"{p['label']}: {name} {describe(c)}")
        for op in p["operators"]:
            for name, c in op["metrics"].items():
                if c["flagged"] and c["worse"]:
                    lines.append(f"{p['label']}: operator {op['name']} {name} {describe(c)}")
        for name in ("validation", "fit"):
            c = p[name]
            if c["flagged"] and c["worse"]:
                lines.append(f"{p['label']}: {name} {c['old']} -> {c['new']}")
    return lines


def describe(c):
    if c["rel_pct"] is None:
        return f"{_n(c['old'])} -> {_n(c['new'])}"
    return f"{_n(c['old'])} -> {_n(c['new'])} ({c['abs']:+,.6g}, {pct(c['rel_pct'])})"


def pct(x):
    """A relative change as text: 2 decimals, or 2 significant digits when that would read 0.00."""
    return f"{x:+.2f} %" if x == 0 or abs(x) >= 0.01 else f"{x:+.2g} %"


def _n(x):
    return "-" if x is None else f"{x:,.6g}"


def _change(old, new, flagged_if_differs=True, noise=None):
    """noise: (lo, hi) of the baseline: inside it is no change."""
    if old is None or new is None:
        return {"old": old, "new": new, "abs": None, "rel_pct": None, "flagged": old != new and new is not None
                and old is not None, "worse": False, "better": False, "noise": noise}
    diff = new - old
    rel = 100.0 * diff / old if old else None
    if noise is not None:
        flagged = not (noise[0] <= new <= noise[1])
    else:
        flagged = flagged_if_differs and diff != 0
    return {"old": old, "new": new, "abs": diff, "rel_pct": rel, "flagged": flagged, "worse": flagged and diff > 0,
            "better": flagged and diff < 0, "noise": list(noise) if noise else None}


def _metrics(r, old):
    lat, olat = r["latency"], old["latency"]
    noise = tuple(olat["ci95"]) if lat["kind"] == "measured" and olat["kind"] == "measured" else None
    out = {"ram": _change(old["ram"]["total_bytes"], r["ram"]["total_bytes"]),
           "flash": _change(old["flash"]["total_bytes"], r["flash"]["total_bytes"]),
           "latency": _change(olat["median"], lat["median"], noise=noise)}
    out["latency"]["kind"] = lat["kind"]
    ins, oins = (r.get("instructions") or {}).get("per_inference"), (old.get("instructions") or {}).get("per_inference")
    if ins is not None or oins is not None:
        out["instructions"] = _change(oins, ins)
    return out


def _operators(r, old):
    base = {op["name"]: op for op in old["operators"]}
    measured = r["latency"]["kind"] == "measured"
    out = []
    for op in r["operators"]:
        o = base.pop(op["name"], None)
        if o is None:
            out.append({"name": op["name"], "status": "added", "metrics": {}})
            continue
        m = {"memory": _change(o["memory_bytes"], op["memory_bytes"]),
             "storage": _change(o["storage_bytes"], op["storage_bytes"])}
        lat, olat = op.get("latency") or {}, o.get("latency") or {}
        if lat.get("median_ms") is not None or olat.get("median_ms") is not None:
            noise = (olat.get("min_ms"), olat.get("max_ms")) if measured else None
            if noise and None in noise:
                noise = None
            m["latency"] = _change(olat.get("median_ms"), lat.get("median_ms"), noise=noise)
        if op.get("instructions") is not None or o.get("instructions") is not None:
            m["instructions"] = _change(o.get("instructions"), op.get("instructions"))
        out.append({"name": op["name"], "status": "both", "metrics": m})
    out += [{"name": name, "status": "removed", "metrics": {}} for name in base]
    return out


def _validation(r):
    v = r.get("validation")
    if not isinstance(v, dict):
        return "none"
    return "ok" if v.get("ok") else "failed"


def _fits(r):
    f = r.get("fit")
    if not isinstance(f, dict) or f.get("fits") is None:
        return "unknown" if ran(r) else "does not fit"
    return "fits" if f["fits"] else "does not fit"


def _state(old, new, bad, good):
    flagged = old != new
    return {"old": old, "new": new, "flagged": flagged, "worse": flagged and new in bad,
            "better": flagged and new in good}


COMPARE_HEADERS = ["Board", "Model", "Mode", "Memory (KB)", "Storage (KB)", "Latency (ms)", "Instructions",
                   "Validation", "Verdict"]


def compare_table(pairs, target, fmt="plain"):
    """The terminal's (and summary's) comparison: per board x model, each
    figure as 'new (change %)' with '*' on changes beyond the noise, then
    one line per regressed figure (operators included)."""
    from tabulate import tabulate

    rows = []
    for p in pairs:
        m = p["metrics"]
        board, model, mode, _ = p["key"]
        rows.append([board, model, mode, _cell(m.get("ram"), 1000), _cell(m.get("flash"), 1000),
                     _cell(m.get("latency"), 1), _cell(m.get("instructions"), 1),
                     _state_cell(p["validation"]), verdict(p)])
    table = tabulate(rows, headers=COMPARE_HEADERS, tablefmt=fmt, disable_numparse=True)
    lines = [f"compared with {target}: * a change beyond the noise (outside the baseline's 95 % CI for a "
             "measured latency; any change for sizes and emulated counts)", table]
    lines += [f"regression: {line}" for line in regressions(pairs)]
    return "\n".join(lines)


def verdict(p):
    if p["regression"]:
        return "regression"
    return "improvement" if p["improvement"] else "no change"


def _cell(c, scale):
    if c is None:
        return "-"
    if c["new"] is None:
        return "-"
    new = c["new"] / scale
    text = f"{new:,.6g}"
    if c["rel_pct"] is not None:
        text += f" ({pct(c['rel_pct'])})"
    return text + ("*" if c["flagged"] else "")


def _state_cell(c):
    return c["new"] if not c["flagged"] else f"{c['old']} -> {c['new']}*"
