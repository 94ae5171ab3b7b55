"""SCons tool: the firmware stage and the sizes it implies (sizes.json, read
from the ELF with pyelftools).

A bare-metal or host firmware is built by SCons itself: a per-board clone of
the environment (CC, CCFLAGS, CPPPATH, LINKFLAGS, LIBS from utoe.firmware.flags,
the one place they are computed), one Object per C file in <pair>/obj/ and a
Program linked to a temporary name and renamed. So SCons sees every object,
scans the headers each file includes (harness, app, codegen, TVM), compiles in
parallel under -j and recompiles only what changed; a C file this board does
not compile (platform/riot.c on a bare-metal board) is no input of it, and the
board file counts only for its build facts (toolchain, memory), not its
description. The compiler's version and utoe's are inputs too (utoe.tools).
Before anything compiles, a precheck (fitcheck.json) says whether the model
can fit the board at all (utoe.fit); the link turns a region overflow into the
same FitError, recorded instead of raised under the 'record' fit policy.

A RIOT firmware (UTOE_RIOTBASE set) is riot_app built by RIOT's make
(utoe.riot), which tracks its own files; here it depends on riot_app, the
harness C, the RIOT tree's identity (commit and uncommitted edits) and the
board's build facts."""

import glob
import json
import os

from SCons.Script import Builder, Value
from utoe_scons import module_files, utoe_action

from utoe import __version__, boards, elfsize, firmware, fit, riot, tools
from utoe.files import read_json, write_json

FITCHECK = "fitcheck.json"


def _build_facts(board):
    """The board's facts a firmware depends on, as a Value (no description)."""
    return Value(json.dumps(tools.firmware_inputs(board), sort_keys=True))


# ---- RIOT: riot_app built by RIOT's make ------------------------------------

def _riot_emitter(target, source, env):
    board = boards.get(env["UTOE_BOARD"])
    c_files = sorted(glob.glob(os.path.join(firmware.C_DIR, "**", "*.[ch]"), recursive=True))
    source = source + [env.File(f) for f in c_files + riot.app_files() + module_files("firmware", "fit", "riot")]
    source += [_build_facts(board), Value(riot.identity(env["UTOE_RIOTBASE"]))]
    if env.get("UTOE_RIOT_QEMU"):  # built to run under QEMU's emulation of the chip: its extra modules
        source.append(Value(json.dumps({"qemu_riot_modules": (board.qemu or {}).get("riot_modules", [])})))
    return target + [target[0].dir.File("riot.json"), target[0].dir.File(fit.FIT)], source


def _riot_build(target, source, env):
    board = boards.get(env["UTOE_BOARD"])
    pair_dir = os.path.dirname(str(target[0]))
    fit.clear(pair_dir)
    try:
        firmware.build_riot(board, env["UTOE_RIOTBASE"], env["UTOE_APP_DIR"], env["UTOE_CODEGEN_DIR"],
                            str(target[0]), qemu=bool(env.get("UTOE_RIOT_QEMU")))
    except fit.FitError as e:
        if env.get("UTOE_FIT_POLICY") != "record":
            raise
        _misfit(pair_dir, board, e, [str(t) for t in target if t.name != fit.FIT])
        return
    fit.linked(pair_dir, board)


def _misfit(pair_dir, board, error, products):
    """Under the 'record' policy: fit.json holds the misfit and the stage's
    other products are placeholders, so SCons sees them made and a second
    identical run does nothing (utoe.fit)."""
    fit.record(pair_dir, board, error)  # selection: an answer, not a failure (see utoe.fit)
    fit.placeholders(products, fit.recorded(pair_dir))
    print(f"utoe: {board.name}: does not fit — {error}")


# ---- bare metal and host: SCons's Object and Program -------------------------

def _fitcheck_emitter(target, source, env):
    board = boards.get(env["UTOE_BOARD"])
    facts = {"cc": board.toolchain["cc"], "ram_bytes": board.ram_bytes, "flash_bytes": board.flash_bytes,
             "policy": env.get("UTOE_FIT_POLICY", "fail")}
    if board.ram_bytes is None:  # the host: checked against its own limit, which a new machine changes
        facts["host_limit_bytes"] = fit.host_limit()[0]
    return target, source + [Value(json.dumps(facts, sort_keys=True))] + [
        env.File(f) for f in module_files("fit", "firmware")]


def _fitcheck_build(target, source, env):
    """Before compiling: the compiler is there and the model can fit."""
    board = boards.get(env["UTOE_BOARD"])
    try:
        model = firmware.check_fit(board, env["UTOE_CODEGEN_DIR"])
    except fit.FitError as e:
        if env.get("UTOE_FIT_POLICY") != "record":
            raise
        # the link (the firmware stage, owner of fit.json) records it
        write_json(str(target[0]), {"fits": False, "message": str(e), "figures": e.figures})
        return
    write_json(str(target[0]), {"fits": True, "model": model})


def _link(target, source, env):
    """Program's link: to a temporary name, renamed when it succeeded; a
    region overflow is a FitError (recorded under the 'record' policy)."""
    board = boards.get(env["UTOE_BOARD"])
    elf = str(target[0])
    pair_dir = os.path.dirname(elf)
    check = read_json(os.path.join(pair_dir, FITCHECK), firmware.BuildError)
    fit.clear(pair_dir)
    products = [str(t) for t in target if t.name != fit.FIT]
    if not check["fits"]:  # the precheck's answer, recorded here
        _misfit(pair_dir, board, fit.FitError(check["message"], check["figures"]), products)
        return
    cmd = [str(a) for a in env.subst_list("$UTOE_LINKCMD", target=target[:1], source=source)[0]]
    try:
        firmware.link(board, cmd, elf, check["model"])
    except fit.FitError as e:
        if env.get("UTOE_FIT_POLICY") != "record":
            raise
        _misfit(pair_dir, board, e, products)
        return
    fit.linked(pair_dir, board)


def firmware_nodes(env, target, source, **kw):
    """[firmware.elf] for one (board, model): RIOT's make, or SCons's
    Object/Program in a clone of env with the board's toolchain."""
    if kw.get("UTOE_RIOTBASE"):
        return env.UtoeRiotFirmware(target, source, **kw)
    board = boards.get(kw["UTOE_BOARD"])
    app_dir, cg_dir, label = kw["UTOE_APP_DIR"], kw["UTOE_CODEGEN_DIR"], kw["UTOE_LABEL"]
    elf = env.File(target)
    pair = elf.dir
    check = env.UtoeFitCheck(pair.File(FITCHECK), env.Dir(cg_dir).File("metadata.json"), **kw)
    f = firmware.flags(board, app_dir, cg_dir)  # as given (relative to the top): a copied tree stays up to date
    fw = env.Clone(**kw)
    fw.Replace(CC=f["cc"], LINK=f["cc"], CCFLAGS=f["ccflags"], CFLAGS=[], CPPPATH=f["cpppath"], CPPDEFINES=[],
               LINKFLAGS=f["linkflags"], LIBS=f["libs"], LIBPATH=[],
               CCCOMSTR=f"compile  {label}: ${{SOURCE.file}}",
               UTOE_LINKCMD="$LINK -o ${TARGET}.tmp $LINKFLAGS $SOURCES $_LIBDIRFLAGS $_LIBFLAGS",
               LINKCOM=utoe_action(_link, "firmware", ["UTOE_LINKCMD"]))
    objs = []
    for src in f["sources"]:
        extra = f["ops_flags"] if os.path.basename(src) in firmware.OPERATOR_C else []
        obj = pair.Dir("obj").File(os.path.splitext(os.path.basename(src))[0] + ".o")
        objs += fw.Object(obj, src, CCFLAGS=f["ccflags"] + extra)
    facts = _build_facts(board)  # for the link; an object's flags are on its command line already
    fw.Depends(objs, [check, Value(json.dumps({"utoe": __version__, "cc": tools.program(f["cc"])}))])
    program = fw.Program([elf, pair.File(fit.FIT)], objs)
    fw.Depends(program, [check, facts] + ([f["link_script"]] if f["link_script"] else [])
               + [env.File(p) for p in module_files("firmware", "fit")])
    return program


def parts(elf):
    """The nodes a firmware is made of besides itself (objects, precheck):
    when one of them fails, the pair's older result must go too."""
    return [n for e in elf for n in e.sources + e.depends if n.is_derived()]


def _sizes_build(target, source, env):
    unfit = fit.recorded(os.path.dirname(str(source[0])))
    if unfit:
        fit.placeholders([str(t) for t in target], unfit)
        return
    write_json(str(target[0]), elfsize.sizes(str(source[0]), json.loads(env.get("UTOE_MEMORY") or "null")))


def _sizes_emitter(target, source, env):
    # fit.json beside the firmware: the firmware stage's record; the memory
    # map it was linked with says which sections are RAM and which flash
    return target, source + [source[0].dir.File(fit.FIT), Value(__version__),
                             Value(env.get("UTOE_MEMORY") or "null")] + [
        env.File(f) for f in module_files("elfsize", "fit")]


def generate(env):
    env.Tool("cc")  # Object for .c files (no compiler probed here: each board's env sets CC)
    env.Tool("link")  # Program
    env["BUILDERS"]["UtoeRiotFirmware"] = Builder(action=utoe_action(_riot_build, "firmware"),
                                                  emitter=_riot_emitter)
    env["BUILDERS"]["UtoeFitCheck"] = Builder(action=utoe_action(_fitcheck_build, "fitcheck"),
                                              emitter=_fitcheck_emitter)
    env["BUILDERS"]["UtoeSizes"] = Builder(action=utoe_action(_sizes_build, "sizes"), emitter=_sizes_emitter)
    env.AddMethod(firmware_nodes, "UtoeFirmware")
    env.AddMethod(lambda env, elf: parts(elf), "UtoeFirmwareParts")


def exists(env):
    return True
