"""SCons tool: run (firmware -> run.log with the board's runner) and measure
(metadata + sizes + log -> result.json). Runs of deterministic runners are
cached like any product; real-board runs always re-run."""

import json
import os

from SCons.Script import AlwaysBuild, Builder, Value
from utoe_scons import module_files, utoe_action

from utoe import boards, measure, reference, runners


def _runner(env):
    board = boards.get(env["UTOE_BOARD"])
    return runners.get(env["UTOE_RUNNER"], board, int(env["UTOE_TIMEOUT"]))


def _run_emitter(target, source, env):
    return target, source + [Value(env["UTOE_RUNNER"])] + [env.File(f) for f in module_files("runners")]


def _run_build(target, source, env):
    _runner(env).run(str(source[0]), str(target[0]))


def _measure_emitter(target, source, env):
    return target, source + [Value(env["UTOE_RESULT_CONFIG"])] + [
        env.File(f) for f in module_files("measure", "protocol", "stats", "reference", "inputs", "diagnose")
    ]


def _measure_build(target, source, env):
    meta_path, sizes_path, log_path = (str(s) for s in source[:3])
    result = measure.measure_files(meta_path, sizes_path, log_path, json.loads(env["UTOE_RESULT_CONFIG"]),
                                   str(target[0]), validate=reference.validate)
    reference.check(result, boards.get(env["UTOE_BOARD"]), os.path.dirname(meta_path), str(target[0]))


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
