"""Instruction counts under QEMU, per function, without touching the firmware.

utoe's TCG plugin (qemu_plugin/utoe_icount.c) is built with the host's gcc
on first use (or by `python3 -m utoe.icount build` at set-up) into a cache
keyed by the source's hash. The runner gives it the firmware's functions
(`write_symbols`) and reads its counts back (`read_counts`).

Owners are the functions whose counts matter: the model's (operators, the
executor, the workspace allocator) and the harness's. Every other function,
library code such as memcpy or libgcc's division, counts for the owner that
called it (see the plugin's header).

Operators ("op": the model's operator functions, utoe_op_*) and the executor functions that call
them ("run") are marked in the syms file, so the plugin also records every
operator call in the order the executor made it, with its instructions: the
per-operator figures are attributed per call site, not per symbol, and stay
true when the compiler folds identical operator bodies into one."""

import hashlib
import os
import shutil
import subprocess
import sys

from .elfsize import OP_PREFIX, open_elf
from .errors import BuildError, RunError
from .files import read_json, remove, write_text

PLUGIN_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qemu_plugin", "utoe_icount.c")
OWNER_PREFIXES = ("utoe_", "TVMBackend")
SCHEMA = "utoe.icount/2"
RUN_FUNCTIONS = ("utoe_model_run", "utoe_model_run_op")


def _cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "utoe")


def plugin_path():
    """The built plugin, building it when the source changed."""
    with open(PLUGIN_SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    so = os.path.join(_cache_dir(), f"utoe_icount-{digest}.so")
    if os.path.exists(so):
        return so
    cc = shutil.which("gcc")
    if cc is None:
        raise BuildError("building utoe's QEMU plugin needs the host C compiler: apt-get install gcc")
    os.makedirs(os.path.dirname(so), exist_ok=True)
    tmp = f"{so}.{os.getpid()}.tmp"
    proc = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", tmp, PLUGIN_SOURCE],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        remove(tmp)
        raise BuildError(f"building {PLUGIN_SOURCE} failed:\n{proc.stderr.strip()}")
    os.replace(tmp, so)
    return so


def is_owner(name):
    return name == "main" or name.startswith(OWNER_PREFIXES)


def functions(elf_path):
    """[(start, end, name)] of the ELF's sized functions, by address; Thumb
    addresses without their mode bit; the first of overlapping symbols kept."""
    with open_elf(elf_path, RunError, "for per-function counts") as (elf, symtab):
        thumb = elf["e_machine"] == "EM_ARM"
        funcs = {}
        for sym in symtab.iter_symbols():
            if sym["st_info"]["type"] != "STT_FUNC" or sym["st_size"] == 0 or not sym.name:
                continue
            start = sym["st_value"] & ~1 if thumb else sym["st_value"]
            funcs.setdefault(start, (start, start + sym["st_size"], sym.name))
    out, end = [], 0
    for start, stop, name in sorted(funcs.values()):
        if start >= end:
            out.append((start, stop, name))
            end = stop
    return out


def kind(name):
    """The plugin's kind of an owner: "op" (an operator), "run" (the executor
    calling operators) or "" (any other owner)."""
    if name.startswith(OP_PREFIX):
        return "op"
    return "run" if name in RUN_FUNCTIONS else ""


def write_symbols(elf_path, syms_path, owners=is_owner):
    """Write the plugin's syms file: the owner functions of the ELF, with
    their kind."""
    lines = [f"{start:x} {end:x} {name} {kind(name)}".rstrip()
             for start, end, name in functions(elf_path) if owners(name)]
    write_text(syms_path, "".join(line + "\n" for line in lines))
    return len(lines)


def qemu_args(plugin_so, syms_path, out_path):
    return ["-plugin", f"{plugin_so},syms={syms_path},out={out_path}", "-d", "plugin"]


def read_counts(path):
    doc = read_json(path, RunError)
    if (not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("functions"), dict)
            or not isinstance(doc.get("sequence"), list)):
        raise RunError(f"{path}: not an instruction count file ('{SCHEMA}')")
    return doc


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(plugin_path())
    else:
        sys.exit("usage: python3 -m utoe.icount build")
