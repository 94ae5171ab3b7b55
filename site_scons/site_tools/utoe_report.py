"""SCons tool: the report stage. Collects the result.json files of this
invocation into build/report/ (report.json, results.csv, operators.csv,
summary.md) and prints U-TOE's tables on the terminal."""

import os

from SCons.Script import AlwaysBuild, Builder
from utoe_scons import module_files, utoe_action

from utoe import report

OUTPUTS = ("report.json", "results.csv", "operators.csv", "summary.md")


def _emitter(target, source, env):
    out_dir = env.Dir(env["UTOE_REPORT_DIR"])
    return [out_dir.File(f) for f in OUTPUTS], source + [env.File(f) for f in module_files("report")]


def _build(target, source, env):
    results = [str(s) for s in source if str(s).endswith("result.json")]
    report.write_report(report.load_results(results), os.path.dirname(str(target[0])))


def _show(target, source, env):
    results = report.load_results([str(s) for s in source if str(s).endswith("result.json")])
    if env.get("UTOE_SELECTION"):
        print(report.selection_table(results, env["UTOE_SELECTION"]))
        print(f"\nwritten: {env.Dir(env['UTOE_REPORT_DIR']).path}/{{{','.join(OUTPUTS)}}}")
        return
    print(report.model_table(results))
    if env["UTOE_MODE"] == "per-operator" or len(results) == 1:
        for r in results:
            print()
            print(f"{r['board']} / {r['model']}:")
            print(report.operator_table(r))
    print(f"\nwritten: {env.Dir(env['UTOE_REPORT_DIR']).path}/{{{','.join(OUTPUTS)}}}")


def report_targets(env, results, **kw):
    """The report files, and the always-run `report` alias that shows them."""
    files = env.UtoeReportFiles(target=[], source=results, **kw)
    show = env.Alias("report", files + results, utoe_action(_show, None))
    AlwaysBuild(show)
    return files


def generate(env):
    env["BUILDERS"]["UtoeReportFiles"] = Builder(action=utoe_action(_build, "report"), emitter=_emitter)
    env.AddMethod(report_targets, "UtoeReport")


def exists(env):
    return True
