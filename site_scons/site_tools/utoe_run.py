"""SCons tool: run (firmware -> run.log with the board's runner) and measure
(metadata + sizes + log -> result.json). Runs of deterministic runners are
cached like any product; real-board runs always re-run."""

import json
import os

from SCons.Script import AlwaysBuild, Builder, Value
from utoe_scons import module_files, serialised, utoe_action

from utoe import __version__, boards, fit, icount, measure, reference, runners
from utoe.files import remove


def _runner(env):
    board = boards.get(env["UTOE_BOARD"])
    # the runner's options (port=, flash=, iotlab_*=): SConstruct passes them as JSON
    options = json.loads(env.get("UTOE_RUNNER_OPTIONS") or "{}")
    return runners.get(env["UTOE_RUNNER"], board, int(env["UTOE_TIMEOUT"]), options)


def _run_emitter(target, source, env):
    log = target[0]
    products = [log.dir.File(p) for p in runners.RUNNERS[env["UTOE_RUNNER"]].products]
    inputs = {"runner": env["UTOE_RUNNER"], "utoe": __version__, **_runner(env).inputs()}
    return [log] + products, source + [Value(json.dumps(inputs, sort_keys=True)), source[0].dir.File(fit.FIT)] + [
        env.File(f) for f in module_files("runners", "icount", "fit") + [icount.PLUGIN_SOURCE]]


def _run_build(target, source, env):
    # The pair's result is about to be superseded: if this run is killed
    # (even SIGKILL), no older result.json may sit beside the new products.
    remove(os.path.join(os.path.dirname(str(target[0])), "result.json"))
    unfit = fit.recorded(os.path.dirname(str(source[0])))
    if unfit:  # nothing to run: the products say why (utoe.fit)
        fit.placeholders([str(t) for t in target], unfit)
        return
    _runner(env).run(str(source[0]), str(target[0]))


def _measure_emitter(target, source, env):
    # the fit policy: a misfit recorded by board=all is an error when the board is asked for by name
    policy = Value(f"fit policy: {env.get('UTOE_FIT_POLICY') or 'fail'}")
    # The run configuration holds the tool versions (utoe.tools.result_tools:
    # the reference runtime's among them), so a new version re-measures.
    return target, source + [Value(env["UTOE_RESULT_CONFIG"]), Value(__version__), target[0].dir.File(fit.FIT),
                             policy] + [
        env.File(f) for f in module_files("measure", "protocol", "stats", "reference", "inputs", "diagnose",
                                          "estimate", "fit")
    ]


def _measure_build(target, source, env):
    files = {s.name: str(s) for s in source if s.name.endswith((".json", ".log"))}
    meta_path, sizes_path, log_path = files["metadata.json"], files["sizes.json"], files["run.log"]
    unfit = fit.recorded(os.path.dirname(str(target[0])))
    if unfit:
        if env.get("UTOE_FIT_POLICY") != "record":
            raise fit.FitError(unfit["message"], unfit["figures"])
        measure.write_unfit(str(target[0]), json.loads(env["UTOE_RESULT_CONFIG"]), unfit)
        return
    result = measure.measure_files(meta_path, sizes_path, log_path, json.loads(env["UTOE_RESULT_CONFIG"]),
                                   str(target[0]), validate=serialised(reference.validate),
                                   counts_path=files.get("icount.json"))
    # on a mismatch, check() runs the reference again per operator (utoe.diagnose)
    serialised(reference.check)(result, boards.get(env["UTOE_BOARD"]), os.path.dirname(meta_path),
                                str(target[0]))


def run_log(env, target, source, **kw):
    nodes = env.UtoeRunLog(target, source, **kw)
    runner = runners.RUNNERS[kw["UTOE_RUNNER"]]
    if not runner.deterministic or env.get("UTOE_RERUN"):
        AlwaysBuild(nodes)
    return nodes


def generate(env):
    env["BUILDERS"]["UtoeRunLog"] = Builder(action=utoe_action(_run_build, "run"), emitter=_run_emitter)
    env["BUILDERS"]["UtoeMeasure"] = Builder(action=utoe_action(_measure_build, "measure"), emitter=_measure_emitter)
    env.AddMethod(run_log, "UtoeRun")


def exists(env):
    return True
