"""The firmware stage: compile the harness, the platform glue and the
generated model with the board's toolchain into one ELF.

Each C file is compiled on its own (TVM's operator code gets its own warning
set), objects go to a private folder, and the ELF is linked to a temporary
name and renamed, so a failed build never leaves a firmware that looks
complete."""

import os
import shutil
import subprocess

from .errors import BuildError
from .files import remove

C_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c")
COMMON_FLAGS = ["-std=gnu11", "-Wall", "-ffunction-sections", "-fdata-sections"]
# TVM's generated operators declare shape/stride locals they never read.
OPS_FLAGS = ["-Wno-unused-variable", "-Wno-unused-but-set-variable"]


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
    return [os.path.join(C_DIR, "utoe_eval.c"), os.path.join(C_DIR, "platform", board.platform + ".c")]


def model_sources(codegen_dir):
    return [os.path.join(codegen_dir, f) for f in ("model.c", "ops.c", "weights.c")]


def compiler(board):
    cc = board.toolchain["cc"]
    path = shutil.which(cc)
    if path is None:
        raise BuildError(
            f"board '{board.name}': compiler '{cc}' not found — install the Debian package "
            f"'{board.toolchain['debian_package']}' (apt-get install {board.toolchain['debian_package']})"
        )
    return path


def _run(cmd, what):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def build(board, app_dir, codegen_dir, elf_path):
    """Compile and link; returns elf_path. Removes elf_path on failure."""
    cc = compiler(board)
    tc = board.toolchain
    includes = [app_dir, codegen_dir, C_DIR] + tvm_include_dirs()
    inc_flags = [f"-I{d}" for d in includes]
    obj_dir = os.path.join(os.path.dirname(elf_path), "obj")
    os.makedirs(obj_dir, exist_ok=True)
    objs = []
    remove(elf_path)
    try:
        for src in harness_sources(board) + model_sources(codegen_dir):
            obj = os.path.join(obj_dir, os.path.basename(src) + ".o")
            extra = OPS_FLAGS if os.path.basename(src) == "ops.c" else []
            _run([cc, *COMMON_FLAGS, *tc["cflags"], *extra, *inc_flags, "-c", src, "-o", obj],
                 f"board '{board.name}': compiling {os.path.basename(src)}")
            objs.append(obj)
        tmp = elf_path + ".tmp"
        libs = [f"-l{lib}" for lib in tc.get("libs", [])]
        _run([cc, *tc["cflags"], *tc["ldflags"], "-Wl,--gc-sections", *objs, *libs, "-o", tmp],
             f"board '{board.name}': linking {os.path.basename(elf_path)}")
        os.replace(tmp, elf_path)
    except BaseException:
        remove(elf_path, elf_path + ".tmp")
        raise
    return elf_path
