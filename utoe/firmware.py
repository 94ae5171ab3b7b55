"""The firmware stage: compile the harness, the platform glue and the
generated model with the board's toolchain into one ELF.

Each C file is compiled on its own (TVM's operator code gets its own warning
set), objects go to a private folder, and the ELF is linked to a temporary
name and renamed, so a failed build never leaves a firmware that looks
complete. `flags` is the one description of how a board's firmware is built;
SCons (site_scons/site_tools/utoe_firmware.py) turns it into a per-board
environment with one Object per file, and `build` runs it without SCons."""

import os
import shutil
import subprocess

from . import fit
from .errors import BuildError
from .files import read_json, remove

C_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c")
COMMON_FLAGS = ["-std=gnu11", "-Wall", "-ffunction-sections", "-fdata-sections"]
# TVM's generated operators declare shape/stride locals they never read.
OPS_FLAGS = ["-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unused-parameter"]


# What each platform adds to the board's own toolchain flags. Bare-metal
# platforms bring their startup code (platform/<name>.c) and link with the
# script the app stage renders from the board's memory map (link.ld).
PLATFORMS = {
    "host": {"cflags": [], "ldflags": []},
    "cortex-m": {"entry": "utoe_reset_handler", "cflags": [],
                 "ldflags": ["--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles"]},
    "riscv": {"entry": "_start", "cflags": ["--specs=picolibc.specs"],
              "ldflags": ["--specs=picolibc.specs", "-nostartfiles"]},
}
# The least RAM a bare-metal link leaves above .bss for the stack; the run
# measures the real peak, and the fit check compares data + bss + peak.
MIN_STACK_BYTES = 1024


def bare_metal(board):
    return "entry" in PLATFORMS.get(board.platform, {})


def layout(board):
    """The memory layout a bare-metal build links with: the QEMU stand-in's
    origins with the board's own lengths (None for hosted platforms)."""
    if not bare_metal(board):
        return None
    if board.platform not in PLATFORMS:
        raise BuildError(f"board '{board.name}': no platform glue for '{board.platform}'")
    if not board.qemu:
        raise BuildError(
            f"board '{board.name}' has no QEMU stand-in, so utoe cannot build it bare-metal here; "
            f"evaluate it on the board itself (runner=serial or runner=iotlab, through RIOT)")
    q = board.qemu
    return {
        "platform": board.platform,
        "entry": PLATFORMS[board.platform]["entry"],
        "standin": q["machine"],
        "flash": {"origin": q["flash"]["origin"], "length": board.memory["flash"]["length"]},
        "ram": {"origin": q["ram"]["origin"], "length": board.memory["ram"]["length"]},
        "tick_hz": q["tick_hz"],
        "min_stack": MIN_STACK_BYTES,
    }


def link_regions(board, riot_build):
    """The memory map a firmware for the board was linked with, as
    elfsize.sizes reads it: the board's own (RIOT links for the real chip),
    the stand-in's origins (a bare-metal build, layout()), or None (a host
    program, native64)."""
    if riot_build or not bare_metal(board):
        mem = board.memory  # None on the hosts
    elif board.qemu and board.platform in PLATFORMS:
        mem = layout(board)
    else:
        mem = board.memory  # not buildable bare-metal: the firmware stage says why
    if not mem:
        return None
    return {r: {"origin": mem[r]["origin"], "length": mem[r]["length"]} for r in ("flash", "ram")}


def tvm_include_dirs():
    """Headers shipped in the apache-tvm and apache-tvm-ffi wheels (no TVM import)."""
    import importlib.util

    dirs = []
    for pkg in ("tvm", "tvm_ffi"):
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise BuildError(f"python package '{pkg}' not found: pip install apache-tvm")
        dirs.append(os.path.join(list(spec.submodule_search_locations)[0], "include"))
    return dirs


def harness_sources(board):
    shared = [os.path.join(C_DIR, "platform", "baremetal.c")] if bare_metal(board) else []
    return [os.path.join(C_DIR, "utoe_eval.c"), os.path.join(C_DIR, "platform", board.platform + ".c")] + shared


MODEL_C = ("model.c", "ops.c", "cmsis_nn.c", "cmsis_nn_sr.c", "weights.c")
# Generated or third-party operator code: TVM's declares locals it never reads,
# CMSIS-NN's (as #included by cmsis_nn*.c) has parameters some paths do not use.
OPERATOR_C = ("ops.c", "cmsis_nn.c", "cmsis_nn_sr.c")


def model_sources(codegen_dir):
    return [os.path.join(codegen_dir, f) for f in MODEL_C]


def cmsis_nn_include_dirs():
    """CMSIS-NN's tree and its headers, when installed (./setup.sh): the
    cmsis_nn*.c files of a codegen that uses it #include its sources."""
    from . import cmsis_nn

    return [cmsis_nn.root()] + cmsis_nn.include_dirs() if cmsis_nn.available() else []


def compiler(board):
    cc = board.toolchain["cc"]
    path = shutil.which(cc)
    if path is None:
        raise BuildError(
            f"board '{board.name}': compiler '{cc}' not found — install the Debian package "
            f"'{board.toolchain['debian_package']}' (apt-get install {board.toolchain['debian_package']})"
        )
    return path


def _run(cmd, what, explain=None):
    """Run a compiler command; on failure, `explain(stderr)` may raise a
    clearer error before the generic one with the output's tail."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        if explain:
            explain(proc.stderr)
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def build_riot(board, riotbase, app_dir, codegen_dir, elf_path, qemu=False):
    """riot_app built by RIOT's make for the board (utoe.riot); the model's fit
    is checked first where the board's memory is known."""
    from . import riot

    metadata = read_json(os.path.join(codegen_dir, "metadata.json"), BuildError)
    if board.memory:
        fit.precheck(board, metadata)
    elif board.ram_bytes is None:  # native64: RIOT as a process on this host
        fit.host_precheck(board, metadata)
    try:
        return riot.build(board, riotbase, app_dir, elf_path, qemu)
    except BuildError as e:
        if board.memory:
            fit.from_linker(board, str(e), "the model")
        raise


def flags(board, app_dir, codegen_dir):
    """How this board's firmware is compiled and linked, the one place both
    build paths read it from (plain `build` below and SCons's per-board
    environment in site_scons/site_tools/utoe_firmware.py):

    cc (the compiler's name), ccflags, cpppath, ops_flags (added for ops.c
    only), linkflags, libs (names, without -l), sources (absolute paths:
    the harness, the platform glue this board runs, the model's C)."""
    lay = layout(board)
    platform = PLATFORMS.get(board.platform)
    if platform is None:
        raise BuildError(f"board '{board.name}': no platform glue for '{board.platform}' "
                         f"(have: {', '.join(PLATFORMS)})")
    tc = board.toolchain
    defines = platform["cflags"] + ([f"-DUTOE_TICK_HZ={lay['tick_hz']}u"] if lay else [])
    ldflags = list(platform["ldflags"]) + ([f"-T{os.path.join(app_dir, 'link.ld')}"] if lay else [])
    return {
        "cc": tc["cc"],
        "ccflags": COMMON_FLAGS + list(tc["cflags"]) + defines,
        "cpppath": [app_dir, codegen_dir, C_DIR, os.path.join(C_DIR, "platform")] + tvm_include_dirs()
        + cmsis_nn_include_dirs(),
        "ops_flags": list(OPS_FLAGS),
        "linkflags": list(tc["cflags"]) + list(tc["ldflags"]) + ldflags + ["-Wl,--gc-sections"],
        "libs": list(tc.get("libs", [])),
        "sources": harness_sources(board) + model_sources(codegen_dir),
        "link_script": os.path.join(app_dir, "link.ld") if lay else None,
    }


def check_fit(board, codegen_dir):
    """Before compiling anything: is the compiler there, and does the model
    fit the board at all (utoe.fit.precheck)? Returns the model's name."""
    compiler(board)
    metadata = read_json(os.path.join(codegen_dir, "metadata.json"), BuildError)
    if not layout(board):  # hosted: no board sizes, but the host's limit (utoe.fit.host_precheck)
        fit.host_precheck(board, metadata)
        return "the model"
    fit.precheck(board, metadata)
    return metadata["model"]


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def link(board, cmd, elf_path, model="the model"):
    """Run a link command `cmd` that writes elf_path + ".tmp", then rename:
    a failed link leaves no ELF that looks complete, and the linker's region
    overflow becomes a FitError naming both numbers."""
    tmp = elf_path + ".tmp"
    # the map is written even when the link fails: the fit check reads the
    # real data + bss from it when the stack assertion fails
    map_path = os.path.join(os.path.dirname(elf_path), "obj", "firmware.map")
    remove(elf_path, tmp, map_path)
    os.makedirs(os.path.dirname(map_path), exist_ok=True)
    try:
        _run(list(cmd) + [f"-Wl,-Map={map_path}"], f"board '{board.name}': linking {os.path.basename(elf_path)}",
             explain=lambda stderr: fit.from_linker(board, stderr, model, _read(map_path)))
        os.replace(tmp, elf_path)
    except BaseException:
        remove(elf_path, tmp)
        raise
    return elf_path


def build(board, app_dir, codegen_dir, elf_path):
    """Compile and link without SCons (for API users and utoe.diagnose);
    returns elf_path. Removes elf_path on failure. The SCons build compiles
    the same sources with the same flags (flags()), one object per file."""
    model = check_fit(board, codegen_dir)
    f = flags(board, app_dir, codegen_dir)
    cc = compiler(board)
    inc_flags = [f"-I{d}" for d in f["cpppath"]]
    obj_dir = os.path.join(os.path.dirname(elf_path), "obj")
    os.makedirs(obj_dir, exist_ok=True)
    objs = []
    remove(elf_path)
    for src in f["sources"]:
        obj = os.path.join(obj_dir, os.path.splitext(os.path.basename(src))[0] + ".o")
        extra = f["ops_flags"] if os.path.basename(src) in OPERATOR_C else []
        _run([cc, *f["ccflags"], *extra, *inc_flags, "-c", src, "-o", obj],
             f"board '{board.name}': compiling {os.path.basename(src)}")
        objs.append(obj)
    libs = [f"-l{lib}" for lib in f["libs"]]
    return link(board, [cc, *f["linkflags"], *objs, *libs, "-o", elf_path + ".tmp"], elf_path, model)
