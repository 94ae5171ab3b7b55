"""SCons tool: the firmware stage (compile + link with the board's toolchain,
or riot_app built by RIOT's make when UTOE_RIOTBASE is set) and the sizes it
implies (sizes.json, read from the ELF with pyelftools)."""

import glob
import os

from SCons.Script import Builder, Value
from utoe_scons import module_files, utoe_action

from utoe import boards, elfsize, firmware, fit, riot
from utoe.files import write_json


def _fw_emitter(target, source, env):
    board = boards.get(env["UTOE_BOARD"])
    c_files = sorted(glob.glob(os.path.join(firmware.C_DIR, "**", "*.[ch]"), recursive=True))
    source = source + [env.File(f) for f in c_files + [board.path] + module_files("firmware", "fit")]
    if env["UTOE_RIOTBASE"]:
        # riot_app/ and the RIOT tree (path and commit; RIOT's own make tracks
        # its files once it runs) rebuild the firmware; the board file is above.
        source += [env.File(f) for f in riot.app_files() + module_files("riot")]
        source.append(Value(riot.identity(env["UTOE_RIOTBASE"])))
        target = target + [target[0].dir.File("riot.json")]
    else:
        source.append(Value(board.toolchain["cc"]))
    return target + [target[0].dir.File(fit.FIT)], source


def _fw_build(target, source, env):
    board = boards.get(env["UTOE_BOARD"])
    pair_dir = os.path.dirname(str(target[0]))
    fit.clear(pair_dir)
    try:
        if env["UTOE_RIOTBASE"]:
            firmware.build_riot(board, env["UTOE_RIOTBASE"], env["UTOE_APP_DIR"], env["UTOE_CODEGEN_DIR"],
                                str(target[0]))
        else:
            firmware.build(board, env["UTOE_APP_DIR"], env["UTOE_CODEGEN_DIR"], str(target[0]))
    except fit.FitError as e:
        if env.get("UTOE_FIT_POLICY") != "record":
            raise
        fit.record(pair_dir, board, e)  # selection: an answer, not a failure (see utoe.fit)
        fit.placeholders([str(t) for t in target if t.name != fit.FIT], fit.recorded(pair_dir))
        print(f"utoe: {board.name}: does not fit — {e}")
        return
    fit.linked(pair_dir, board)


def _fit_source(env, node):
    """fit.json beside node: the firmware stage's record, read by the later stages."""
    return node.dir.File(fit.FIT)


def _sizes_build(target, source, env):
    unfit = fit.recorded(os.path.dirname(str(source[0])))
    if unfit:
        fit.placeholders([str(t) for t in target], unfit)
        return
    write_json(str(target[0]), elfsize.sizes(str(source[0])))


def _sizes_emitter(target, source, env):
    return target, source + [_fit_source(env, source[0])] + [env.File(f) for f in module_files("elfsize", "fit")]


def generate(env):
    env["BUILDERS"]["UtoeFirmware"] = Builder(action=utoe_action(_fw_build, "firmware"), emitter=_fw_emitter)
    env["BUILDERS"]["UtoeSizes"] = Builder(action=utoe_action(_sizes_build, "sizes"), emitter=_sizes_emitter)


def exists(env):
    return True
