"""SCons tool: the firmware stage (compile + link with the board's toolchain)
and the sizes it implies (sizes.json, read from the ELF with pyelftools)."""

import glob
import os

from SCons.Script import Builder, Value
from utoe_scons import module_files, utoe_action

from utoe import boards, elfsize, firmware, fit
from utoe.files import write_json


def _fw_emitter(target, source, env):
    board = boards.get(env["UTOE_BOARD"])
    c_files = sorted(glob.glob(os.path.join(firmware.C_DIR, "**", "*.[ch]"), recursive=True))
    source = source + [env.File(f) for f in c_files + [board.path] + module_files("firmware", "fit")]
    source.append(Value(board.toolchain["cc"]))
    return target, source


def _fw_build(target, source, env):
    board = boards.get(env["UTOE_BOARD"])
    pair_dir = os.path.dirname(str(target[0]))
    fit.clear(pair_dir)
    try:
        firmware.build(board, env["UTOE_APP_DIR"], env["UTOE_CODEGEN_DIR"], str(target[0]))
    except fit.FitError as e:
        if env.get("UTOE_FIT_POLICY") != "record":
            raise
        fit.record(pair_dir, board, e)  # selection: an answer, not a failure (see utoe.fit)
        print(f"utoe: {board.name}: does not fit — {e}")


def _sizes_build(target, source, env):
    if fit.recorded(os.path.dirname(str(source[0]))):
        return
    write_json(str(target[0]), elfsize.sizes(str(source[0])))


def _sizes_emitter(target, source, env):
    return target, source + [env.File(f) for f in module_files("elfsize", "fit")]


def generate(env):
    env["BUILDERS"]["UtoeFirmware"] = Builder(action=utoe_action(_fw_build, "firmware"), emitter=_fw_emitter)
    env["BUILDERS"]["UtoeSizes"] = Builder(action=utoe_action(_sizes_build, "sizes"), emitter=_sizes_emitter)


def exists(env):
    return True
