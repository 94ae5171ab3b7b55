"""SCons tool: the report stage. Collects the result.json files of this
invocation into build/report/ (report.json, results.csv, operators.csv,
summary.md, index.html; compare.json with compare=) and prints U-TOE's
tables on the terminal, then the comparison; fail_on=regression makes a
regression a failed build (exit status 2, one line per regressed figure)."""

import json
import os

from SCons.Script import AlwaysBuild, Builder
from utoe_scons import module_files, utoe_action

from utoe import compare, progress, report, report_html
from utoe.errors import UtoeError
from utoe.files import remove, write_json

OUTPUTS = ("report.json", "results.csv", "operators.csv", "summary.md", "index.html")
TEMPLATE = os.path.join(os.path.dirname(report.__file__), "templates", "report", "index.html.j2")


class Regression(UtoeError):
    """compare= found a regression and fail_on=regression."""


def _outputs(env):
    return OUTPUTS + (("compare.json",) if env.get("UTOE_COMPARE") else ())


def _emitter(target, source, env):
    out_dir = env.Dir(env["UTOE_REPORT_DIR"])
    extra = [env.File(f) for f in module_files("report", "report_html", "plots", "compare")] + [env.File(TEMPLATE)]
    if env.get("UTOE_COMPARE"):  # the baseline's report.json: a new baseline redoes the comparison
        extra.append(env.File(compare.find_report(env["UTOE_COMPARE"])))
    return [out_dir.File(f) for f in _outputs(env)], source + extra


def _results(source):
    return report.load_results([str(s) for s in source if s.name == "result.json"])


def _comparison(env, results):
    if not env.get("UTOE_COMPARE"):
        return None
    return compare.compare(results, compare.load_baseline(env["UTOE_COMPARE"]))


def _build(target, source, env):
    results = _results(source)
    out = os.path.dirname(str(target[0]))
    report.write_report(results, out)
    pairs = _comparison(env, results)
    selection = json.loads(env["UTOE_SELECTION_JSON"]) if env.get("UTOE_SELECTION_JSON") else None
    report_html.write_html(results, out, selection=selection, comparison=pairs, compare_target=env.get("UTOE_COMPARE"))
    if pairs is None:
        remove(os.path.join(out, "compare.json"))  # an earlier run's comparison is not this one's
    else:
        write_json(os.path.join(out, "compare.json"), {"baseline": env["UTOE_COMPARE"], "pairs": pairs,
                                                       "regressions": compare.regressions(pairs)})


def _show(target, source, env):
    progress.close()  # the live progress line ends before the tables
    results = _results(source)
    written = f"\nwritten: {env.Dir(env['UTOE_REPORT_DIR']).path}/{{{','.join(_outputs(env))}}}"
    if env.get("UTOE_SELECTION"):
        print(report.selection_table(results, env["UTOE_SELECTION"]))
    else:
        print(report.model_table(results))
        if env["UTOE_MODE"] == "per-operator" or len(results) == 1:
            for r in results:
                print()
                print(f"{r['board']} / {r['model']}:")
                print(report.operator_table(r))
    pairs = _comparison(env, results)
    if pairs is not None:
        print()
        print(compare.compare_table(pairs, env["UTOE_COMPARE"]))
    print(written)
    if pairs is not None and env.get("UTOE_FAIL_ON") == "regression":
        lines = compare.regressions(pairs)
        if lines:
            raise Regression(f"fail_on=regression: {len(lines)} regression(s) against {env['UTOE_COMPARE']}: "
                             + "; ".join(lines))


def _screenshot(target, source, env):
    from utoe import screenshot

    screenshot.screenshot(str(source[0]), str(target[0]))


def report_targets(env, results, **kw):
    """The report files, the always-run `report` alias that shows them, and
    `screenshot`: the page in headless chromium, build/report/screenshot.png
    (asked for by name: it needs chromium)."""
    files = env.UtoeReportFiles(target=[], source=results, **kw)
    show = env.Clone(**kw).Alias("report", files + results, utoe_action(_show, None))
    AlwaysBuild(show)
    html = [f for f in files if f.name == "index.html"]
    png = env.Command(html[0].dir.File("screenshot.png"), html + [env.File(f) for f in module_files("screenshot")],
                      utoe_action(_screenshot, "browser"), UTOE_LABEL=html[0].dir.File("screenshot.png").path)
    env.Alias("screenshot", png)
    return files


def generate(env):
    env["BUILDERS"]["UtoeReportFiles"] = Builder(
        action=utoe_action(_build, "report", ["UTOE_COMPARE", "UTOE_SELECTION_JSON"]), emitter=_emitter)
    env.AddMethod(report_targets, "UtoeReport")


def exists(env):
    return True
